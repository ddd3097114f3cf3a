"""The model card of a finished run: what was trained, on what, how, and how well (JSON and Markdown)."""

import datetime
import os
import platform
import sys

import importlib.metadata

import keras
import numpy as np

import zoo
from keras_prelu.training import distribute
from keras_prelu.utils.backends import backend
from keras_prelu.utils.run_layout import FINAL_FILES_KEY


def median_images_per_second(history):
    """Median images/s over the epochs, leaving out the first (it traces and compiles) when there are more."""
    rates = history.get("images_per_second") or []
    rates = rates[1:] if len(rates) > 1 else rates
    return float(np.median(rates)) if rates else float("nan")


def backend_version(name=None):
    """The installed version of a Keras backend's package ("tensorflow", "jax", "torch"), or None."""
    name = name or backend()
    if name in sys.modules:  # imported, or refused (None)
        module = sys.modules[name]
        return None if module is None else str(getattr(module, "__version__", "")) or None
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment(strategy):
    """Where the run trained: backend, device, replicas, strategy, platform and library versions."""
    name = backend()
    return {
        "backend": name,
        "backend_version": backend_version(name),
        "device": distribute.device_type(),
        "replicas": strategy.num_replicas_in_sync,
        "strategy": distribute.strategy_name(strategy),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
        "tensorflow": backend_version("tensorflow"),
        "keras": keras.__version__,
    }


def _model_info(name, model, data_info):
    """The registry's description of the zoo model, from the trained model itself (no second build)."""
    info = zoo.info(name, model=model)
    described = {k: info[k] for k in ("family", "depth", "width", "activation", "paper")
                 if info.get(k) is not None}
    described["trainable_parameters"] = int(sum(int(np.prod(v.shape)) for v in model.trainable_variables))
    described["input_shape"] = list(data_info.image_shape)
    described["num_classes"] = data_info.num_classes
    return described


def _results(history, test, seconds):
    results = {
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "test_examples": test["examples"],
        "epochs": len(history["loss"]),
        "final_train_accuracy": history["accuracy"][-1] if history["accuracy"] else None,
        "training_seconds": round(seconds, 1),
        "median_images_per_second": round(median_images_per_second(history), 1),
    }
    if history["val_accuracy"]:
        best = int(np.argmax(history["val_accuracy"]))
        results["best_val_accuracy"] = history["val_accuracy"][best]
        results["best_val_epoch"] = best + 1
    if history["slopes"]:
        results["final_mean_slopes"] = {k: v["mean"][-1] for k, v in history["slopes"].items()}
    return results


def build_model_card(settings, recipe, data, trainer, strategy, history, test, seconds, sessions,
                     command, version, xla_decision=None, final_files=None):
    """The card's dict: model, dataset, recipe, training, results, environment, command, and the
    digests of the final files (by which a replaced file is recognised later)."""
    return {
        "model": settings.model,
        "dataset": {**data.info.to_dict(),
                    "validation": "held-out part of train" if data.has_val else "test split"},
        "model_info": _model_info(settings.model, trainer.model, data.info),
        "recipe": recipe.to_dict(),
        "training": {
            "precision": settings.precision,
            "compiler": trainer.compiler,
            "xla": trainer.jit_compile,
            "xla_setting": settings.jit_compile,
            "xla_autotune": trainer.autotune,
            "xla_decision": xla_decision,
            "seed": settings.seed,
            "sessions": sessions,
            "finished": datetime.datetime.now().isoformat(timespec="seconds"),
        },
        "results": _results(history, test, seconds),
        "environment": environment(strategy),
        "command": command or "",
        "keras_prelu_version": version,
        FINAL_FILES_KEY: final_files or {},
    }



def _format(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_format(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k} {_format(v)}" for k, v in value.items())
    return str(value)


def model_card_markdown(card):
    """A short human-readable card from the model-card dict."""
    lines = [f"# {card.get('model', 'model')} on {card.get('dataset', {}).get('name', '?')}", ""]
    results = card.get("results", {})
    if results:
        lines += ["## Results", ""]
        if "test_accuracy" in results:
            lines.append(f"- test accuracy: **{100 * results['test_accuracy']:.2f}%** "
                         f"({results.get('test_examples', '?')} images, split "
                         f"`{card.get('dataset', {}).get('test_split', 'test')}`)")
        for key, value in results.items():
            if key not in ("test_accuracy",):
                lines.append(f"- {key.replace('_', ' ')}: {_format(value)}")
        lines.append("")
    for section in ("model_info", "dataset", "recipe", "training", "environment"):
        if card.get(section):
            lines += [f"## {section.replace('_', ' ').capitalize()}", ""]
            for key, value in card[section].items():
                lines.append(f"- {key.replace('_', ' ')}: {_format(value)}")
            lines.append("")
    if card.get("command"):
        lines += ["## Command", "", "```", card["command"], "```", ""]
    return "\n".join(lines)
