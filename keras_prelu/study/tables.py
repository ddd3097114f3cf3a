"""The report's Markdown tables, each from the study's `summary` (and the cells for per-seed rows).

    comparison_table(summary, fgsm_epsilon)      # rows: the seed's table; columns: activations
    claims_lines(summary)                        # one line per claim: agrees / disagrees / cannot tell
"""

import numpy as np

from keras_prelu.study.claims import accuracy_words, check_claims

DASH = "–"


def table_row(cells):
    return "| " + " | ".join(str(c) for c in cells) + " |"


def format_percent(value, digits=2):
    """A fraction as a percentage ("12.34%"), a dash for None."""
    return DASH if value is None else f"{100 * value:.{digits}f}%"


def format_interval(stats, percent=True, digits=2):
    """{"mean", "ci95", "n"} as "88.45% [88.10, 88.80]" (percent) or "0.123 [0.100, 0.146]";
    "(n=1)" without an interval, a dash without a mean."""
    if not stats or stats.get("mean") is None:
        return DASH
    scale, unit = (100.0, "%") if percent else (1.0, "")
    text = f"{scale * stats['mean']:.{digits}f}{unit}"
    if stats.get("ci95"):
        low, high = stats["ci95"]
        return f"{text} [{scale * low:.{digits}f}, {scale * high:.{digits}f}]"
    return f"{text} (n={stats.get('n', 1)})"


def format_ratio(stats):
    """{"median", "iqr"} of step-time ratios as "1.04x [1.01, 1.07]"."""
    if not stats or stats.get("median") is None:
        return DASH
    low, high = stats["iqr"]
    return f"{stats['median']:.2f}x [{low:.2f}, {high:.2f}]"


def format_slope(slope):
    """The negative-slope cell: fixed value, random range, or learned mean [min, max]."""
    if slope["kind"] == "learned":
        if slope["mean"] is None:
            return DASH
        return f"learned {slope['mean']:.3f} [{slope['min']:.3f}, {slope['max']:.3f}]"
    if slope["kind"] == "random":
        low, high = slope["training_range"]
        return f"U({low:.3f}, {high:.3f}) in training, {slope['value']:.3f} at inference"
    return f"fixed {slope['value']:g}"


def format_parameters(parameters):
    overhead = parameters["overhead"]
    extra = f" (+{overhead:,}, +{100 * parameters['overhead_fraction']:.2f}%)" if overhead else " (+0)"
    return f"{parameters['count']:,}{extra}"


def format_flexibility(flex, slope_kind):
    if slope_kind != "learned":
        return "0 (not learned)"
    if flex is None:
        return DASH
    return (f"moved {format_interval(flex['moved_share'], digits=1)}; shift "
            f"{format_interval(flex['mean_shift'], percent=False, digits=3)}; spread "
            f"{format_interval(flex['spread'], percent=False, digits=3)}")


def _fgsm_at(entry, epsilon):
    curve = entry["fgsm"]
    for value, stats in zip(curve["epsilons"], curve["accuracy"], strict=True):
        if abs(value - epsilon) < 1e-12:
            return stats
    return None


def comparison_table(summary, fgsm_epsilon):
    """The seed's table measured: one row per figure, one column per activation."""
    entries = summary["activations"]
    reference = summary["reference"]
    rows = [
        ("negative slope", lambda e: format_slope(e["negative_slope"])),
        ("dead units (zero gradient on every test input)", lambda e: format_interval(e["dead_fraction"])),
        ("never-positive units", lambda e: format_interval(e["never_positive_fraction"])),
        ("parameters (overhead)", lambda e: format_parameters(e["parameters"])),
        (f"training step vs {reference} (median [IQR])", lambda e: format_ratio(e["step_time_ratio"])),
        (f"inference step vs {reference} (median [IQR])",
         lambda e: format_ratio(e["inference_time_ratio"])),
        ("flexibility (slopes moved > threshold; mean shift; spread)",
         lambda e: format_flexibility(e["flexibility"], e["negative_slope"]["kind"])),
        ("test accuracy", lambda e: format_interval(e["test_accuracy"])),
        (f"accuracy vs {reference} (paired by seed)", accuracy_words),
        (f"FGSM accuracy (ε={fgsm_epsilon:g})", lambda e: format_interval(_fgsm_at(e, fgsm_epsilon))),
        ("zero input gradients", lambda e: format_interval(e["zero_input_gradient_fraction"])),
    ]
    lines = [table_row(["", *entries]), "|---|" + "---:|" * len(entries)]
    for label, cell in rows:
        lines.append(table_row([f"**{label}**", *(cell(e) for e in entries.values())]))
    return lines


def claims_lines(summary):
    """One line per row of the classic table: its claims, whether this run agrees, the figures."""
    lines = []
    for row, claim, verdict, detail in check_claims(summary):
        lines.append(f"- **{row}** ({claim}): **{verdict}**. {detail}.")
    return lines


