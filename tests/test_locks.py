"""One process per run directory: an exclusive lock taken before any work, stale locks taken over."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from keras_prelu.commands.main import main as cli_main
from keras_prelu.utils.locks import LOCK_FILE, DirectoryInUse, DirectoryLock
from conftest import KERAS_PRELU, python_env, usage_error


def test_a_second_owner_is_refused_with_the_first_ones_pid(tmp_path):
    with DirectoryLock(tmp_path / "run", what="run directory") as lock:
        assert lock.owner() == str(os.getpid())
        with pytest.raises(DirectoryInUse, match=f"run directory .* is in use by process {os.getpid()}"):
            DirectoryLock(tmp_path / "run", what="run directory").acquire()
        (tmp_path / "run" / "config.json").write_text("{}")
    with DirectoryLock(tmp_path / "run"):  # released: free again
        pass
    assert (tmp_path / "run" / "config.json").is_file()  # a directory with work in it stays


def test_a_directory_left_empty_is_removed_with_its_lock(tmp_path):
    with DirectoryLock(tmp_path / "a" / "run"):
        assert (tmp_path / "a" / "run" / LOCK_FILE).is_file()
    assert not (tmp_path / "a" / "run").exists()
    (tmp_path / "kept").mkdir()
    with DirectoryLock(tmp_path / "kept"):
        pass
    assert (tmp_path / "kept").is_dir()  # it existed before: not ours to remove


def test_the_lock_of_a_killed_process_is_stale_and_taken_over(tmp_path):
    script = (
        "import os, signal, sys\n"
        "from keras_prelu.utils.locks import DirectoryLock\n"
        f"DirectoryLock({str(tmp_path / 'run')!r}).acquire()\n"
        "open(os.path.join(sys.argv[1], 'config.json'), 'w').close()\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    (tmp_path / "run").mkdir()
    killed = subprocess.run([sys.executable, "-c", script, str(tmp_path / "run")], env=python_env())
    assert killed.returncode == -signal.SIGKILL
    dead_pid = (tmp_path / "run" / LOCK_FILE).read_text().strip()
    assert dead_pid.isdigit() and dead_pid != str(os.getpid())
    with DirectoryLock(tmp_path / "run") as lock:
        assert lock.owner() == str(os.getpid())


def test_train_refuses_a_run_directory_in_use_before_any_work(tmp_path):
    out = tmp_path / "busy"
    with DirectoryLock(out, what="run directory"):
        start = time.perf_counter()
        usage_error("train", "mlp3x256_relu", "--epochs", "1", "--out", out,
                    fragments=["in use by process", str(os.getpid())])
        assert time.perf_counter() - start < 5  # refused before loading data or building
        assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]


def test_two_train_processes_on_one_out_never_mix(tmp_path):
    out = tmp_path / "run"
    first = subprocess.Popen(  # long enough to still be training when the second one starts
        [*KERAS_PRELU, "train", "mlp3x256_prelu", "--epochs", "500", "--batch-size", "16",
         "--no-xla", "--progress", "none", "--out", str(out)],
        env=python_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.time() + 120
        while not (out / "config.json").is_file():
            assert first.poll() is None and time.time() < deadline, first.communicate()
            time.sleep(0.05)
        second = subprocess.run(
            [*KERAS_PRELU, "train", "mlp3x256_prelu", "--epochs", "3", "--seed", "7",
             "--progress", "none", "--out", str(out)],
            env=python_env(), capture_output=True, text=True, timeout=180,
        )
        assert first.poll() is None  # the first was running all along
    finally:
        first.kill()
        first.communicate()
    assert second.returncode == 2, second.stderr
    assert f"in use by process {first.pid}" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1 and "Traceback" not in second.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["settings"]["seed"] == 0 and config["settings"]["epochs"] == 500  # the first's


def test_an_export_target_being_written_is_refused_naming_the_writer(tmp_path):
    import keras

    from keras_prelu.utils.locks import TargetLock

    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).save(tmp_path / "m.keras")
    target = tmp_path / "out" / "m.tflite"
    with TargetLock(target):
        usage_error("export", tmp_path / "m.keras", "--format", "tflite", "--out", target,
                    fragments=["is being written by process", str(os.getpid())])
    assert not (tmp_path / "out").exists()  # the lock's folder, created for nothing, is gone
    code = cli_main(
        ["export", str(tmp_path / "m.keras"), "--format", "tflite", "--out", str(target)])
    assert code == 0 and sorted(p.name for p in target.parent.iterdir()) == ["m.tflite"]
