import csv
import json

import numpy as np
import pytest

from openfer.curate.generate import PromptGenerator, generate_balanced
from openfer.data import load_dataset
from openfer.errors import ConfigError
from openfer.labels import FER2013


def test_prompts_are_deterministic_for_a_seed_and_cover_every_class():
    counts = {name: 3 for name in FER2013}
    first = PromptGenerator(seed=7).prompts(counts)
    assert first == PromptGenerator(seed=7).prompts(counts)
    assert [p.seed for p in first] == [7 + 200 * i for i in range(21)]
    assert [p.emotion for p in first] == [name for name in FER2013 for _ in range(3)]
    assert first != PromptGenerator(seed=8).prompts(counts)
    assert len({p.prompt for p in first}) == 21
    assert first[0].prompt.endswith("facial factors to express the " + first[0].prompt.split(" image with a ")[1].split(",")[0] + ".")
    assert "single" in first[0].prompt and first[0].negative_prompt


def test_prompt_names_resolve_by_meaning_and_unknown_is_refused():
    generator = PromptGenerator()
    assert "happy" in generator.prompt("happy", 0).prompt or "joyful" in generator.prompt("happy", 0).prompt
    with pytest.raises(ConfigError, match="'bored'"):
        generator.prompt("bored", 0)


class FakeBackend:
    """RGB 64 x 64 images: bright (a face for the test detector) unless the seed is a multiple of 600."""

    def __init__(self):
        self.calls = []

    def __call__(self, prompt, negative_prompt, seed):
        self.calls.append((prompt, seed))
        value = 20 if seed % 600 == 0 else 180 + seed % 50
        return np.full((64, 64, 3), value, np.uint8)

    def describe(self):
        return {"backend": "fake"}


def test_generation_balances_the_split_drops_faceless_images_and_records_everything(
    bright_fer2013, bright_detector, tmp_path, tree_digest
):
    before = tree_digest(bright_fer2013.parent)
    backend = FakeBackend()
    counts = generate_balanced("fer2013", bright_fer2013, tmp_path / "balanced", backend, target=5, detector=bright_detector)
    assert tree_digest(bright_fer2013.parent) == before
    data = load_dataset("folder", tmp_path / "balanced", grey=True, classes="fer2013")
    assert data["Training"].counts() == [5] * 7
    assert data["PublicTest"].counts() == [1] * 7  # other splits copied unchanged
    assert data["Training"].image(0).shape == (48, 48)
    assert counts["Training"]["generated"] == {name: 2 for name in FER2013}
    with open(tmp_path / "balanced" / "generated.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["seed"]) for r in rows] == [s for _, s in backend.calls]
    assert {r["reason"] for r in rows if r["kept"] == "False"} == {"no face found"}
    assert all(int(r["seed"]) % 600 == 0 for r in rows if r["kept"] == "False")
    record = json.loads((tmp_path / "balanced" / "provenance.json").read_text())
    assert record["tool"] == "openfer data generate" and record["parameters"]["backend"] == {"backend": "fake"}
    assert record["parameters"]["seed_step"] == 200 and record["source"]["sha256"]


def test_cli_dry_run_lists_the_prompts_and_generation_needs_a_pipeline(tiny_fer2013, tmp_path, capsys):
    from openfer.cli import main

    argv = ["data", "generate", "fer2013", "--root", str(tiny_fer2013), "--output", str(tmp_path / "g")]
    assert main([*argv, "--dry-run"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "\t" in line]
    assert len(lines) == 6 and lines[0].split("\t")[:2] == ["disgust", "0"]
    assert main(argv) == 2 and "--pipeline" in capsys.readouterr().err
    assert main([*argv, "--pipeline", str(tmp_path / "missing")]) == 2
    assert not (tmp_path / "g").exists()
