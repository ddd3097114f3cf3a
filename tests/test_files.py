"""Atomic outputs: what a killed writer leaves is cleaned by the next one; the target is absent or whole."""

import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from keras_prelu.utils import files
from conftest import KERAS_PRELU, python_env


def _dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_leftovers_of_a_killed_writer_are_removed_and_a_displaced_target_restored(tmp_path):
    dead = _dead_pid()
    target = tmp_path / "model.tflite"
    (tmp_path / f".model.tflite.tmp-{dead}-abc.tflite").write_bytes(b"half written")
    (tmp_path / f".model.tflite.tmp-{dead}-dir").mkdir()
    (tmp_path / f".model.tflite.old-{dead}-abc").write_bytes(b"the previous complete file")
    alive = tmp_path / f".model.tflite.tmp-{os.getpid()}-mine"  # a live writer's: left alone
    alive.write_bytes(b"in progress")
    files.clean_stale_siblings(target)
    assert target.read_bytes() == b"the previous complete file"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, alive.name])


def test_a_stale_backup_beside_a_complete_target_is_removed(tmp_path):
    dead = _dead_pid()
    target = tmp_path / "serving"
    target.mkdir()
    (tmp_path / f".serving.old-{dead}-x").mkdir()
    with pytest.raises(FileExistsError):
        with files.atomic_output(target):
            pass
    assert [p.name for p in tmp_path.iterdir()] == ["serving"]


def test_scratch_directories_of_killed_processes_are_removed(tmp_path):
    root = pathlib.Path(tempfile.gettempdir()) / files.SCRATCH_FOLDER
    root.mkdir(exist_ok=True)
    stale = root / f"{_dead_pid()}-tflite-left"
    stale.mkdir()
    with files.scratch_directory("test") as scratch:
        assert pathlib.Path(scratch).name.startswith(f"{os.getpid()}-test-")
        assert not stale.exists()
    assert not pathlib.Path(scratch).exists()


@pytest.mark.parametrize("delay", [0.0, 0.5, 2.0])
def test_export_killed_at_several_points_leaves_nothing_a_rerun_does_not_clean(tmp_path, delay):
    import keras

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    source = tmp_path / "model.keras"
    model.save(source)
    target = tmp_path / "out" / "model.tflite"
    argv = [*KERAS_PRELU, "export", str(source), "--format", "tflite", "--out", str(target)]
    process = subprocess.Popen(argv, env=python_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while process.poll() is None and time.time() < deadline:
        if target.parent.is_dir() and any(p.name.startswith(".model.tflite.tmp-")
                                           for p in target.parent.iterdir()):
            time.sleep(delay)
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not target.exists() or target.stat().st_size > 0  # absent or complete
    rerun = subprocess.run([*argv, "--overwrite"], env=python_env(), capture_output=True,
                           text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert [p.name for p in target.parent.iterdir()] == ["model.tflite"]
    scratch_root = pathlib.Path(tempfile.gettempdir()) / files.SCRATCH_FOLDER
    assert not [p for p in scratch_root.iterdir() if p.name.startswith(f"{process.pid}-")]


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MiB tmpfs (needs root and permission to mount; skipped otherwise)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def test_a_full_disk_during_training_is_one_line_keeping_the_last_good_checkpoint(small_disk):
    from keras_prelu.training import runs

    out = small_disk / "run"
    completed = subprocess.run(
        [*KERAS_PRELU, "train", "mlp3x256_relu", "--epochs", "5", "--batch-size", "64", "--no-xla",
         "--progress", "none", "--out", str(out)],
        env=python_env(), capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 1, completed.stderr[-2000:]
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in completed.stderr, completed.stderr[-2000:]
    assert "no space left on the device" in lines[0] and "epoch-0001.npz (epoch 1)" in lines[0]
    run = runs.RunDir(out)
    assert [epoch for epoch, _ in run.checkpoints()] == [1]
    runs.verify_checkpoint(run.checkpoint_path(1))
    assert not [p for p in (out / "checkpoints").iterdir() if ".tmp-" in p.name]


def test_a_full_disk_during_export_is_one_line_and_leaves_nothing(small_disk, tmp_path):
    import keras

    inputs = keras.Input((64,))
    model = keras.Model(inputs, keras.layers.Dense(16384)(inputs))  # 4 MiB of weights
    source = tmp_path / "big.keras"
    model.save(source)
    completed = subprocess.run(
        [*KERAS_PRELU, "export", str(source), "--format", "keras", "--out", str(small_disk / "copy.keras")],
        env=python_env(), capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 1, completed.stderr[-2000:]
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and "no space left on device" in lines[0], completed.stderr[-2000:]
    assert list(small_disk.iterdir()) == []


def test_the_scratch_folder_cannot_shadow_the_package():
    # A folder named like a package in the working directory would be imported instead of an
    # editable install of it; the scratch folder is therefore not a valid module name.
    assert not files.SCRATCH_FOLDER.isidentifier()
