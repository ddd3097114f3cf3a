"""Child process of tests/test_training_backends.py: `keras-prelu train` on this Keras backend.

    KERAS_BACKEND=jax python tests/backend_training.py OUT_DIR [--no-tensorflow]

With `--no-tensorflow`, `sys.modules["tensorflow"] = None` is set before
anything imports Keras, so any `import tensorflow` fails. It trains a short run
through the CLI, a second run that stops after its first epoch (a crash in an
epoch hook, after that epoch's checkpoint) and is continued with `--resume`,
loads the `.keras` file the parent saved under TensorFlow
(`OUT_DIR/../from_tensorflow.keras`, when there) and saves its logits, and
prints one JSON line: the card's environment, history, files, the final
model's logits on the first test images, and the resumed run's weights
compared with the uninterrupted run's.
"""

import json
import pathlib
import sys

if "--no-tensorflow" in sys.argv:
    sys.modules["tensorflow"] = None

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_prelu.commands import main as cli  # noqa: E402
from keras_prelu.training import experiment  # noqa: E402

MODEL = "mlp3x256_prelu"
TRAIN = ["--dataset", "digits", "--epochs", "3", "--steps-per-epoch", "4", "--batch-size", "32",
         "--augment", "none", "--progress", "none"]


class Interrupted(Exception):
    """Stands for a crash after the first epoch's checkpoint."""


def _stop_after_first_epoch(model, data, epoch):
    if epoch == 2:  # called after epoch 2 trained, before its checkpoint: checkpoint 1 is the last
        raise Interrupted
    return {}


def _weights(run):
    model = keras.saving.load_model(run / "model.keras", compile=False)
    return [keras.ops.convert_to_numpy(v) for v in model.weights]


def main(out):
    out = pathlib.Path(out)
    whole, resumed = out / "whole", out / "resumed"
    code = cli.main(["train", MODEL, "--out", str(whole), *TRAIN])
    try:
        experiment.train(MODEL, dataset="digits", epochs=3, steps_per_epoch=4, batch_size=32,
                         augment="none", progress="none", out=str(resumed),
                         epoch_hook=_stop_after_first_epoch)
        interrupted = False
    except Interrupted:
        interrupted = True
    checkpoints_at_crash = sorted(p.name for p in (resumed / "checkpoints").iterdir())
    resume_code = cli.main(["train", MODEL, "--out", str(resumed), "--resume", "--progress", "none"])
    card = json.loads((whole / "model_card.json").read_text())
    history = json.loads((whole / "history.json").read_text())
    data = experiment.load_data("digits")
    images = next(iter(data.eval_dataset(32)))[0]
    model = keras.saving.load_model(whole / "model.keras", compile=False)
    logits = keras.ops.convert_to_numpy(model(images, training=False))
    np.save(out / "images.npy", keras.ops.convert_to_numpy(images))
    np.save(out / "logits.npy", logits)
    same = [np.array_equal(a, b) for a, b in zip(_weights(whole), _weights(resumed))]
    close = [bool(np.allclose(a, b, rtol=1e-5, atol=1e-6))
             for a, b in zip(_weights(whole), _weights(resumed))]
    resumed_card = json.loads((resumed / "model_card.json").read_text())
    foreign = out.parent / "from_tensorflow.keras"  # saved by the parent under TensorFlow
    if foreign.exists():
        loaded = keras.saving.load_model(foreign, compile=False)
        inputs = np.load(out.parent / "from_tensorflow_inputs.npy")
        np.save(out / "from_tensorflow_logits.npy",
                keras.ops.convert_to_numpy(loaded(inputs, training=False)))
    print(json.dumps({
        "backend": keras.backend.backend(),
        "codes": [code, resume_code],
        "interrupted": interrupted,
        "checkpoints_at_crash": checkpoints_at_crash,
        "environment": card["environment"],
        "training": card["training"],
        "test_accuracy": card["results"]["test_accuracy"],
        "history_epochs": len(history["loss"]),
        "history_keys": sorted(history),
        "files": sorted(p.name for p in whole.iterdir()),
        "log_files": sorted(str(p.relative_to(whole)) for p in (whole / "logs").rglob("*")
                            if p.is_file()),
        "resumed_sessions": resumed_card["training"]["sessions"],
        "resumed_test_accuracy": resumed_card["results"]["test_accuracy"],
        "resumed_weights_equal": all(same),
        "resumed_weights_close": all(close),
        "tensorflow_imported": sys.modules.get("tensorflow") is not None,
    }))


if __name__ == "__main__":
    main(sys.argv[1])
