"""Label vocabularies and mapping between them by meaning."""

from __future__ import annotations

import numpy as np
import pytest

from openfer import labels
from openfer.errors import LabelError


@pytest.mark.parametrize("name", sorted(labels.VOCABULARIES))
def test_every_vocabulary_resolves_to_distinct_expressions(name: str) -> None:
    meanings = [labels.canonical(c) for c in labels.vocabulary(name)]
    assert len(set(meanings)) == len(meanings) and set(meanings) <= set(labels.CANONICAL)


def test_vocabulary_sizes_and_orders() -> None:
    assert labels.FER2013 == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert labels.FERPLUS[:2] == ("neutral", "happiness") and len(labels.FERPLUS) == 8
    assert labels.AFFECTNET7 == labels.AFFECTNET8[:7] and labels.AFFECTNET8[7] == "contempt"
    assert labels.CKPLUS[-1] == "neutral" and len(labels.RAFDB) == 7


@pytest.mark.parametrize("name", ["Angry", " anger ", "AN", "angry"])
def test_synonyms_resolve(name: str) -> None:
    assert labels.canonical(name) == "anger"


def test_unknown_names_raise() -> None:
    with pytest.raises(LabelError, match="unknown expression name 'bored'"):
        labels.canonical("bored")
    with pytest.raises(LabelError, match="unknown label vocabulary 'fer2014'"):
        labels.vocabulary("fer2014")
    with pytest.raises(LabelError, match="unknown expression name"):
        labels.vocabulary(["happy", "bored"])


def test_contempt_to_fer2013_is_dropped_or_raises() -> None:
    ferplus_contempt = labels.FERPLUS.index("contempt")
    assert labels.mapping("ferplus", "fer2013", missing="drop")[ferplus_contempt] == -1
    assert labels.map_labels(np.array([ferplus_contempt, 1]), "ferplus", "fer2013", missing="drop").tolist() == [-1, 3]
    with pytest.raises(LabelError, match="'contempt'.*missing='drop'"):
        labels.mapping("ferplus", "fer2013")
    with pytest.raises(LabelError, match="'contempt'"):
        labels.map_labels(np.array([ferplus_contempt]), "ferplus", "fer2013")
    # labels without contempt map without error even though the vocabulary has it
    assert labels.map_labels(np.array([0, 4]), "ferplus", "fer2013").tolist() == [6, 0]


def test_rafdb_to_fer2013_by_meaning() -> None:
    table = labels.mapping("rafdb", "fer2013")
    for i, name in enumerate(labels.RAFDB):
        assert labels.canonical(labels.FER2013[table[i]]) == labels.canonical(name)
    # RAF-DB file label 1 (surprise) is index 0 and becomes FER2013's 5
    assert table[0] == 5 and labels.FER2013[5] == "surprise"


def test_mapping_round_trip_and_explicit_classes() -> None:
    forward = labels.mapping("fer2013", "affectnet7")
    backward = labels.mapping("affectnet7", "fer2013")
    assert np.array_equal(backward[forward], np.arange(7))
    assert labels.mapping(["Happy", "Sad"], "sfew").tolist() == [3, 5]


def test_map_labels_rejects_out_of_range() -> None:
    with pytest.raises(LabelError, match="label out of range 0..6"):
        labels.map_labels(np.array([7]), "fer2013", "rafdb")


def test_map_probabilities_drops_and_renormalises() -> None:
    probabilities = np.zeros(8)
    probabilities[labels.FERPLUS.index("contempt")] = 0.5
    probabilities[labels.FERPLUS.index("happiness")] = 0.5
    out = labels.map_probabilities(probabilities, "ferplus", "fer2013")
    assert out.tolist() == [0, 0, 0, 1, 0, 0, 0]
    assert labels.map_probabilities(np.eye(8)[[7]], "ferplus", "fer2013").tolist() == [[0] * 7]
