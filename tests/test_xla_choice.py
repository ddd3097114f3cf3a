"""`jit_compile="auto"`: ties go to the device default, decisions are remembered, short runs skip the trial."""

import json

import keras
import numpy as np

from keras_prelu import training
from keras_prelu.training import xla_choice
from keras_prelu.utils import startup


def _model(units=8):
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Dense(units)(inputs)))


def _decided(graph, xla):
    trainer = training.Trainer(_model(), keras.optimizers.SGD(0.1), jit_compile="auto")
    trainer._decide({"timed": {False: graph, True: xla},
                     "compile_seconds": {False: 1.0, True: 2.0}})
    return trainer


def test_a_difference_within_the_timing_noise_keeps_the_device_default():
    trainer = _decided([1.00, 1.05, 0.98], [0.99, 1.04, 1.01])
    assert trainer.autotune["within_noise"]
    assert trainer.jit_compile == training.default_jit_compile()


def test_a_difference_beyond_the_noise_keeps_the_faster_mode():
    assert _decided([1.00, 1.01, 0.99], [0.50, 0.51, 0.50]).jit_compile is True
    slow_xla = _decided([0.50, 0.51, 0.50], [1.00, 1.01, 0.99])
    assert slow_xla.jit_compile is False and not slow_xla.autotune["within_noise"]


def test_a_short_run_uses_the_device_default_without_timing(tmp_path):
    cache = xla_choice.DecisionCache(tmp_path / "decisions.json")
    choice = xla_choice.resolve(_model(), 32, "float32", total_steps=xla_choice.MIN_AUTOTUNE_STEPS - 1,
                                cache=cache)
    assert choice.jit_compile == training.default_jit_compile()
    assert choice.source.startswith("device default")
    assert not choice.remember({"chose": "xla"}) and not cache.path.exists()


def test_a_timed_decision_is_remembered_for_the_same_setting_only(tmp_path):
    cache = xla_choice.DecisionCache(tmp_path / "decisions.json")
    model = _model()
    first = xla_choice.resolve(model, 32, "float32", total_steps=10_000, cache=cache)
    assert first.jit_compile == "auto" and first.source == "timed"
    assert first.remember({"chose": "xla", "graph_seconds_per_step": 2.0, "xla_seconds_per_step": 1.0})
    assert not first.remember({"chose": "graph"})  # once per run
    again = xla_choice.resolve(_model(), 32, "float32", total_steps=10_000, cache=cache)
    assert (again.jit_compile, again.source) == (True, "remembered")
    for other in (xla_choice.resolve(model, 64, "float32", 10_000, cache=cache),
                  xla_choice.resolve(model, 32, "mixed_bfloat16", 10_000, cache=cache),
                  xla_choice.resolve(_model(units=16), 32, "float32", 10_000, cache=cache)):
        assert other.jit_compile == "auto"
    stored = json.loads(cache.path.read_text())
    assert list(stored.values())[0]["fields"]["batch_size"] == 32


def test_a_damaged_or_unwritable_cache_means_deciding_anew(tmp_path):
    path = tmp_path / "decisions.json"
    path.write_text("{not json")
    cache = xla_choice.DecisionCache(path)
    choice = xla_choice.resolve(_model(), 32, "float32", total_steps=10_000, cache=cache)
    assert choice.jit_compile == "auto"
    path.write_text(json.dumps({choice.key: {"jit_compile": "yes"}}))  # a malformed record
    assert xla_choice.resolve(_model(), 32, "float32", 10_000, cache=cache).jit_compile == "auto"
    blocked = xla_choice.DecisionCache(tmp_path / "file" / "decisions.json")
    (tmp_path / "file").write_text("a file where the folder should be")
    choice = xla_choice.resolve(_model(), 32, "float32", total_steps=10_000, cache=blocked)
    assert choice.remember({"chose": "graph"}) is False


def test_the_command_turns_on_fast_cpu_kernels_unless_the_user_chose():
    environ = {}
    assert startup.prefer_fast_defaults(environ)["TF_ENABLE_ONEDNN_OPTS"] == "1"
    environ = {"TF_ENABLE_ONEDNN_OPTS": "0"}
    assert "TF_ENABLE_ONEDNN_OPTS" not in startup.prefer_fast_defaults(environ)
    assert environ["TF_ENABLE_ONEDNN_OPTS"] == "0"


def test_training_kernels_can_be_prepared_ahead():
    from keras_prelu import native, ops

    thread = ops.prepare_training_kernels()
    if thread is not None:
        thread.join(timeout=600)
        assert not thread.is_alive()
    assert native.status() != "not loaded yet" or not native.enabled()
    np.testing.assert_allclose(ops.prelu(np.array([-2.0, 3.0], "float32"), 0.25), [-0.5, 3.0])
