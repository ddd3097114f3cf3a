"""`keras-prelu list [PATTERN]`, `keras-prelu info NAME` and their `keras-prelu models ...` forms."""

import pytest

import zoo
from conftest import usage_error
from keras_prelu.commands import main as cli


def test_list_prints_matching_names_one_per_line(capsys):
    assert cli.main(["models", "list", "resnet20_*"]) == 0
    assert capsys.readouterr().out.splitlines() == zoo.list_models("resnet20_*")
    assert cli.main(["models", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == zoo.list_models()


def test_list_without_match_exits_1(capsys):
    assert cli.main(["models", "list", "nothing*"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.strip() == "no model matches 'nothing*'"


def test_info_prints_the_fields(capsys):
    assert cli.main(["models", "info", "mlp3x256_prelu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    fields = dict(line.split(": ", 1) for line in lines)
    assert list(fields) == list(zoo.info("mlp3x256_prelu"))
    assert fields["family"] == "mlp" and fields["activation"] == "prelu"
    assert fields["input_shape"] == "(28, 28, 1)" and fields["num_classes"] == "10"
    assert fields["params"] == f"{zoo.info('mlp3x256_prelu')['params']:,}"
    assert fields["published"] == "-"


def test_info_prints_the_published_figure(capsys):
    assert cli.main(["models", "info", "resnet20_relu"]) == 0
    fields = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    assert fields["params"] == "269,722"
    assert fields["published"] == "8.75 (CIFAR-10 test error (%), He et al. 2016, Table 6; relu)"


@pytest.mark.parametrize("name", ["resnet21_relu", "no-such-model"])
def test_unknown_name_is_a_usage_error(name):
    line = usage_error("models", "info", name, fragments=["Unknown model.", f"Received: name='{name}'"])
    assert line.startswith("keras-prelu: error: Unknown model.")
    if name == "resnet21_relu":
        assert "Did you mean" in line


def test_missing_sub_command_is_a_usage_error():
    usage_error("models")


@pytest.mark.parametrize("argv", [["list", "resnet*"], ["info", "resnet20_prelu"]])
def test_top_level_list_and_info_equal_the_models_group(capsys, argv):
    assert cli.main(argv) == 0
    top_level = capsys.readouterr().out
    assert cli.main(["models", *argv]) == 0
    assert top_level and top_level == capsys.readouterr().out
