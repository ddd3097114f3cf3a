"""`python -m zoo.table`: the Markdown table is generated from the registry."""

import keras
import pytest

import zoo
from conftest import run_python
from zoo import registry, table


def test_rows_from_the_registry():
    (row,) = table.rows("mlp*")
    assert row["family"] == "mlp"
    assert row["variants"] == ["mlp3x256", "mlp3x1024", "mlp6x256", "mlp30x128"]
    assert row["depths"] == [3, 3, 6, 30]
    assert row["activations"] == ["relu", "leaky", "prelu", "prelu_shared", "rrelu"]
    assert row["params"] == [zoo.info(f"{v}_relu")["params"] for v in row["variants"]]


def test_markdown_lists_families_in_registration_order(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    def two_layer(activation="relu", name=None):
        inputs = keras.Input((3,))
        return keras.Model(inputs, keras.layers.Dense(2)(inputs), name=name)

    zoo.register("custom_net", two_layer)
    lines = table.markdown(["resnet20_*", "mlp3x256_relu", "custom_net"]).splitlines()
    assert lines[0].startswith("| Family | Variants | Depths | Activations")
    assert [line.split(" | ")[0] for line in lines[2:]] == [
        "| `cifar_resnet`",
        "| `mlp`",
        "| `two_layer`",
    ]
    assert "`resnet20`" in lines[2] and "0.27M" in lines[2] and "He et al. 2016" in lines[2]
    assert lines[3].split(" | ")[3] == "`_relu`"
    assert lines[4].split(" | ")[1:5] == ["`custom_net`", "-", "-", "8"]


@pytest.mark.slow
def test_module_runs():
    result = run_python("-m", "zoo.table", timeout=600)
    assert len([line for line in result.stdout.splitlines() if line.startswith("| `")]) == 3
