"""The report: every section and image, for a run folder and an ensemble; it opens in headless Chromium without errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from openfer.data import load_dataset
from openfer.explain import write_report


@pytest.fixture(scope="module")
def report_paths(tmp_path_factory, run_dir, tiny_fer2013) -> dict[str, Path]:
    """One report of a run folder (random openfer_vgg) on the tiny FER2013's Training split, and its files."""
    folder = tmp_path_factory.mktemp("report")
    run = run_dir
    split = load_dataset("fer2013", tiny_fer2013)["Training"]
    output = folder / "report.html"
    write_report([run], split, output, dataset="fer2013", tsne_limit=30, errors=6, gradcam_faces=3)
    return {"html": output, "markdown": output.with_suffix(".md"), "run": run}


def test_report_has_every_section(report_paths):
    page = report_paths["html"].read_text()
    for section in ("Metrics", "Per class", "Plots", "Most confident errors", "Recipe", "Environment"):
        assert f"<h2>{section}</h2>" in page
    for caption in ("confusion matrix", "precision-recall", "reliability diagram", "training curves", "t-SNE", "Grad-CAM"):
        assert caption in page
    assert "model: openfer_vgg" in page  # the recipe
    assert "ECE (15 bins)" in page and "torch" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "the page must not reference anything online"
    assert page.count("<img ") == 6 + 6  # six plots, six errors


def test_markdown_twin_references_existing_images(report_paths):
    markdown = report_paths["markdown"]
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown.read_text())
    assert len(images) == 12
    for image in images:
        assert (markdown.parent / image).read_bytes().startswith(b"\x89PNG"), image


def test_ensemble_report_averages_members(tmp_path, random_model_file, tiny_fer2013):
    split = load_dataset("fer2013", tiny_fer2013)["PublicTest"]
    write_report([random_model_file, "fast"], split, tmp_path / "ensemble.html", dataset="fer2013", tsne_limit=0, gradcam_faces=0)
    page = (tmp_path / "ensemble.html").read_text()
    assert "openfer_vgg_random.safetensors + fast" in page and "accuracy of fast" in page


def test_cli_report(tmp_path, random_model_file, tiny_fer2013):
    from openfer.cli import main

    output = tmp_path / "cli.html"
    argv = ["report", str(random_model_file), "--root", str(tiny_fer2013), "--split", "PublicTest", "--output", str(output), "--tsne-limit", "0"]
    assert main(argv) == 0 and output.is_file() and output.with_suffix(".md").is_file()
    assert main(argv[:-4] + ["--split", "nope", "--output", str(output)]) == 2


def test_report_opens_in_headless_chromium_without_errors(report_paths, headless_chromium):
    driver = headless_chromium
    driver.get(report_paths["html"].as_uri())
    assert driver.execute_script("return document.readyState") == "complete"
    widths = driver.execute_script("return Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
    assert len(widths) == 12 and all(complete and width > 0 for complete, width in widths), widths
    errors = [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors
    assert "Most confident errors" in driver.find_element("tag name", "body").text
