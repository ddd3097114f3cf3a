"""`keras-prelu compare` and `keras-prelu plot`: user errors are one line and exit code 2, before any training."""

import pytest

from conftest import usage_error
from keras_prelu import study
from keras_prelu.commands import main as cli

TRAIN = "keras_prelu.training.experiment.train"
LOAD_DATA = "keras_prelu.training.data.load"


@pytest.fixture
def refuse(monkeypatch):
    """`refuse(*targets, why=...)`: calling any of the dotted-path `targets` fails the test with `why`."""

    def patch(*targets, why):
        def refused(*args, **kwargs):
            raise AssertionError(why)

        for target in targets:
            monkeypatch.setattr(target, refused)

    return patch


@pytest.fixture
def no_training(refuse):
    """Fail the test if a user error got as far as training or loading data."""
    refuse(TRAIN, LOAD_DATA, why="a user error must be reported before any training")


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
        (["--steps-per-epoch", "0"], "--steps-per-epoch takes a whole number >= 1"),
        (["--preset", "dying"], "invalid choice: 'dying'"),
    ],
)
def test_bad_flags(no_training, tmp_path, argv, message):
    usage_error("compare", "mlp3x256", "--out", tmp_path / "s", *argv, fragments=[message])
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    "model, message",
    [
        ("mlp3x255", "unknown model 'mlp3x255': did you mean mlp3x256"),
        ("resnet21_relu", "unknown model 'resnet21_relu': did you mean"),
        ("transformer", "unknown model 'transformer': give an architecture such as"),
    ],
)
def test_unknown_model(no_training, tmp_path, model, message):
    usage_error("compare", model, "--out", tmp_path / "s", fragments=[message])
    assert not (tmp_path / "s").exists()


def test_no_model_and_no_preset(no_training, tmp_path):
    usage_error("compare", "--out", tmp_path / "s",
                fragments=["give a model (an architecture such as mlp3x256) or a --preset "
                           "(dying-relu, cnn)"])
    assert not (tmp_path / "s").exists()


def test_list_presets(no_training, capsys):
    assert cli.main(["compare", "--list-presets"]) == 0
    out = capsys.readouterr().out
    for name, preset in study.PRESETS.items():
        assert out.count(f"{name}: ") == 1
        assert f"{preset.model} on {preset.dataset}" in out
    assert "seeds=5" in out and "learning_rate=0.003" in out


def test_unknown_recipe(no_training, tmp_path):
    usage_error("compare", "mlp3x256", "--recipe", "fast", "--out", tmp_path / "s",
                fragments=["Unknown recipe", "Received: recipe='fast'"])


def test_out_holding_something_else_is_refused(no_training, tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "notes.txt").write_text("mine")
    usage_error("compare", "mlp3x256", "--out", tmp_path / "s", fragments=["exists and holds no study"])


def test_unknown_dataset_is_one_line_and_leaves_nothing(refuse, tmp_path):
    refuse(TRAIN, why="no training for an unknown dataset")
    usage_error("compare", "mlp3x256", "--dataset", "no_such_dataset", "--epochs", "1", "--seeds", "1",
                "--activations", "relu", "--out", tmp_path / "s",
                fragments=["unknown dataset 'no_such_dataset'"])
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("make", ["missing", "empty", "study"])
def test_plot_errors(tmp_path, make):
    path = tmp_path / "run"
    if make == "empty":
        path.mkdir()
    elif make == "study":
        path.mkdir()
        (path / study.STATE_FILE).write_text("{}")
    expected = {"missing": "no such run directory", "empty": "is not a run directory (no config.json)",
                "study": "is a study directory"}[make]
    usage_error("plot", path, fragments=[expected])


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "compare" in out and "plot" in out
