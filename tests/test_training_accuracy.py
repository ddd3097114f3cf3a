"""Opt-in (--run-slow): accuracy on real data, the figures benchmarks/accuracy.py reports."""

import pytest

from keras_prelu.training import experiment


@pytest.mark.slow
def test_mlp_prelu_reaches_98_percent_on_mnist(shared_data, tmp_path):
    result = experiment.train(
        "mlp3x256_prelu", dataset="mnist", recipe="default", epochs=10, seed=0,
        data_dir=str(shared_data / "tensorflow_datasets"), download=False,
        out=str(tmp_path / "run"), progress="none",
    )
    assert result["test_examples"] == 10000
    assert result["test_accuracy"] >= 0.980


@pytest.mark.slow
def test_resnet20_prelu_reaches_97_percent_on_digits(tmp_path):
    result = experiment.train(
        "resnet20_prelu", dataset="digits", recipe="default", epochs=30, augment="pad_crop", seed=0,
        out=str(tmp_path / "run"), progress="none",
    )
    assert result["test_examples"] == 360
    assert result["test_accuracy"] >= 0.970
