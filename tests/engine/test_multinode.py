"""Training across nodes: ``openfer train`` as two Lightning DDP "nodes" on loopback (one process each,
gloo), started as torchrun or SLURM would start them: MASTER_ADDR/PORT, NODE_RANK, WORLD_SIZE."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "configs" / "openfer_vgg_fer2013.yaml"


def test_two_nodes_train_one_run_and_rank_zero_writes_the_checkpoint(tiny_fer2013: Path, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = tmp_path / "run"
    command = [
        sys.executable, "-m", "openfer", "train", "--config", str(RECIPE), "--data.root", str(tiny_fer2013), "--run_dir", str(run),
        "--model.model_options", '{"widths": [4, 8], "hidden": 8}', "--data.batch_size", "8",
        "--trainer.num_nodes", "2", "--trainer.devices", "1", "--trainer.strategy", "ddp", "--trainer.accelerator", "cpu",
        "--trainer.precision", "32", "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
    ]
    processes = []
    for rank in (0, 1):
        env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), NODE_RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK="0",
                   PL_TORCH_DISTRIBUTED_BACKEND="gloo", GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   OPENFER_CACHE=str(tmp_path / "cache"))
        processes.append(subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True))
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=300)[0])
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
    for rank, (process, output) in enumerate(zip(processes, outputs)):
        assert process.returncode == 0, f"rank {rank}:\n{output[-3000:]}"
    assert "GLOBAL_RANK: 1" in "".join(outputs) and "MEMBER: 2/2" in "".join(outputs)
    checkpoints = sorted(path.name for path in (run / "checkpoints").iterdir())
    assert checkpoints == ["best.ckpt", "last.ckpt"]  # written once, by rank 0: no second copy, no temporary left
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["global_step"] == 2  # both ranks stepped together: 2 steps, not 2 per node
