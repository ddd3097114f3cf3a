"""tf.distribute: MirroredStrategy over two logical CPUs matches one device; two local workers train together.

Both run in subprocesses: logical devices and TF_CONFIG must be set before
TensorFlow initialises.
"""

import json
import os
import signal
import socket
import subprocess

import numpy as np
import pytest

from conftest import KERAS_PRELU, ROOT, python_env, run_python

MIRRORED_WORKER = r'''
"""One device vs MirroredStrategy over two logical CPUs, in graph and XLA mode.

Logical devices must be configured before TensorFlow initialises, hence the
separate process. Prints one JSON line with losses and weights of both runs.
"""

import json
import sys

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_prelu  # noqa: E402
from keras_prelu import training  # noqa: E402



def build():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(8, 3, padding="same", kernel_initializer=keras_prelu.kernel_initializer_for("prelu", seed=1))(inputs)
    x = keras_prelu.PReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(4, kernel_initializer=keras.initializers.GlorotUniform(seed=2))(x)
    return keras.Model(inputs, outputs)


rng = np.random.default_rng(0)
images = rng.normal(size=(96, 8, 8, 1)).astype("float32")
labels = rng.integers(0, 4, 96).astype("int32")


def run(strategy, jit):
    with strategy.scope():
        model = build()
        optimizer = keras_prelu.optimizers.get("sgd", learning_rate=0.1, momentum=0.9, weight_decay=1e-3)
    trainer = training.Trainer(model, optimizer, strategy=strategy, jit_compile=jit, steps_per_execution=1)
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(32, drop_remainder=True)
    losses = []
    for _ in range(3):  # three steps per "epoch", recorded one by one
        for step in range(3):
            result = trainer.train_epoch(data.skip(step).take(1), steps=1)
            losses.append(result["loss"])
    evaluation = trainer.evaluate(tf.data.Dataset.from_tensor_slices((images[:37], labels[:37])).batch(16))
    return {
        "replicas": strategy.num_replicas_in_sync,
        "losses": losses,
        "eval": [evaluation["loss"], evaluation["accuracy"], evaluation["examples"]],
        "weights": [np.asarray(v.numpy()).ravel().tolist() for v in model.trainable_variables],
        "iterations": trainer.iterations,
    }


mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
results = {}
for mode in ("graph", "xla"):
    results[mode] = {"one": run(tf.distribute.get_strategy(), mode == "xla"), "two": run(mirrored, mode == "xla")}
print("RESULT " + json.dumps(results))
'''


def _mirrored():
    completed = run_python("-c", MIRRORED_WORKER, check=False, cwd=ROOT)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    assert completed.returncode == 0 and lines, completed.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.fixture(scope="module")
def mirrored_results():
    return _mirrored()


@pytest.mark.parametrize("mode", ["graph", "xla"])
def test_mirrored_two_cpus_matches_one_device(mirrored_results, mode):
    """Graph mode, and XLA (which compiles each replica's forward/backward under several replicas)."""
    one, two = mirrored_results[mode]["one"], mirrored_results[mode]["two"]
    assert one["replicas"] == 1 and two["replicas"] == 2
    assert one["iterations"] == two["iterations"] == 9
    # Same global batch of 32 (16 per replica): the same losses and updates.
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=1e-4)
    for a, b in zip(one["weights"], two["weights"]):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    # Evaluation of 37 examples in batches of 16: the partial batch is split across replicas.
    assert two["eval"][2] == one["eval"][2] == 37
    assert two["eval"][1] == pytest.approx(one["eval"][1])
    assert two["eval"][0] == pytest.approx(one["eval"][0], rel=1e-4)
    assert one["losses"][-1] < one["losses"][0]


def _free_ports(count):
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def test_two_local_workers_train_with_multi_worker_mirrored(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    out = tmp_path / "run"
    processes = []
    try:
        for index in range(2):
            tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
            processes.append(subprocess.Popen(
                [*KERAS_PRELU, "train", "mlp3x256_prelu", "--epochs", "2",
                 "--batch-size", "128", "--lr", "0.003", "--warmup-epochs", "0", "--out", str(out),
                 "--progress", "none", "--no-xla"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                env=python_env(TF_CONFIG=tf_config), start_new_session=True,
            ))
        outputs = [p.communicate(timeout=400) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    for p, (stdout, stderr) in zip(processes, outputs):
        assert p.returncode == 0, stderr[-3000:]
    # The chief (worker 0) writes the run and prints the summary; worker 1 stays quiet.
    assert "test accuracy" in outputs[0][0]
    assert "test accuracy" not in outputs[1][0]
    card = json.loads((out / "model_card.json").read_text())
    assert card["environment"]["replicas"] == 2
    assert card["environment"]["strategy"] == "MultiWorkerMirroredStrategy"
    assert card["results"]["epochs"] == 2
    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == 2 and history["loss"][1] < history["loss"][0]
    assert card["results"]["test_accuracy"] > 0.5  # chance is 0.1
