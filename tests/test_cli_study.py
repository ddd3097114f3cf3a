"""`keras-prelu compare` and `keras-prelu plot`: user errors are one line and exit code 2, before any training."""

import pytest

from keras_prelu import study
from keras_prelu.commands import main as cli
from keras_prelu.training import experiment


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if a user error got as far as training or loading data."""

    def refuse(*args, **kwargs):
        raise AssertionError("a user error must be reported before any training")

    monkeypatch.setattr(experiment, "train", refuse)
    monkeypatch.setattr("keras_prelu.training.data.load", refuse)


def _error(capsys, argv):
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("keras-prelu: error: ")
    return lines[0]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--activations", "relu,swish"], "unknown activation 'swish': accepted are relu, leaky_relu, "
                                          "prelu, prelu_shared, rrelu"),
        (["--activations", "relu,prelus"], "unknown activation 'prelus' (did you mean prelu?)"),
        (["--activations", "relu,relu"], "activation 'relu' is listed twice"),
        (["--activations", ""], "--activations needs a comma-separated list"),
        (["--seeds", "0"], "--seeds takes the number of seeds, a whole number >= 1"),
        (["--seeds", "-2"], "--seeds takes the number of seeds"),
        (["--seeds", "two"], "--seeds takes the number of seeds"),
        (["--seeds", "1.5"], "--seeds takes the number of seeds"),
        (["--epochs", "0"], "--epochs takes a whole number >= 1"),
        (["--fgsm-epsilon", "0"], "--fgsm-epsilon takes a number in (0, 1]"),
        (["--fgsm-epsilon", "2"], "--fgsm-epsilon takes a number in (0, 1]"),
        (["--lr", "-1"], "--lr takes a number > 0"),
        (["--timing-steps", "x"], "--timing-steps takes 'auto' or a whole number >= 0"),
    ],
)
def test_bad_flags(capsys, no_training, tmp_path, argv, message):
    line = _error(capsys, ["compare", "mlp3x256", "--out", str(tmp_path / "s"), *argv])
    assert message in line
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    "model, message",
    [
        ("mlp3x255", "unknown model 'mlp3x255': did you mean mlp3x256"),
        ("resnet21_relu", "unknown model 'resnet21_relu': did you mean"),
        ("transformer", "unknown model 'transformer': give an architecture such as"),
    ],
)
def test_unknown_model(capsys, no_training, tmp_path, model, message):
    line = _error(capsys, ["compare", model, "--out", str(tmp_path / "s")])
    assert message in line
    assert not (tmp_path / "s").exists()


def test_unknown_recipe(capsys, no_training, tmp_path):
    line = _error(capsys, ["compare", "mlp3x256", "--recipe", "fast", "--out", str(tmp_path / "s")])
    assert "Unknown recipe" in line and "Received: recipe='fast'" in line


def test_out_holding_something_else_is_refused(capsys, no_training, tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "notes.txt").write_text("mine")
    line = _error(capsys, ["compare", "mlp3x256", "--out", str(tmp_path / "s")])
    assert "exists and holds no study" in line


def test_unknown_dataset_is_one_line_and_leaves_nothing(capsys, monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise AssertionError("no training for an unknown dataset")

    monkeypatch.setattr(experiment, "train", refuse)
    line = _error(capsys, ["compare", "mlp3x256", "--dataset", "no_such_dataset", "--epochs", "1",
                           "--seeds", "1", "--activations", "relu", "--out", str(tmp_path / "s")])
    assert "unknown dataset 'no_such_dataset'" in line
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("make", ["missing", "empty", "study"])
def test_plot_errors(capsys, tmp_path, make):
    path = tmp_path / "run"
    if make == "empty":
        path.mkdir()
    elif make == "study":
        path.mkdir()
        (path / study.STATE_FILE).write_text("{}")
    line = _error(capsys, ["plot", str(path)])
    expected = {"missing": "no such run directory", "empty": "is not a run directory (no config.json)",
                "study": "is a study directory"}[make]
    assert expected in line


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "compare" in out and "plot" in out
