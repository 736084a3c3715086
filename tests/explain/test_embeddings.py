"""t-SNE of penultimate features: the classifier's input is hooked, the CSV has one row per face."""

from __future__ import annotations

import numpy as np
import pytest

import openfer
from openfer.data import load_dataset
from openfer.explain import penultimate_features, tsne


def test_penultimate_features_are_the_classifier_input(random_model_file, tiny_fer2013):
    model = openfer.load_model(random_model_file)
    split = load_dataset("fer2013", tiny_fer2013)["PublicTest"]
    features, probabilities = penultimate_features(model, split, limit=10)
    assert features.shape == (10, 384) and probabilities.shape == (10, 7)
    np.testing.assert_allclose(probabilities.sum(1), 1, rtol=1e-5)
    head = model.net.head[-1]
    import torch

    logits = head(torch.from_numpy(features)).detach()
    np.testing.assert_allclose(torch.softmax(logits, 1).numpy(), probabilities, atol=1e-5)


def test_tsne_csv_and_png(random_model_file, tiny_fer2013, tmp_path):
    pytest.importorskip("sklearn")
    import pandas as pd

    model = openfer.load_model(random_model_file)
    split = load_dataset("fer2013", tiny_fer2013)["Training"]
    embedding = tsne(model, split, limit=40, seed=0)
    png, csv = embedding.save(tmp_path)
    table = pd.read_csv(csv)
    assert list(table.columns) == ["index", "label", "predicted", "x", "y"]
    assert len(table) == 40 and set(table.label) <= set(split.classes)
    assert np.isfinite(table[["x", "y"]].to_numpy()).all() and table.x.std() > 0
    assert png.read_bytes().startswith(b"\x89PNG")
    again = tsne(model, split, limit=40, seed=0)
    np.testing.assert_allclose(again.coordinates, embedding.coordinates, atol=1e-4)