def per_layer_table(results):
    """Per activation and rectifier layer: channels, negative fraction, never-positive, dead, idle,
    final slopes (means over seeds)."""
    lines = ["| activation | layer | channels | mean negative fraction | never-positive | dead "
             "| idle slopes | final slopes: mean [min, max] |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for activation, cells in results.items():
        for name in cells[0]["measurements"]["layers"]:
            per_seed = [c["measurements"]["layers"][name] for c in cells]
            stats = [s for s in (c["measurements"]["slopes"].get(name) for c in cells) if s]
            slope = (f"{np.mean([s['mean'] for s in stats]):.3f} [{min(s['min'] for s in stats):.3f}, "
                     f"{max(s['max'] for s in stats):.3f}]") if stats else DASH
            idle = (f"{np.mean([p['idle'] for p in per_seed]):g} of {per_seed[0]['slopes']}"
                    if per_seed[0]["slopes"] else DASH)
            lines.append(table_row([
                activation, name, per_seed[0]["channels"],
                f"{np.mean([np.mean(p['negative_fraction']) for p in per_seed]):.3f}",
                f"{np.mean([p['never_positive'] for p in per_seed]):g}",
                f"{np.mean([p.get('dead', 0) for p in per_seed]):g}", idle, slope]))
    return lines


def dead_over_epochs_table(summary, columns=8):
    """Dead-unit share per tracked epoch (mean over seeds), at most `columns` epochs shown."""
    series = {a: e["dead_over_epochs"] for a, e in summary["activations"].items()
              if e.get("dead_over_epochs")}
    if not series:
        return []
    epochs = next(iter(series.values()))["epoch"]
    shown = sorted(set(np.linspace(0, len(epochs) - 1, min(columns, len(epochs))).round().astype(int)))
    lines = [table_row(["activation", *(f"epoch {epochs[i]}" for i in shown)]),
             "|---|" + "---:|" * len(shown)]
    for activation, s in series.items():
        lines.append(table_row([activation, *(format_percent(s["mean"][i]) if i < len(s["mean"])
                                              else DASH for i in shown)]))
    return lines


def robustness_table(summary):
    """FGSM accuracy per epsilon (mean [95% CI]) per activation."""
    entries = summary["activations"]
    epsilons = next(iter(entries.values()))["fgsm"]["epsilons"]
    lines = [table_row(["activation", *(f"ε={e:g}" for e in epsilons)]),
             "|---|" + "---:|" * len(epsilons)]
    for activation, entry in entries.items():
        lines.append(table_row([activation, *(format_interval(s, digits=1)
                                              for s in entry["fgsm"]["accuracy"])]))
    return lines


def stability_table(summary):
    """Each activation's model at initialisation: gradient flow and balancing slope."""
    rows = [(a, e["stability"]) for a, e in summary["activations"].items() if e.get("stability")]
    if not rows:
        return []
    lines = ["| activation | grad norm first / last weight layer | longest chain (layers) "
             "| balancing slope a* | negative-path gain | end-to-end gain | status | flags |",
             "|---|---:|---:|---:|---:|---:|---|---:|"]
    for activation, s in rows:
        ratio = s["grad_norm_first_last"]
        gain = s["end_to_end_gain"]
        lines.append(table_row([
            activation, DASH if ratio is None else f"{ratio:.3g}", s["longest_chain"],
            f"{s['balancing_slope']:.3g}", f"{s['negative_path_gain']:.3g}",
            DASH if gain is None else f"{gain:.3g}", s["status"], len(s["flags"])]))
    return lines


def bn_pairs_lines(results):
    """The BatchNorm -> PReLU pairs of each learnable activation's first seed, after training."""
    lines = []
    for activation, cells in results.items():
        pairs = cells[0]["measurements"].get("bn_prelu_pairs")
        if not pairs:
            continue
        gammas = [p["gamma_min"] for p in pairs] + [p["gamma_max"] for p in pairs]
        slopes = [p["slope_min"] for p in pairs] + [p["slope_max"] for p in pairs]
        negative = sum(p["negative_scale_channels"] for p in pairs)
        lines.append(
            f"- {activation} (seed {cells[0]['seed']}): {len(pairs)} BatchNorm -> PReLU pairs; "
            f"BatchNorm scale γ in [{min(gammas):.3g}, {max(gammas):.3g}], slopes in "
            f"[{min(slopes):.3g}, {max(slopes):.3g}], {negative} channel(s) with γ < 0. Each pair is "
            "non-identifiable: (γ, β, a, W_next) and (c·γ, c·β, a, W_next/c) compute the same function.")
    return lines


def per_seed_table(results):
    lines = ["| activation | seed | test accuracy | final train accuracy | epochs | training time "
             "| images/s (median epoch) | dead | never-positive | idle | zero input gradients "
             "| FGSM |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for activation, cells in results.items():
        for cell in cells:
            res, m = cell["card"]["results"], cell["measurements"]
            lines.append(table_row([
                activation, cell["seed"], format_percent(res["test_accuracy"]),
                format_percent(res.get("final_train_accuracy")), res["epochs"],
                f"{res['training_seconds']:.1f} s", f"{res['median_images_per_second']:,.0f}",
                format_percent(m.get("dead_fraction")), format_percent(m["never_positive_fraction"]),
                format_percent(m["idle_fraction"]), format_percent(m["zero_input_gradient_fraction"]),
                format_percent(m["fgsm_accuracy"]),
            ]))
    return lines


def speed_rounds_table(timing, reference):
    """Per activation and round: training and inference milliseconds per step."""
    rounds = len(timing["train"][reference]) if reference in timing["train"] else timing["rounds"]
    lines = [table_row(["activation", "step", *(f"round {i + 1}" for i in range(rounds))]),
             "|---|---|" + "---:|" * rounds]
    for activation in timing["train"]:
        for part in ("train", "inference"):
            lines.append(table_row([activation, part,
                                    *(f"{1000 * v:.2f} ms" for v in timing[part][activation])]))
    return lines
