"""`ArrayData`'s batches on one Keras backend (used by tests/test_array_data.py).

    python tests/array_data_checks.py OUT.npz [--no-tensorflow]

runs in a child process with `KERAS_BACKEND` set (jax, torch): with
`--no-tensorflow` it first makes TensorFlow unimportable
(`sys.modules["tensorflow"] = None`), then loads `digits` with
`array_data.load`, writes `batches()`'s arrays to OUT.npz and prints one JSON
line about the backend and the TensorFlow-only parts. The test process
(TensorFlow backend) calls `batches()` itself and compares.
"""

import json
import sys

if __name__ == "__main__" and "--no-tensorflow" in sys.argv:
    sys.modules["tensorflow"] = None  # before keras is imported: `import tensorflow` fails

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_prelu.training import array_data  # noqa: E402

#: Training epochs compared across backends: plain, and both augmentations.
CASES = (
    dict(batch_size=100, epoch=0, seed=0, augment=None),
    dict(batch_size=128, epoch=3, seed=5, augment="pad_crop"),
    dict(batch_size=64, epoch=1, seed=2, augment="pad_crop_flip", pad_fraction=0.25),
)


def _stack(batches):
    pairs = [(keras.ops.convert_to_numpy(x), keras.ops.convert_to_numpy(y)) for x, y in batches]
    return np.concatenate([x for x, _ in pairs]), np.concatenate([y for _, y in pairs])


def batches(data):
    """{name: array}: each case's images and labels, and the test split's eval batches."""
    found = {}
    for i, case in enumerate(CASES):
        found[f"train{i}_x"], found[f"train{i}_y"] = _stack(data.train_dataset(**case))
    found["eval_x"], found["eval_y"] = _stack(data.eval_dataset(100))
    return found


def _error(attempt):
    try:
        attempt()
    except Exception as error:  # noqa: BLE001 - reported to the test
        return f"{type(error).__name__}: {error}"
    return None


def main(path):
    data = array_data.load("digits")
    np.savez(path, **batches(data))
    x, y = next(iter(data.train_dataset(32)))
    import keras_prelu

    print(json.dumps({
        "backend": keras.backend.backend(),
        "types": [type(x).__module__.split(".")[0], str(keras.ops.dtype(x)), str(keras.ops.dtype(y))],
        "tensorflow_imported": any(
            module is not None for name, module in sys.modules.items()
            if name == "tensorflow" or name.startswith("tensorflow.")
        ),
        "trainer": _error(lambda: keras_prelu.training.Trainer),
        "mnist": _error(lambda: array_data.load("mnist")),
    }))


if __name__ == "__main__":
    main(sys.argv[1])
