"""Parameter counts against the published figures (trainable parameters, as papers and torchvision count)."""

import math

import pytest

import zoo

# He et al. 2016, Table 6, as printed (millions).
CIFAR_PAPER = {20: "0.27", 32: "0.46", 44: "0.66", 56: "0.85", 110: "1.7"}
# torchvision's parameter counts (1000 classes).
TORCHVISION = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032}


def cifar_resnet_params(depth, classes=10):
    """Trainable parameters of the option-A CIFAR ResNet, counted layer by layer."""

    def conv(c_in, c_out):  # 3x3, no bias under BatchNorm
        return 9 * c_in * c_out

    def bn(c):  # gamma, beta
        return 2 * c

    n = (depth - 2) // 6
    total = conv(3, 16) + bn(16)
    c_in = 16
    for c in (16, 32, 64):
        for _ in range(n):
            total += conv(c_in, c) + conv(c, c) + 2 * bn(c)
            c_in = c
    return total + 64 * classes + classes


@pytest.mark.parametrize("depth", sorted(CIFAR_PAPER))
def test_cifar_resnet_relu_matches_the_paper(depth):
    """Exact against a layer-by-layer count, and equal to Table 6 at its printed precision.

    Table 6 prints two significant figures, so ResNet-110's 1,727,962 parameters
    (also torchvision-style reimplementations' count) show as "1.7M": 1.6% away
    from 1.7e6, which a plain 1% tolerance would wrongly reject. The other four
    are also within 1% of the printed figure.
    """
    params = zoo.info(f"resnet{depth}_relu")["params"]
    assert params == cifar_resnet_params(depth)
    printed = CIFAR_PAPER[depth]
    decimals = len(printed.split(".")[1])
    assert f"{params / 1e6:.{decimals}f}" == printed
    if depth != 110:
        assert abs(params / (float(printed) * 1e6) - 1) < 0.01


@pytest.mark.parametrize("depth", sorted(TORCHVISION))
def test_imagenet_resnet_relu_matches_torchvision(depth):
    assert zoo.info(f"resnet{depth}_relu")["params"] == TORCHVISION[depth]


@pytest.mark.parametrize("arch, input_shape", [("resnet20", (8, 8, 3)), ("mlp3x256", (5,))])
def test_prelu_adds_one_slope_per_channel_per_activation(arch, input_shape):
    def get(suffix):
        return zoo.get(f"{arch}_{suffix}", input_shape=input_shape)

    relu, prelu = get("relu"), get("prelu")
    acts = [layer for layer in prelu.layers if layer.name.rsplit("_", 1)[-1].startswith("act")]
    channels = sum(layer.input.shape[-1] for layer in acts)

    def count(model):
        return sum(math.prod(w.shape) for w in model.trainable_weights)

    assert count(prelu) == count(relu) + channels
    assert count(get("prelu_shared")) == count(relu) + len(acts)
    for suffix in ("leaky", "rrelu"):  # fixed-slope rectifiers add nothing
        assert count(get(suffix)) == count(relu)
    if arch == "resnet20":
        assert channels == 16 + 6 * (16 + 32 + 64)
