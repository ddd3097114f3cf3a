"""Run directories: atomic writes, checkpoints that restore everything, history layout, model card, logs."""

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_prelu
from keras_prelu.training import runs
from keras_prelu.utils.summaries import read_scalars
from conftest import flip_a_byte_inside_the_largest_array


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "file.json"
    runs.atomic_write_json(target, {"version": 1})

    def broken(tmp):
        with open(tmp, "w") as handle:
            handle.write('{"version": 2, "half')
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        runs.atomic_write(target, broken)
    assert json.loads(target.read_text()) == {"version": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.json"]  # no temporary left behind


def test_a_kill_during_a_write_leaves_the_previous_checkpoint_usable(tmp_path):
    """SIGKILL a process in the middle of writing a checkpoint over an existing one."""
    run = runs.RunDir(tmp_path)
    model, optimizer = _model_and_optimizer()
    run.save_checkpoint(model, optimizer, {"epoch": 1, "step": 10})
    script = textwrap.dedent(f"""
        import os, sys, time
        from keras_prelu.training import runs
        def slow(tmp):
            with open(tmp, "wb") as handle:
                handle.write(b"PK" + b"x" * 1000)
                handle.flush()
                os.fsync(handle.fileno())
                print("writing", flush=True)
                time.sleep(60)
        runs.atomic_write({str(run.checkpoint_path(1))!r}, slow)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "writing"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    leftovers = [p.name for p in run.checkpoint_dir.iterdir() if p.name.startswith(".")]
    assert leftovers  # the torn temporary file is there, under a hidden name ...
    assert [e for e, _ in run.checkpoints()] == [1]  # ... and ignored
    fresh_model, fresh_optimizer = _model_and_optimizer(seed=5)
    state = run.restore(fresh_model, fresh_optimizer)
    assert state["epoch"] == 1
    for a, b in zip(model.variables, fresh_model.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def _model_and_optimizer(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6,))
    x = keras.layers.Dense(5)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras_prelu.PReLU()(x)
    x = keras.layers.Dropout(0.3)(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    optimizer = keras_prelu.optimizers.get("sgd", learning_rate=0.1, momentum=0.9, weight_decay=1e-3)
    optimizer.build(model.trainable_variables)
    return model, optimizer


def _train_a_little(model, optimizer, steps=3):
    rng = np.random.default_rng(0)
    for _ in range(steps):
        x = rng.normal(size=(8, 6)).astype("float32")
        y = rng.integers(0, 2, 8)
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = keras.losses.sparse_categorical_crossentropy(y, model(x, training=True), from_logits=True)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))


def test_checkpoint_restores_model_optimizer_and_state(tmp_path):
    model, optimizer = _model_and_optimizer()
    _train_a_little(model, optimizer)
    run = runs.RunDir(tmp_path / "run").create()
    state = {"epoch": 3, "step": 3, "rng": {"seed": 7}, "history": runs.new_history()}
    path = run.save_checkpoint(model, optimizer, state)
    assert path.name == "epoch-0003.npz"

    fresh_model, fresh_optimizer = _model_and_optimizer(seed=1)
    restored = run.restore(fresh_model, fresh_optimizer)
    assert restored["epoch"] == 3 and restored["rng"] == {"seed": 7}
    for a, b in zip(model.variables, fresh_model.variables):  # BatchNorm statistics, seed states too
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(optimizer.variables, fresh_optimizer.variables):  # step count and momenta
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert int(fresh_optimizer.iterations.numpy()) == 3
    # Continuing from the restored state is the same as continuing the original.
    _train_a_little(model, optimizer, steps=2)
    _train_a_little(fresh_model, fresh_optimizer, steps=2)
    for a, b in zip(model.trainable_variables, fresh_model.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


def test_checkpoint_from_another_model_is_refused(tmp_path):
    model, optimizer = _model_and_optimizer()
    run = runs.RunDir(tmp_path)
    run.save_checkpoint(model, optimizer, {"epoch": 1})
    other = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])
    other_optimizer = keras.optimizers.SGD()
    other_optimizer.build(other.trainable_variables)
    with pytest.raises(runs.CheckpointError, match="different model"):
        run.restore(other, other_optimizer)


def test_newest_checkpoints_are_kept_and_a_corrupt_one_is_skipped(tmp_path):
    model, optimizer = _model_and_optimizer()
    run = runs.RunDir(tmp_path)
    for epoch in range(1, 5):
        run.save_checkpoint(model, optimizer, {"epoch": epoch}, keep=2)
    assert [e for e, _ in run.checkpoints()] == [3, 4]
    run.checkpoint_path(4).write_bytes(b"not a checkpoint")
    assert run.latest_checkpoint() == run.checkpoint_path(3)
    assert runs.RunDir(tmp_path / "empty").latest_checkpoint() is None


def test_a_checkpoint_with_damaged_bytes_is_skipped_named_and_kept(tmp_path, caplog):
    model, optimizer = _model_and_optimizer()
    run = runs.RunDir(tmp_path)
    for epoch in (1, 2):
        _train_a_little(model, optimizer, steps=1)
        run.save_checkpoint(model, optimizer, {"epoch": epoch})
    newest = run.checkpoint_path(2)
    runs.verify_checkpoint(newest)
    flip_a_byte_inside_the_largest_array(newest)
    runs.read_checkpoint_state(newest)  # the state alone still reads: only a full check sees it
    with pytest.raises(runs.CheckpointError, match="is damaged"):
        runs.verify_checkpoint(newest)
    reader = runs.RunDir(tmp_path, writer=False)
    with caplog.at_level(logging.WARNING, logger="keras_prelu"):
        assert reader.latest_checkpoint() == run.checkpoint_path(1)
    assert newest.is_file()  # a reader leaves it where it is
    assert sum("epoch-0002.npz" in r.getMessage() for r in caplog.records) == 1
    fresh_model, fresh_optimizer = _model_and_optimizer(seed=1)
    assert run.restore(fresh_model, fresh_optimizer)["epoch"] == 1  # the newest intact one
    assert not newest.exists() and newest.with_name("epoch-0002.npz.damaged").is_file()
    run.save_checkpoint(model, optimizer, {"epoch": 2})  # retrained: the damaged copy stays
    assert newest.with_name("epoch-0002.npz.damaged").is_file()
    assert run.latest_checkpoint() == newest


def test_history_layout_for_the_diagnostics_plots():
    history = runs.new_history()
    for epoch in range(2):
        runs.append_history(
            history,
            {"loss": 1.0 - epoch / 10, "accuracy": 0.5, "val_loss": 1.1, "val_accuracy": 0.4, "lr": 0.1},
            {"act1": np.array([0.25, 0.5 + epoch]), "act2": np.array([0.1])},
        )
    json.dumps(history)
    assert history["loss"] == [1.0, 0.9] and history["lr"] == [0.1, 0.1]
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "slopes"}
    assert history["slopes"]["act1"] == {"mean": [0.375, 0.875], "min": [0.25, 0.25], "max": [0.5, 1.5]}


def test_run_dir_final_model_card_and_non_writers(tmp_path):
    model, _ = _model_and_optimizer()
    run = runs.RunDir(tmp_path / "run").create()
    run.save_final_model(model)
    reloaded = keras.saving.load_model(run.file(runs.MODEL_FILE))
    x = np.ones((2, 6), "float32")
    np.testing.assert_allclose(reloaded(x), model(x), rtol=1e-6)
    assert run.file(runs.WEIGHTS_FILE).is_file()
    card = {"model": "m", "dataset": {"name": "digits"}, "results": {"test_accuracy": 0.975, "epochs": 3},
            "recipe": {"name": "default"}, "command": "keras-prelu train m"}
    run.write_model_card(card)
    assert run.load_model_card() == card
    markdown = run.file(runs.MODEL_CARD_MD).read_text()
    assert "97.50%" in markdown and "keras-prelu train m" in markdown
    quiet = runs.RunDir(tmp_path / "worker", writer=False)
    quiet.create()
    quiet.save_history(runs.new_history())
    quiet.save_final_model(model)
    assert not (tmp_path / "worker").exists()
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(run.file(runs.MODEL_CARD_JSON)).st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_tensorboard_scalars_without_the_tensorboard_package(tmp_path):
    log = runs.TensorBoardLog(tmp_path)
    for step in (1, 2):
        log.write("train", step, {"loss": 1.0 / step}, {"slopes/act": np.array([0.2, 0.3])})
    log.write("validation", 1, {"accuracy": 0.5})
    scalars = read_scalars(tmp_path, by_split=True)
    assert scalars["train"]["loss"] == [(1, 1.0), (2, 0.5)]
    assert scalars["validation"]["accuracy"] == [(1, 0.5)]
