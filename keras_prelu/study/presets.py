"""Named study settings where the phenomena show: a model, a dataset, a recipe, seeds and epochs.

    preset("dying-relu").settings()     # {"model": "mlp30x128", "dataset": "digits", ...}
    keras-prelu compare --preset dying-relu            # every flag still overrides
    keras-prelu compare --list-presets

A preset only fills what the user left unset; `resolve` merges them.
"""

import dataclasses

from keras_prelu.study.names import StudyError
from keras_prelu.utils.validation import close_matches


@dataclasses.dataclass(frozen=True)
class Preset:
    """A study setting: what it shows, and the `compare` arguments that give it."""

    name: str
    shows: str
    model: str
    dataset: str
    seeds: int
    epochs: int
    recipe: str = "default"
    learning_rate: float | None = None
    batch_size: int | None = None
    steps_per_epoch: int | None = None
    attack_examples: int | None = None
    budget: str = ""
    needs: str = ""

    def settings(self):
        """The `compare` keyword arguments this preset sets (unset ones left out)."""
        names = ("model", "dataset", "seeds", "epochs", "recipe", "learning_rate", "batch_size",
                 "steps_per_epoch", "attack_examples")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


PRESETS = {
    preset.name: preset
    for preset in (
        Preset(
            name="dying-relu",
            shows="dead ReLU units: in a 30-layer MLP a large share of the ReLU units is never "
            "positive on any test image, from initialisation on (deep ReLU stacks map all inputs "
            "to similar representations), and a high learning rate (AdamW 3e-3) does not revive "
            "them; leaky and learnable slopes keep every unit's gradient",
            model="mlp30x128", dataset="digits", seeds=5, epochs=8, learning_rate=3e-3,
            budget="under 10 minutes on 2 CPU cores (9.5 measured)",
            needs="nothing (bundled digits)",
        ),
        Preset(
            name="cnn",
            shows="a CIFAR-style ResNet-20 on real images (Fashion-MNIST): accuracy, slopes, "
            "dead units and robustness of a convolutional network with BatchNorm",
            model="resnet20", dataset="fashion_mnist", seeds=5, epochs=2, steps_per_epoch=25,
            recipe="default", learning_rate=3e-3, attack_examples=500,
            budget="about 35 minutes on 2 CPU cores (37.5 measured while other jobs ran)",
            needs="Fashion-MNIST prepared for TFDS (--data-dir ../shared/data/tensorflow_datasets)",
        ),
    )
}


def preset(name):
    """The preset called `name`; an unknown name raises StudyError listing the known ones."""
    found = PRESETS.get(name)
    if found is None:
        close = close_matches(str(name), list(PRESETS), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise StudyError(f"unknown preset {name!r}{hint}: known presets are {', '.join(PRESETS)}")
    return found


def resolve(name, given):
    """`given` compare arguments with the preset's values filled in where `given` has None."""
    if name is None:
        return dict(given)
    merged = dict(given)
    for key, value in preset(name).settings().items():
        if merged.get(key) is None:
            merged[key] = value
    return merged


def listing():
    """The presets as text: name, what it shows, model, dataset, budget, needs (one block each)."""
    blocks = []
    for p in PRESETS.values():
        extra = ", ".join(f"{k}={v}" for k, v in p.settings().items() if k not in ("model", "dataset"))
        blocks.append(f"{p.name}: {p.shows}.\n  {p.model} on {p.dataset}, {extra}\n"
                      f"  budget: {p.budget}; needs: {p.needs}")
    return "\n".join(blocks)
