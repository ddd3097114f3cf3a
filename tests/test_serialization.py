"""`.keras` round trips in a fresh process with only `import keras_prelu`."""

import textwrap

import keras
import numpy as np

import keras_prelu
from keras_prelu import (
    LeakyReLU,
    PositiveSlope,
    PReLU,
    PReLUHeNormal,
    PReLUHeUniform,
    RReLU,
    SlopeRange,
)
from conftest import last_json_line, run_python
from serializable_checks import check_keras_file


def _model_with_everything():
    inputs = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", kernel_initializer=PReLUHeNormal(0.25, seed=1))(inputs)
    h = PReLU(alpha_constraint=SlopeRange(0.0, 0.9), name="prelu_channel")(h)
    h = keras.layers.Conv2D(4, 3, kernel_initializer=PReLUHeUniform(0.01, mode="fan_out", seed=2))(h)
    h = PReLU(channel_shared=True, alpha_constraint=PositiveSlope(0.01), name="prelu_shared")(h)
    h = PReLU(shared_axes=[1, 2], alpha_initializer=0.1, name="prelu_axes")(h)
    h = LeakyReLU(0.05)(h)
    h = RReLU(lower=0.1, upper=0.2, seed=4)(h)
    h = keras.layers.Conv2D(4, 1, activation=LeakyReLU(0.2))(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(6, activation=PReLU(alpha_initializer=0.3), name="dense_prelu_act")(h)
    outputs = keras.layers.Dense(2)(h)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras_prelu.optimizers.get("sgd", learning_rate=0.01), loss="mse")
    rng = np.random.default_rng(0)
    model.fit(rng.standard_normal((16, 8, 8, 3)), rng.standard_normal((16, 2)), epochs=1, verbose=0)
    return model


def test_keras_file_loads_in_fresh_process_with_only_import_keras_prelu(tmp_path):
    model = _model_with_everything()
    path = tmp_path / "model.keras"
    model.save(path)
    x = np.random.default_rng(1).standard_normal((5, 8, 8, 3)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "expected.npy", model.predict(x, verbose=0))

    script = textwrap.dedent(
        f"""
        import json, numpy as np, keras
        import keras_prelu
        model = keras.saving.load_model({str(path)!r}, safe_mode=True)
        x = np.load({str(tmp_path / "x.npy")!r})
        diff = float(np.max(np.abs(model.predict(x, verbose=0) - np.load({str(tmp_path / "expected.npy")!r}))))
        # Reload-edit-save-reload (tensorflow #54445): change a slope, save again, load again.
        layer = model.get_layer("prelu_channel")
        layer.alpha.assign(np.full(layer.alpha.shape, 0.5, "float32"))
        model.save({str(tmp_path / "edited.keras")!r})
        again = keras.saving.load_model({str(tmp_path / "edited.keras")!r}, safe_mode=True)
        edited = again.get_layer("prelu_channel").alpha.numpy().tolist()
        print(json.dumps({{"diff": diff, "edited": edited,
                           "types": sorted({{type(l).__name__ for l in model.layers}})}}))
        """
    )
    report = last_json_line(run_python("-c", script).stdout)
    assert report["diff"] == 0.0
    assert report["edited"] == [0.5] * 4
    assert {"PReLU", "LeakyReLU", "RReLU"} <= set(report["types"])


def test_layers_as_activation_argument_round_trip_in_process():
    inputs = keras.Input((5,))
    outputs = keras.layers.Dense(3, activation=PReLU(alpha_initializer=0.4))(inputs)
    model = keras.Model(inputs, outputs)
    restored = check_keras_file(model, np.random.default_rng(2).standard_normal((4, 5)).astype("float32"))
    assert isinstance(restored.layers[-1].activation, PReLU)
