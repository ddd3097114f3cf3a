"""Numbers pooled over a study's seeds: one row per activation, mean curves, pooled slopes.

    results = cell_results(study)                       # keras_prelu.study.cells
    rows = activation_rows(results, study.state["timing"])
    rows[0]["test_accuracy"]                            # (mean, sample sd or None)
"""

import math

import numpy as np


def mean_sd(values):
    """(mean, sample standard deviation) of the values that are not None; sd is None for one value,
    both are None for none."""
    values = [float(v) for v in values if v is not None]
    if not values:
        return None, None
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return float(np.mean(values)), sd


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


def _best_step_seconds(timing):
    """{activation: fastest seconds per step} of the study's timing (empty without timing)."""
    seconds = (timing or {}).get("seconds_per_step", {})
    return {a: min(v) for a, v in seconds.items() if v}


def activation_rows(results, timing):
    """One dict per activation (the report's main table) from `cell_results` and the study's timing."""
    best = _best_step_seconds(timing)
    reference = best.get("relu")
    rows = []
    for activation, cells in results.items():
        accuracy = [c["card"]["results"]["test_accuracy"] for c in cells]
        measured = [c["measurements"] for c in cells]
        step = best.get(activation)
        rows.append({
            "activation": activation,
            "model": cells[0]["card"]["model"],
            "seeds": [c["seed"] for c in cells],
            "test_accuracy": mean_sd(accuracy),
            "test_accuracy_per_seed": accuracy,
            "never_positive": mean_sd([m["never_positive_fraction"] for m in measured])[0],
            "idle": mean_sd([m["idle_fraction"] for m in measured])[0],
            "parameters": measured[0]["trainable_parameters"],
            "step_seconds": step,
            "step_vs_relu": step / reference if step and reference else None,
            "slopes": pooled_slopes(cells),
            "fixed_slope": measured[0]["fixed_slope"],
            "zero_gradient": mean_sd([m["zero_input_gradient_fraction"] for m in measured])[0],
            "fgsm_accuracy": mean_sd([m["fgsm_accuracy"] for m in measured]),
            "train_images_per_second": float(np.median(
                [c["card"]["results"]["median_images_per_second"] for c in cells])),
        })
    return rows
