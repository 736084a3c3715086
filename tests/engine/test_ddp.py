import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Lightning's "ddp" strategy starts the other ranks by running the same script again, so the run
# lives in a script of its own rather than inside pytest.
SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    import lightning as L
    import torch
    from lightning.pytorch.strategies import DDPStrategy
    from torch.utils.data import DataLoader, TensorDataset

    from openfer.engine.module import FERModule


    class Record(L.Callback):
        def on_validation_end(self, trainer, module):
            out = {
                "world_size": trainer.world_size,
                "global_step": trainer.global_step,
                "confusion": module.last_confusion.tolist(),
                "val_acc": float(trainer.callback_metrics["val/acc"]),
            }
            Path(sys.argv[1], f"rank{trainer.global_rank}.json").write_text(json.dumps(out))


    if __name__ == "__main__":
        generator = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (64, 1, 16, 16), dtype=torch.uint8, generator=generator)
        labels = torch.arange(64) % 3
        module = FERModule(
            model="openfer_vgg", num_classes=3, model_options={"widths": [4, 8], "hidden": 8},
            augment={"output_size": 16}, scheduler="none",
        )
        trainer = L.Trainer(
            accelerator="cpu", devices=2, strategy=DDPStrategy(process_group_backend="gloo"),
            max_epochs=1, limit_train_batches=2, num_sanity_val_steps=0, precision="bf16-mixed",
            logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            callbacks=[Record()],
        )
        train = DataLoader(TensorDataset(images, labels), batch_size=8, shuffle=True)
        val = DataLoader(TensorDataset(images[:30], labels[:30]), batch_size=8)
        trainer.fit(module, train, val)
    """
)


def test_ddp_on_two_cpu_processes_sums_the_confusion_matrix_over_ranks(tmp_path: Path) -> None:
    script = tmp_path / "ddp_run.py"
    script.write_text(SCRIPT)
    # Its own session, so that on a timeout the rank Lightning started is stopped along with rank 0.
    process = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        _, stderr = process.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    assert process.returncode == 0, stderr[-3000:]
    reports = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert reports[0] == reports[1]
    report = reports[0]
    assert report["world_size"] == 2 and report["global_step"] == 2
    # 30 validation faces, 15 per process, 10 of each class: every row of the summed matrix holds 10.
    confusion = report["confusion"]
    assert [sum(row) for row in confusion] == [10, 10, 10]
    assert report["val_acc"] == pytest.approx(sum(confusion[i][i] for i in range(3)) / 30)
