"""Numbers pooled over a study's seeds: the `summary` section of study.json, from which the report
is written, and the series the figures draw.

    results = cell_results(study)                       # keras_prelu.study.cells
    summary = summarize(results, study.state)
    summary["activations"]["prelu"]["test_accuracy"]    # {"mean", "ci95": [lo, hi], "n", "sd"}
    summary["activations"]["prelu"]["test_accuracy_difference"]   # paired with ReLU, same seeds

Accuracies, dead and never-positive shares, flexibility, zero input gradients
and FGSM accuracies are means over seeds with 95% t-intervals; differences to
the reference activation (ReLU when present) are paired by seed (same
initialisation and data order). Step times are medians of same-round ratios
with their interquartile range (see `keras_prelu.study.timing`).
"""

import math

import numpy as np

from keras_prelu import activations as activation_table
from keras_prelu.study.names import reference_activation
from keras_prelu.study.statistics import mean_interval, median_iqr, paired_difference
from keras_prelu.study.timing import round_ratios

SUMMARY_FORMAT = 1
# Shares and accuracies lie in [0, 1]: their intervals are clipped to it.
SHARE = (0.0, 1.0)
# Per-seed figures that get a mean with its interval, and a paired difference to the reference.
_PAIRED = {
    "test_accuracy": lambda cell: cell["card"]["results"]["test_accuracy"],
    "dead_fraction": lambda cell: cell["measurements"].get("dead_fraction"),
    "never_positive_fraction": lambda cell: cell["measurements"]["never_positive_fraction"],
    "zero_input_gradient_fraction": lambda cell: cell["measurements"]["zero_input_gradient_fraction"],
}


def mean_series(series_list):
    """Element-wise mean of lists, cut to the shortest (None entries skipped)."""
    arrays = [np.asarray([np.nan if v is None else v for v in s], np.float64) for s in series_list]
    length = min(len(a) for a in arrays)
    return [float(v) for v in np.nanmean(np.stack([a[:length] for a in arrays]), axis=0)]


def pooled_slopes(cells):
    """Final learned slopes over all layers and seeds: mean (channel-weighted), min, max; None if none."""
    total, count, low, high = 0.0, 0, math.inf, -math.inf
    for cell in cells:
        for stats in cell["measurements"]["slopes"].values():
            total += stats["mean"] * stats["count"]
            count += stats["count"]
            low, high = min(low, stats["min"]), max(high, stats["max"])
    if not count:
        return None
    return {"mean": total / count, "min": low, "max": high}


def slope_trajectories(cells):
    """Per layer, the seed-mean of the per-epoch mean slope, the min of mins and max of maxes."""
    layers = {}
    for cell in cells:
        for name, entry in cell["history"].get("slopes", {}).items():
            layers.setdefault(name, []).append(entry)
    merged = {}
    for name, entries in layers.items():
        merged[name] = {
            "mean": mean_series([e["mean"] for e in entries]),
            "min": [float(v) for v in np.nanmin(np.asarray([e["min"] for e in entries], np.float64), 0)],
            "max": [float(v) for v in np.nanmax(np.asarray([e["max"] for e in entries], np.float64), 0)],
        }
    return merged


def _by_seed(cells, value_of):
    """{seed: value} of the finished cells."""
    return {cell["seed"]: value_of(cell) for cell in cells}


def _paired(values, reference_values):
    """The paired difference of two {seed: value} maps over the seeds both have."""
    seeds = sorted(set(values) & set(reference_values))
    return paired_difference([values[s] for s in seeds], [reference_values[s] for s in seeds])


def tracked_series(cells, key):
    """Per tracked epoch (0 = initialisation), the mean and 95% interval over seeds of
    `history["tracked"][key]`: {"epoch": [...], "mean": [...], "ci95": [[lo, hi] or None, ...],
    "n": cells tracking it}; values are matched by epoch, None values left out; None when no
    cell tracked it."""
    by_epoch, n = {}, 0
    for cell in cells:
        tracked = cell["history"].get("tracked") or {}
        values = [(e, v) for e, v in zip(tracked.get("epoch", []), tracked.get(key) or [])
                  if v is not None]
        n += bool(values)
        for epoch, value in values:
            by_epoch.setdefault(epoch, []).append(value)
    if not by_epoch:
        return None
    epochs = sorted(by_epoch)
    points = [mean_interval(by_epoch[e], bounds=SHARE) for e in epochs]
    return {"epoch": epochs, "mean": [p["mean"] for p in points], "ci95": [p["ci95"] for p in points],
            "n": n}


