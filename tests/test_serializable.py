"""Every serializable class of the package through the one harness (tests/serializable_checks.py),
and a check that no class registered under "keras_prelu" is left out."""

import ast
import pathlib

import keras
import pytest

import keras_prelu
import zoo
from keras_prelu import (
    LeakyReLU,
    PositiveSlope,
    PReLU,
    PReLUHeNormal,
    PReLUHeUniform,
    RReLU,
    SlopeRange,
    optimizers,
)
from keras_prelu.normalization import BatchNormalization
from keras_prelu.training import schedules
from serializable_checks import check_serializable, kind_of, registered_name
from zoo.layers import ZeroPadShortcut

ROOT = pathlib.Path(__file__).resolve().parents[1]

# id -> (factory, keyword arguments of the check). Factories, so every test gets fresh objects.
CASES = {
    # layers
    "PReLU": (lambda: PReLU(), {"input_shape": (2, 3, 3, 2)}),
    "PReLU-channel_shared": (lambda: PReLU(channel_shared=True), {"input_shape": (2, 3, 3, 2)}),
    "PReLU-shared_axes": (lambda: PReLU(shared_axes=[1, 2]), {"input_shape": (2, 3, 3, 2)}),
    "PReLU-channels_first": (lambda: PReLU(data_format="channels_first"), {"input_shape": (2, 2, 3, 3)}),
    "PReLU-dense-constrained": (
        lambda: PReLU(alpha_initializer=PReLUHeUniform(seed=1), alpha_constraint=SlopeRange(0.05, 0.9)),
        {"input_shape": (2, 5)},
    ),
    "PReLU-positive_slope": (lambda: PReLU(alpha_constraint="positive_slope"), {"input_shape": (2, 4, 3)}),
    "LeakyReLU": (lambda: LeakyReLU(), {"input_shape": (2, 4, 3)}),
    "LeakyReLU-0.2": (lambda: LeakyReLU(0.2), {"input_shape": (2, 5)}),
    "RReLU": (lambda: RReLU(lower=0.1, upper=0.3, seed=3), {"input_shape": (2, 4, 3)}),
    "BatchNormalization-4d": (lambda: BatchNormalization(momentum=0.9, epsilon=1e-5),
                              {"input_shape": (4, 3, 3, 2)}),
    "BatchNormalization-2d": (lambda: BatchNormalization(center=False), {"input_shape": (4, 5)}),
    "ZeroPadShortcut-strides1": (lambda: ZeroPadShortcut(4, strides=1), {"input_shape": (2, 3, 3, 2)}),
    "ZeroPadShortcut-strides2": (lambda: ZeroPadShortcut(6, strides=2), {"input_shape": (2, 5, 4, 3)}),
    "ZeroPadShortcut-channels_first": (
        lambda: ZeroPadShortcut(6, strides=2, data_format="channels_first"), {"input_shape": (2, 3, 4, 4)}
    ),
    # constraints
    "SlopeRange": (lambda: SlopeRange(), {}),
    "SlopeRange-narrow": (lambda: SlopeRange(0.05, 0.9), {}),
    "PositiveSlope": (lambda: PositiveSlope(0.01), {}),
    # initializers
    "PReLUHeNormal": (lambda: PReLUHeNormal(0.25, seed=1), {}),
    "PReLUHeNormal-fan_out": (lambda: PReLUHeNormal(negative_slope=0.1, mode="fan_out", seed=42), {}),
    "PReLUHeUniform": (lambda: PReLUHeUniform(negative_slope=0.1, mode="fan_avg", seed=42), {"shape": (3, 3, 2, 4)}),
    # learning-rate schedules
    "StepDecay": (lambda: schedules.StepDecay(0.1, [10, 50], factor=0.2), {}),
    "CosineDecay": (lambda: schedules.CosineDecay(0.1, 50, final_fraction=0.1), {}),
    "Constant": (lambda: schedules.Constant(0.3), {}),
    "LinearWarmup": (lambda: schedules.LinearWarmup(schedules.CosineDecay(1.0, 40), 10, start_fraction=0.1), {}),
    "LinearWarmup-of-StepDecay": (lambda: schedules.build("step", 0.1, total_steps=100, warmup_steps=5), {}),
    # optimizers
    "sgd": (lambda: optimizers.get("sgd", learning_rate=0.1, weight_decay=0.5), {}),
    "adamw": (lambda: optimizers.get("adamw", learning_rate=0.1, weight_decay=0.5), {}),
    "sgd-momentum-schedule": (
        lambda: optimizers.get("sgd", learning_rate=schedules.StepDecay(0.1, [5]), momentum=0.9,
                               weight_decay=0.1),
        {},
    ),
}
# Every optimizer class `keras_prelu.optimizers` registers (slopes exempt from decay).
CASES.update({
    f"optimizer-{name}": (
        lambda name=name: optimizers.get(name.lower(), learning_rate=0.01, weight_decay=0.1), {}
    )
    for name in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "Nadam",
                 "Lion", "Adafactor")
    if hasattr(keras.optimizers, name)
})


@pytest.mark.parametrize("case", list(CASES))
def test_serializable(case):
    factory, kwargs = CASES[case]
    check_serializable(factory(), **kwargs)


def _covered_classes():
    return {type(factory()) for factory, _ in CASES.values()}


def _decorated_classes():
    """Class names decorated with `register_keras_serializable` anywhere in the sources."""
    names = set()
    for package in ("keras_prelu", "zoo"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef) and any(
                    "register_keras_serializable" in ast.unparse(d) for d in node.decorator_list
                ):
                    names.add(node.name)
    return names


def test_every_registered_class_is_covered():
    assert keras_prelu and zoo  # importing them registers their classes
    registered = {name for name in keras.saving.get_custom_objects() if name.startswith("keras_prelu>")}
    covered = {registered_name(cls) for cls in _covered_classes()}
    assert registered - covered == set(), "registered classes missing from CASES in tests/test_serializable.py"
    assert {f"keras_prelu>{name}" for name in _decorated_classes()} - covered == set(), (
        "classes decorated with register_keras_serializable in modules not imported by "
        "`import keras_prelu, zoo, keras_prelu.training` are missing from CASES"
    )


def test_every_kind_is_covered():
    assert {kind_of(factory()) for factory, _ in CASES.values()} == {
        "layer", "initializer", "constraint", "schedule", "optimizer"
    }
