"""The committed example study (examples/study_fashion_mnist): its report agrees with its own cell files."""

import re

import pytest

from conftest import ROOT, png_size
from keras_prelu import study

EXAMPLE = ROOT / "examples" / "study_fashion_mnist"


def _main_table(text):
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| activation | test accuracy"))
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    return lines[start:end]


def test_example_is_small_and_holds_no_models():
    files = [p for p in EXAMPLE.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 2 * 1024 * 1024
    assert not [p for p in files if p.suffix in (".keras", ".h5", ".npz")]
    assert not [p for p in files if "checkpoints" in p.parts or "logs" in p.parts]


def test_example_report_starts_with_its_command():
    text = (EXAMPLE / "report.md").read_text()
    command = text.split("```")[1].strip()
    assert command.startswith("keras-prelu compare mlp3x256 --dataset fashion_mnist")
    state = study.Study(EXAMPLE)
    assert state.load()["commands"][0]["command"] == command
    assert "--epochs 3 --seeds 2" in command and "--no-download" in command


def test_example_numbers_come_from_its_cells():
    """Rebuild the table from the committed cell files: it must equal the committed one."""
    example = study.Study(EXAMPLE)
    example.load()
    rows = study.activation_rows(study.cell_results(example), example.state["timing"])
    rebuilt = study.report_markdown(example, rows, figures={})
    committed = (EXAMPLE / "report.md").read_text()
    assert _main_table(rebuilt) == _main_table(committed)
    assert len(_main_table(committed)) == 2 + 5
    assert [r["activation"] for r in rows] == ["relu", "leaky_relu", "prelu", "prelu_shared", "rrelu"]


def test_example_figures_are_the_ones_the_report_shows():
    text = (EXAMPLE / "report.md").read_text()
    shown = re.findall(r"\]\((figures/[^)]+\.png)\)", text)
    assert len(shown) == 10
    assert sorted(shown) == sorted(f"figures/{p.name}" for p in (EXAMPLE / "figures").iterdir())
    for path in shown:
        width, height = png_size(EXAMPLE / path)
        assert width >= 600 and height >= 240


@pytest.mark.slow
def test_a_cell_of_the_example_can_be_plotted(tmp_path):
    figures = study.plot_run(EXAMPLE / "cells" / "prelu-seed0", out=tmp_path)
    assert sorted(figures) == ["loss_curves", "negative_fraction", "slopes"]