def _negative_slope(activation, cells):
    """The negative slope row: fixed value, random training range, or the learned slopes."""
    spec = activation_table.activation_spec(activation)
    if spec.learnable:
        pooled = pooled_slopes(cells)
        if pooled is None:
            return {"kind": "learned", "mean": None, "min": None, "max": None, "per_layer": {}}
        return {"kind": "learned", **pooled, "per_layer": _per_layer_slopes(cells)}
    value = activation_table.inference_slope(activation)
    layer = spec.factory()
    if hasattr(layer, "lower") and hasattr(layer, "upper"):
        return {"kind": "random", "value": value,
                "training_range": [float(layer.lower), float(layer.upper)]}
    return {"kind": "fixed", "value": value}


def _per_layer_slopes(cells):
    """Per layer: mean over seeds of the layer's mean slope, min of mins, max of maxes."""
    names = list(cells[0]["measurements"]["slopes"])
    merged = {}
    for name in names:
        stats = [c["measurements"]["slopes"][name] for c in cells if name in c["measurements"]["slopes"]]
        merged[name] = {"mean": float(np.mean([s["mean"] for s in stats])),
                        "min": float(min(s["min"] for s in stats)),
                        "max": float(max(s["max"] for s in stats)), "count": stats[0]["count"]}
    return merged


def _flexibility(cells):
    """Mean and interval over seeds of each flexibility figure; None when a cell lacks it."""
    entries = [c["measurements"].get("flexibility") for c in cells]
    if any(e is None for e in entries):
        return None
    return {"spread": mean_interval([e["spread"] for e in entries], bounds=(0.0, math.inf)),
            "mean_shift": mean_interval([e["mean_shift"] for e in entries], bounds=(0.0, math.inf)),
            "moved_share": mean_interval([e["moved_share"] for e in entries], bounds=SHARE),
            "slopes": entries[0]["slopes"]}


def _fgsm(cells):
    curves = [c["measurements"]["fgsm"] for c in cells]
    epsilons = curves[0]["epsilons"]
    return {"epsilons": epsilons,
            "accuracy": [mean_interval([c["accuracy"][i] for c in curves if len(c["accuracy"]) > i],
                                       bounds=SHARE)
                         for i in range(len(epsilons))]}


def _speed(timing, reference):
    """{activation: {"train": median_iqr, "inference": median_iqr}} of same-round ratios."""
    if not timing or "train" not in timing:
        return {}
    ratios = {part: round_ratios(timing[part], reference) for part in ("train", "inference")}
    return {activation: {part: median_iqr(ratios[part].get(activation, [])) for part in ratios}
            for activation in timing["train"]}


def _activation_summary(activation, cells, reference_cells, reference_parameters, speed, stability):
    entry = {"model": cells[0]["card"]["model"], "seeds": [c["seed"] for c in cells]}
    for key, value_of in _PAIRED.items():
        values = _by_seed(cells, value_of)
        entry[key] = mean_interval(list(values.values()), bounds=SHARE) | {"per_seed": list(values.values())}
        if reference_cells is not None:
            entry[f"{key}_difference"] = _paired(values, _by_seed(reference_cells, value_of))
    idle = [c["measurements"]["idle_fraction"] for c in cells]
    entry["idle_fraction"] = None if all(v is None for v in idle) else mean_interval(idle, bounds=SHARE)
    parameters = cells[0]["measurements"]["trainable_parameters"]
    entry["parameters"] = {"count": parameters, "overhead": parameters - reference_parameters,
                           "overhead_fraction": (parameters - reference_parameters) / reference_parameters}
    entry["negative_slope"] = _negative_slope(activation, cells)
    entry["flexibility"] = _flexibility(cells)
    entry["fgsm"] = _fgsm(cells)
    entry["dead_over_epochs"] = tracked_series(cells, "dead_fraction")
    entry["never_positive_over_epochs"] = tracked_series(cells, "never_positive_fraction")
    entry["step_time_ratio"] = speed.get(activation, {}).get("train")
    entry["inference_time_ratio"] = speed.get(activation, {}).get("inference")
    entry["stability"] = stability.get(activation)
    return entry


def summarize(results, state):
    """The study's `summary`: per activation the figures above, the reference, seeds, timing facts."""
    activations = list(results)
    reference = reference_activation(activations)
    reference_cells = results[reference]
    reference_parameters = reference_cells[0]["measurements"]["trainable_parameters"]
    timing = state.get("timing")
    speed = _speed(timing, reference)
    stability = state.get("stability") or {}
    summary = {"format": SUMMARY_FORMAT, "reference": reference,
               "seeds": state["settings"]["seeds"], "activations": {}}
    for activation, cells in results.items():
        paired_with = None if activation == reference else reference_cells
        summary["activations"][activation] = _activation_summary(
            activation, cells, paired_with, reference_parameters, speed, stability)
    if timing and "train" in timing:
        summary["timing"] = {k: timing.get(k) for k in ("steps", "rounds", "batch_size",
                                                        "load_average", "cpu_count", "measured")}
    summary["diverged"] = {cid: cell.get("error") for cid, cell in state["cells"].items()
                           if cell.get("status") == "diverged"}
    return summary
