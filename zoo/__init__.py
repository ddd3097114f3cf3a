"""The model zoo: ready-made networks for every rectifier, by name.

    import zoo
    model = zoo.get("resnet56_prelu", num_classes=100)
    zoo.list_models("resnet*", exclude="*_rrelu")
    zoo.info("resnet20_relu")["params"]   # 269,722

Importing the package registers every family's variants.
"""

from zoo import layers  # noqa: F401  (registers ZeroPadShortcut for .keras loading)
from zoo.cifar_resnet import build_cifar_resnet
from zoo.imagenet_resnet import build_imagenet_resnet
from zoo.mlp import build_mlp
from zoo.registry import get, info, list_models, register
from zoo.layers import ZeroPadShortcut
from zoo.weights import RUN_WEIGHT_FILES, load_weights

__all__ = [
    "RUN_WEIGHT_FILES",
    "ZeroPadShortcut",
    "build_cifar_resnet",
    "build_imagenet_resnet",
    "build_mlp",
    "get",
    "info",
    "list_models",
    "load_weights",
    "register",
]
