"""``openfer ensemble card``: a packed ensemble's model card says how each member was trained, how the members
were chosen (and on which split), what they score and how fast the ensemble runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from openfer.checkpoints import read_state_dict, save_safetensors, training_record
from openfer.cli import main
from openfer.ensemble.selection import Selection, SelectionResult
from openfer.labels import FER2013
from openfer.models import create_model

VGG = {"widths": [4], "hidden": 4}


def lightning_checkpoint(path: Path, seed: int, epoch: int) -> Path:
    """A file in the layout Lightning writes: ``net.``-prefixed weights, the module's and the data module's
    hyper-parameters, the epoch and step counters."""
    torch.manual_seed(seed)
    net = create_model("openfer_vgg", num_classes=7, **VGG)
    hyper = {
        "model": "openfer_vgg", "model_options": VGG, "classes": list(FER2013), "optimizer": "sgd", "lr": 0.05, "momentum": 0.9,
        "nesterov": True, "weight_decay": 0.0005, "scheduler": "cosine", "losses": {"cross_entropy": {"label_smoothing": 0.1}},
        "augment": {"output_size": 24, "flip": 0.5, "rotation": 15, "erase": 0.0}, "seed": seed, "mean": 0.5, "std": 0.25,
    }  # fmt: skip
    data = {"dataset": "fer2013", "train_split": "Training", "image_size": 24, "channels": 1, "batch_size": 64}
    torch.save(
        {"epoch": epoch, "global_step": 449 * (epoch + 1), "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
         "hyper_parameters": hyper, "datamodule_hyper_parameters": data},
        path,
    )  # fmt: skip
    return path


def test_training_record_comes_from_the_checkpoint_and_survives_packing(tmp_path: Path) -> None:
    ckpt = lightning_checkpoint(tmp_path / "a.ckpt", seed=3, epoch=11)
    record = training_record(read_state_dict(ckpt)[1])
    assert record["epochs"] == 12 and record["steps"] == 12 * 449 and record["seed"] == 3 and record["dataset"] == "fer2013"
    assert record["augment"]["rotation"] == 15 and record["nesterov"] is True
    packed = tmp_path / "a.safetensors"
    assert main(["weights", "pack", "--checkpoint", str(ckpt), "--output", str(packed)]) == 0
    assert training_record(read_state_dict(packed)[1]) == record  # a packed file carries the record on
    half = tmp_path / "half.safetensors"
    assert main(["weights", "pack", "--checkpoint", str(ckpt), "--output", str(half), "--storage", "float16"]) == 0
    from safetensors import safe_open

    with safe_open(str(half), "pt") as stored:
        assert {stored.get_tensor(k).dtype for k in stored.keys() if stored.get_tensor(k).is_floating_point()} == {torch.float16}
    full, halved = read_state_dict(packed)[0], read_state_dict(half)[0]
    assert all(torch.allclose(full[k].float(), halved[k].float(), atol=1e-2, rtol=1e-3) for k in full)


def test_card_names_each_members_training_the_selection_and_the_speed(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    members = [str(lightning_checkpoint(tmp_path / f"m{i}.ckpt", seed=i, epoch=9 + i)) for i in range(2)]
    torch.manual_seed(5)
    plain = tmp_path / "plain.safetensors"  # a weights file without a training record
    save_safetensors(create_model("openfer_vgg", num_classes=7, **VGG).state_dict(), plain, {"model": "openfer_vgg", "model_options": VGG, "classes": list(FER2013), "input_size": [1, 24, 24]})
    packed = tmp_path / "ens.safetensors"
    assert main(["ensemble", "pack", *members, str(plain), "--rule", "average", "--output", str(packed)]) == 0
    chosen = Selection(tuple(members + [str(plain)]), "average", 720, 1000)
    runner_up = Selection(tuple(members), "average", 700, 1000)
    selection = tmp_path / "select.json"
    selection.write_text(json.dumps(SelectionResult([chosen, runner_up], [0.7312, 0.7201]).to_dict()))
    card = tmp_path / "card" / "MODEL_CARD.md"
    command = ["ensemble", "card", str(packed), "--selection", str(selection), "--speed-faces", "8", "--output", str(card)]
    assert main(command) == 0
    text = card.read_text()
    assert "An ensemble of 3 networks, combined by **average**" in text
    assert "| 0 | m0.ckpt | `openfer_vgg`" in text and "fer2013 Training; 10 epochs (4490 steps); sgd lr 0.05 nesterov, wd 0.0005" in text
    assert "| 1 | m1.ckpt |" in text and "11 epochs" in text and "seed 1" in text and "augment flip 0.5, rotation 15" in text
    assert "| 2 | plain.safetensors |" in text and "not recorded" in text
    assert "chosen on **PublicTest** only" in text
    assert "| **m0.ckpt + m1.ckpt + plain.safetensors** | average | - | 72.00 % | 73.12 % |" in text
    assert "| m0.ckpt + m1.ckpt | average | - | 70.00 % | 72.01 % |" in text
    assert "ms per face" in text and "faces/s" in text
    assert [p.name for p in card.parent.iterdir()] == ["MODEL_CARD.md"]


def test_card_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    single = lightning_checkpoint(tmp_path / "one.ckpt", seed=0, epoch=0)
    assert main(["ensemble", "card", str(single), "--output", str(tmp_path / "c.md")]) == 2
    assert "not an ensemble file" in capsys.readouterr().err
    members = [str(lightning_checkpoint(tmp_path / f"m{i}.ckpt", seed=i, epoch=0)) for i in range(2)]
    packed = tmp_path / "ens.safetensors"
    assert main(["ensemble", "pack", *members, "--output", str(packed)]) == 0
    (tmp_path / "bad.json").write_text("{not json")
    assert main(["ensemble", "card", str(packed), "--selection", str(tmp_path / "bad.json"), "--output", str(tmp_path / "c.md")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "bad.json: not a readable selection file" in error
    assert not (tmp_path / "c.md").exists()
