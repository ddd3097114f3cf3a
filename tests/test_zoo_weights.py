"""`zoo.get(name, weights=...)`: `.weights.h5`, `.keras`, run directories, and clear errors on misfits."""

import shutil

import keras
import numpy as np
import pytest

import zoo
from zoo import weights as weight_files

SMALL_MLP = {"input_shape": (4, 4, 1), "num_classes": 3}
SMALL_CIFAR = {"input_shape": (8, 8, 3), "num_classes": 3}


def _values(model):
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


def _assert_same_weights(a, b):
    assert len(a.weights) == len(b.weights)
    for x, y in zip(_values(a), _values(b)):
        np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def trained_cifar(tmp_path_factory):
    """A resnet20_prelu with every variable (slopes, BatchNorm statistics) moved off its initial value, saved both ways."""
    directory = tmp_path_factory.mktemp("weights")
    model = zoo.get("resnet20_prelu", **SMALL_CIFAR)
    rng = np.random.default_rng(0)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in model.weights])
    model.save_weights(directory / "trained.weights.h5")
    model.save(directory / "trained.keras")
    return model, directory


def test_loads_a_keras_file_with_optimizer_state(tmp_path):
    model = zoo.get("mlp3x256_prelu", **SMALL_MLP)
    model.compile(
        optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    model.train_on_batch(np.ones((2, 4, 4, 1), "float32"), np.array([0, 2]))
    model.save(tmp_path / "model.keras")  # a run directory as training writes it
    _assert_same_weights(zoo.get("mlp3x256_prelu", weights=tmp_path, **SMALL_MLP), model)


@pytest.mark.parametrize("file_name", ["trained.weights.h5", "trained.keras"])
def test_loads_weight_files(trained_cifar, file_name):
    model, directory = trained_cifar
    loaded = zoo.get("resnet20_prelu", weights=directory / file_name, **SMALL_CIFAR)
    _assert_same_weights(loaded, model)
    assert not loaded.compiled
    x = np.ones((1, 8, 8, 3), "float32")
    np.testing.assert_array_equal(loaded(x, training=False), model(x, training=False))


def test_run_directory_file_names_are_one_constant():
    assert zoo.RUN_WEIGHT_FILES == weight_files.RUN_WEIGHT_FILES
    assert zoo.RUN_WEIGHT_FILES == ("model.keras", "final.weights.h5", "model.weights.h5")


@pytest.mark.parametrize("file_name", weight_files.RUN_WEIGHT_FILES)
def test_loads_from_a_run_directory(trained_cifar, tmp_path, file_name):
    model, directory = trained_cifar
    source = "trained.keras" if file_name.endswith(".keras") else "trained.weights.h5"
    shutil.copy(directory / source, tmp_path / file_name)
    (tmp_path / "history.json").write_text("{}")  # other run files are ignored
    loaded = zoo.get("resnet20_prelu", weights=str(tmp_path), **SMALL_CIFAR)
    _assert_same_weights(loaded, model)


def test_run_directory_prefers_the_first_listed_name(tmp_path):
    first, second = (zoo.get("mlp3x256_relu", **SMALL_MLP) for _ in range(2))
    first.save(tmp_path / "model.keras")
    second.save_weights(tmp_path / "model.weights.h5")
    _assert_same_weights(zoo.get("mlp3x256_relu", weights=tmp_path, **SMALL_MLP), first)


def test_misfit_names_the_first_mismatching_layer(trained_cifar, tmp_path):
    _, directory = trained_cifar
    zoo.get("resnet20_relu", **SMALL_CIFAR).save_weights(tmp_path / "relu.weights.h5")
    with pytest.raises(
        ValueError,
        match=r"layer 'stem_act' needs variables of shapes \[\(16,\)\]; the file has none",
    ):
        zoo.get("resnet20_prelu", weights=tmp_path / "relu.weights.h5", **SMALL_CIFAR)
    with pytest.raises(
        ValueError,
        match=r"layer 'stem_act' needs variables of shapes \[\(1,\)\]; the file has \[\(16,\)\]",
    ):
        zoo.get("resnet20_prelu_shared", weights=directory / "trained.keras", **SMALL_CIFAR)
    with pytest.raises(
        ValueError, match="layer 'stage1_block4_conv1' .*saved from layer 'stage2_block1_conv1'"
    ):
        zoo.get("resnet32_relu", weights=tmp_path / "relu.weights.h5", **SMALL_CIFAR)

    zoo.get("mlp3x256_relu", **SMALL_MLP).save_weights(tmp_path / "mlp.weights.h5")
    with pytest.raises(
        ValueError,
        match=r"layer 'layer1_dense' needs variables of shapes \[\(25, 256\), \(256,\)\]; the file has \[\(16, 256\), \(256,\)\]",
    ):
        zoo.get(
            "mlp3x256_relu",
            weights=tmp_path / "mlp.weights.h5",
            input_shape=(5, 5, 1),
            num_classes=3,
        )
    with pytest.raises(
        ValueError,
        match=r"layer 'layer4_dense' .* the file has \[\(256, 3\), \(3,\)\] \(saved from layer 'classifier'\)",
    ):
        zoo.get("mlp6x256_relu", weights=tmp_path / "mlp.weights.h5", **SMALL_MLP)


def test_extra_saved_layers_are_a_misfit_and_nothing_is_loaded(trained_cifar):
    _, directory = trained_cifar
    target = zoo.get("resnet20_relu", **SMALL_CIFAR)
    before = _values(target)
    with pytest.raises(
        ValueError,
        match="do not fit model 'resnet20_relu'.* the file has variables \\[\\(16,\\)\\] of layer 'stem_act', which the model does not have",
    ):
        weight_files.load_weights(target, directory / "trained.weights.h5")
    for x, y in zip(before, _values(target)):
        np.testing.assert_array_equal(x, y)


def test_bad_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="Received: weights="):
        zoo.get("mlp3x256_relu", weights=tmp_path / "missing.weights.h5")
    with pytest.raises(
        ValueError,
        match="holds none of \\['model.keras', 'final.weights.h5', 'model.weights.h5'\\]",
    ):
        zoo.get("mlp3x256_relu", weights=tmp_path)
    (tmp_path / "legacy.h5").write_bytes(b"")
    with pytest.raises(
        ValueError, match="must be a `.weights.h5` file, a `.keras` file or a run directory"
    ):
        zoo.get("mlp3x256_relu", weights=tmp_path / "legacy.h5")
