import json

import numpy as np

from openfer.cli import main
from openfer.curate import balance_plan
from openfer.data.base import FaceSplit


def test_plan_brings_every_class_to_the_largest_or_a_target():
    split = FaceSplit("train", ("a", "b", "c"), np.array([0, 0, 0, 1, 2, 2]), images=np.zeros((6, 2, 2), np.uint8))
    plan = balance_plan(split)
    assert plan.counts == (3, 1, 2) and plan.needed == (0, 2, 1) and plan.total_needed == 3
    assert balance_plan(split, target=5).needed == (2, 4, 3)
    assert "total        6        3" in plan.table()


def test_fer2013_plan_matches_the_report(fer2013_cache, monkeypatch, capsys):
    """Report, Section 3.3: 21,796 images for training and 5,240 for testing, +75 % on 35,887."""
    root, cache = fer2013_cache
    monkeypatch.setenv("OPENFER_CACHE", str(cache))
    assert main(["data", "balance-plan", "fer2013", "--root", str(root), "--json"]) == 0
    plan = {s["split"]: s["needed"] for s in json.loads(capsys.readouterr().out)["splits"]}
    assert plan["Training"] == 21796
    assert plan["PublicTest"] + plan["PrivateTest"] == 5240


def test_cli_prints_the_table_and_rejects_unknown_split(tiny_fer2013, capsys):
    assert main(["data", "balance-plan", "fer2013", "--root", str(tiny_fer2013), "--split", "Training"]) == 0
    out = capsys.readouterr().out
    assert "Training (target 10 per class)" in out and "needed in all: 6 images" in out
    assert main(["data", "balance-plan", "fer2013", "--root", str(tiny_fer2013), "--split", "Nope"]) == 2
    assert "--split 'Nope'" in capsys.readouterr().err
