"""benchmarks/cifar_table6.py on a tiny budget: both activations, the table beside the paper's
figures, the JPEG note, the read-back of finished cells; under JAX with TensorFlow refused (the
way it runs on an accelerator machine that has no TensorFlow).

    python -m pytest -q tests/test_cifar_table6.py
"""

import importlib.util
import json

import pytest

from conftest import ROOT, python_env, run_python
from test_array_data import write_archive

SCRIPT = ("import runpy, sys; sys.modules['tensorflow'] = None; "
          "sys.argv = ['cifar_table6.py'] + sys.argv[1:]; "
          f"runpy.run_path({str(ROOT / 'benchmarks' / 'cifar_table6.py')!r}, run_name='__main__')")


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_a_tiny_table6_run_under_jax_without_tensorflow(tmp_path):
    write_archive(tmp_path / "cifar10_jpeg.npz", n_train=64, n_test=24)
    env = python_env(KERAS_BACKEND="jax", KERAS_PRELU_CACHE_DIR=str(tmp_path / "cache"))
    out = tmp_path / "table6"
    args = ["-c", SCRIPT, "--data-dir", tmp_path, "--depths", "20", "--iterations", "4",
            "--batch-size", "32", "--out", out, "--progress", "none"]
    first = run_python(*args, env=env, timeout=600)
    table = (out / "table6.md").read_text()
    assert table in first.stdout
    found = json.loads((out / "table6.json").read_text())
    rows = {row["activation"]: row for row in found["rows"]}
    assert sorted(rows) == ["prelu", "relu"]
    assert rows["relu"]["paper_error"] == 8.75 and rows["prelu"]["paper_error"] is None
    for row in rows.values():
        assert row["iterations"] == 4 and row["epochs"] == 2  # 2 steps of 32 per epoch
        assert 0.0 <= row["test_error"] <= 100.0 and row["images_per_second"] > 0
        assert row["backend"] == "jax"
    assert rows["prelu"]["parameters"] > rows["relu"]["parameters"]  # one slope per channel
    assert found["facts"]["backend"] == "jax" and "JPEG" in found["facts"]["note"]
    assert "| ResNet-20 | relu |" in table and "8.75" in table and "JPEG" in table
    assert "tensorflow" not in json.loads(
        (out / "resnet20_prelu" / "model_card.json").read_text())["environment"]["backend"]
    # Run again: the finished cells are read back, nothing is trained twice.
    cards = {a: (out / f"resnet20_{a}" / "model_card.json").stat().st_mtime_ns for a in rows}
    again = run_python(*args, env=env, timeout=600)
    assert table.splitlines()[:4] == (out / "table6.md").read_text().splitlines()[:4]
    assert cards == {a: (out / f"resnet20_{a}" / "model_card.json").stat().st_mtime_ns for a in rows}
    assert again.returncode == 0


def test_bad_arguments_are_one_line(tmp_path):
    result = run_python(ROOT / "benchmarks" / "cifar_table6.py", "--data-dir", tmp_path,
                        "--depths", "21", check=False)
    assert result.returncode == 2 and "depths are among [20, 32, 44, 56, 110]" in result.stderr
