"""Results, the face table and its ``df.fer`` accessor, record files, per-video summaries and plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from openfer.faces import Detection
from openfer.imageio import read_image
from openfer.recognize import FACE_COLUMNS, RecordWriter, Results, plot_timeline, to_dataframe

CLASSES = ("angry", "happy", "neutral")


def make_result(frame: int | None = None, labels: tuple[int, ...] = (1, 2), source: str = "a.jpg") -> Results:
    detections = [Detection((10 + 40 * i, 10, 30, 30), 0.9) for i in range(len(labels))]
    probabilities = np.full((len(labels), 3), 0.1, np.float32)
    for row, label in enumerate(labels):
        probabilities[row, label] = 0.8
    image = np.full((60, 100, 3), 200, np.uint8)
    time = None if frame is None else frame / 10
    return Results(source, CLASSES, detections, probabilities, image=image, frame=frame, time=time, kind="image" if frame is None else "video")


def test_results_expose_boxes_labels_and_records() -> None:
    result = make_result()
    assert len(result) == 2 and result.ok
    assert result.boxes.tolist() == [[10, 10, 30, 30], [50, 10, 30, 30]]
    assert result.labels == ["happy", "neutral"]
    (first, _) = result.to_records()
    assert first["source"] == "a.jpg" and first["box"] == [10, 10, 30, 30] and first["label"] == "happy"
    assert first["probabilities"] == pytest.approx({"angry": 0.1, "happy": 0.8, "neutral": 0.1})
    assert "2 faces" in repr(result)


def test_plot_draws_boxes_on_a_copy_and_save_writes_it(tmp_path: Path) -> None:
    result = make_result()
    drawn = result.plot()
    assert drawn.shape == result.image.shape and (result.image == 200).all()
    assert (drawn[10:40, 10] != 200).any()  # the box's left edge
    path = result.save(tmp_path / "out" / "a.png")
    assert read_image(path, grey=False).shape == (60, 100, 3)
    assert [p.name for p in path.parent.iterdir()] == ["a.png"]  # no temporary files left


def test_error_results_have_no_faces_and_cannot_be_drawn() -> None:
    result = Results("bad.jpg", CLASSES, error="bad.jpg: empty file (0 bytes)")
    assert not result.ok and len(result) == 0 and result.to_records() == []
    with pytest.raises(ValueError, match="no image"):
        result.plot()


def test_dataframe_has_one_row_per_face_and_one_column_per_class() -> None:
    table = to_dataframe([make_result(), Results("bad.jpg", CLASSES, error="x"), make_result(frame=3, labels=(0,), source="v.mp4")])
    smooth = [f"smooth_{c}" for c in CLASSES]
    assert list(table.columns) == ["source", "frame", "time", "track", "x", "y", "w", "h", "detector_score", "label", "label_probability", *CLASSES, *smooth]
    assert (table["label_probability"] == table[list(CLASSES)].max(axis=1)).all()
    assert len(table) == 3 and table.attrs["classes"] == list(CLASSES)
    assert table["frame"].isna().tolist() == [True, True, False] and table["time"].iloc[2] == pytest.approx(0.3)
    assert make_result().to_df()["label"].tolist() == ["happy", "neutral"]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_record_files_hold_one_record_per_face(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"faces{suffix}"
    with RecordWriter(path, CLASSES) as writer:
        writer.write(make_result())
        writer.write(make_result(frame=5, labels=(0,), source="v.mp4"))
    if suffix == ".csv":
        table = pd.read_csv(path)
        assert table["label"].tolist() == ["happy", "neutral", "angry"] and table["frame"].isna().tolist() == [True, True, False]
        assert table[list(CLASSES)].sum(axis=1).round(5).tolist() == [1.0, 1.0, 1.0]
    else:
        records = [json.loads(line) for line in path.read_text().splitlines()]
        assert [r["box"] for r in records] == [[10, 10, 30, 30], [50, 10, 30, 30], [10, 10, 30, 30]]
        assert records[2]["frame"] == 5 and records[2]["time"] == 0.5 and set(records[0]["probabilities"]) == set(CLASSES)


def test_record_file_is_not_left_half_written(tmp_path: Path) -> None:
    path = tmp_path / "faces.csv"
    with pytest.raises(RuntimeError):
        with RecordWriter(path, CLASSES) as writer:
            writer.write(make_result())
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_video_summary_gives_the_dominant_expression_and_shares() -> None:
    frames = [make_result(frame=i, labels=(1,) if i < 6 else (2,), source="v.mp4") for i in range(10)]
    frames.append(make_result(frame=10, labels=(0, 0, 1), source="v.mp4"))  # two angry faces outvote one happy
    summary = to_dataframe(frames + [make_result()]).fer.video_summary()
    assert summary["source"].tolist() == ["v.mp4"]
    row = summary.iloc[0]
    assert row["frames_with_faces"] == 11 and row["dominant"] == "happy"
    assert (row["share_happy"], row["share_neutral"], row["share_angry"]) == pytest.approx((6 / 11, 4 / 11, 1 / 11))


def test_timeline_plot_is_a_png(tmp_path: Path) -> None:
    table = to_dataframe([make_result(frame=i, labels=(i % 3,), source="v.mp4") for i in range(5)])
    path = plot_timeline(table, "v.mp4", tmp_path / "v.timeline.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert read_image(path, grey=False).shape == (400, 1000, 3)


def test_indexing_gives_one_face_with_the_same_source_and_image() -> None:
    result = make_result(frame=4, labels=(1, 2, 0), source="v.mp4")
    face = result[1]
    assert isinstance(face, Results) and len(face) == 1 and face.labels == ["neutral"]
    assert face.boxes.tolist() == [[50, 10, 30, 30]] and face.scores.tolist() == pytest.approx([0.9])
    assert (face.source, face.frame, face.time, face.image) == ("v.mp4", 4, 0.4, result.image)
    assert result[-1].labels == ["angry"] and result[1:].labels == ["neutral", "angry"]
    assert [f.labels[0] for f in result] == result.labels  # iterating gives one face at a time
    with pytest.raises(IndexError, match="face 3 of 3"):
        result[3]


def test_to_json_is_the_records_of_the_jsonl_file(tmp_path: Path) -> None:
    result = make_result()
    assert json.loads(result.to_json()) == result.to_records()
    with RecordWriter(tmp_path / "faces.jsonl", CLASSES) as writer:
        writer.write(result)
    assert [json.loads(line) for line in (tmp_path / "faces.jsonl").read_text().splitlines()] == json.loads(result.to_json())
    assert Results("bad.jpg", CLASSES, error="x").to_json() == "[]"


def test_one_schema_for_the_table_the_csv_and_the_records(tmp_path: Path) -> None:
    result = make_result(frame=2, source="v.mp4")
    table = result.to_df()
    assert tuple(table.columns[: len(FACE_COLUMNS)]) == FACE_COLUMNS
    assert list(table.columns[len(FACE_COLUMNS):]) == [*CLASSES, *(f"smooth_{c}" for c in CLASSES)]
    with RecordWriter(tmp_path / "faces.csv", CLASSES) as writer:
        writer.write(result)
    written = pd.read_csv(tmp_path / "faces.csv")
    assert list(written.columns) == list(table.columns)
    pd.testing.assert_frame_equal(written, table, check_dtype=False, check_exact=False)
    (record, _) = result.to_records()
    row = table.iloc[0]
    assert record["box"] == row[["x", "y", "w", "h"]].tolist() and record["probabilities"] == row[list(CLASSES)].to_dict()
    assert set(result.to_records(include_source=False)[0]) == {"track", "box", "detector_score", "label", "label_probability", "probabilities", "smoothed"}


def test_the_accessor_reads_class_columns_summaries_and_timelines(tmp_path: Path) -> None:
    frames = [make_result(frame=i, labels=(1, 0) if i < 2 else (2,), source="v.mp4") for i in range(4)]
    table = to_dataframe(frames + [make_result()])
    assert list(table.fer.emotions.columns) == list(CLASSES) and len(table.fer.emotions) == 8
    timeline = table.fer.timeline("v.mp4")
    assert timeline["frame"].tolist() == [0, 1, 2, 3] and timeline["time"].tolist() == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert timeline.loc[0, "happy"] == pytest.approx(0.45) and timeline.loc[0, "angry"] == pytest.approx(0.45)  # mean of two faces
    assert timeline["label"].tolist()[2:] == ["neutral", "neutral"]
    assert table.fer.timeline("a.jpg").empty  # images have no timeline
    with RecordWriter(tmp_path / "faces.csv", CLASSES) as writer:  # a records file read back: classes from its columns
        for result in frames:
            writer.write(result)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "faces.csv").fer.video_summary(), table.fer.video_summary())
    with pytest.raises(AttributeError, match="face records"):
        pd.DataFrame({"a": [1]}).fer.emotions
