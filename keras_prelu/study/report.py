"""The study's Markdown report: the command at the top, one row per activation, per-seed and
per-layer tables, the step-time rounds, the figures and the environment.

    write_report("runs/study")        # figures and runs/study/report.md of a finished study
"""

import os
import pathlib
import platform

import numpy as np

from keras_prelu.study.aggregate import activation_rows
from keras_prelu.study.cells import REPORT_FILE, Study, cell_results, now
from keras_prelu.study.figures import make_figures
from keras_prelu.study.measurements import IDLE_THRESHOLD
from keras_prelu.utils.files import atomic_write_text

DASH = "–"
MAIN_COLUMNS = ("activation", "test accuracy (mean ± sd)", "never-positive units", "idle slopes",
                "parameters", "step time", "vs ReLU", "final slopes: mean [min, max]",
                "zero input gradients")
_FIGURE_TITLES = {
    "activations": "Activation functions and their derivatives",
    "loss_curves": "Loss and accuracy per epoch (mean over seeds; test = the test split)",
    "fgsm": "FGSM accuracy against ε (mean over seeds)",
}


# -- formatting ---------------------------------------------------------------------------------
def plural(count, word):
    """"1 epoch", "3 epochs"."""
    return f"{count:g} {word}" + ("" if count == 1 else "s")


def format_percent(value, digits=2):
    """A fraction as a percentage ("12.34%"), a dash for None."""
    return DASH if value is None else f"{100 * value:.{digits}f}%"


def format_accuracy(pair):
    """A (mean, sd) pair of accuracies as "85.00% ± 5.00" (no spread without sd), a dash without mean."""
    mean, sd = pair
    if mean is None:
        return DASH
    return f"{100 * mean:.2f}%" + (f" ± {100 * sd:.2f}" if sd is not None else "")


def format_slopes(row):
    """A row's final slopes: pooled learned "mean [min, max]", or the fixed inference slope."""
    if row["slopes"] is not None:
        s = row["slopes"]
        return f"{s['mean']:.3f} [{s['min']:.3f}, {s['max']:.3f}]"
    if row["activation"] == "rrelu":
        return f"{row['fixed_slope']:.3f} (fixed at inference)"
    return f"{row['fixed_slope']:g} (fixed)"


def _idle_percent(value):
    return DASH if value is None else format_percent(value)


def _table_row(cells):
    return "| " + " | ".join(str(c) for c in cells) + " |"


# -- sections -----------------------------------------------------------------------------------
def _command_lines(commands):
    lines = ["Command:", "", "```", commands[0]["command"], "```", ""]
    if len(commands) > 1:
        lines += ["Continued (resumed) with:", "", "```"]
        lines += [c["command"] for c in commands[1:]]
        lines += ["```", ""]
    return lines


def _setup_line(settings, dataset):
    return (
        f"Same architecture, seeds {', '.join(map(str, settings['seeds']))}, data order and budget "
        f"for every activation: recipe `{settings['recipe']}`, {plural(settings['epochs'], 'epoch')}, batch "
        f"{settings['batch_size']}, peak learning rate {settings['learning_rate']:g}, warmup "
        f"{plural(settings['warmup_epochs'], 'epoch')}. Dataset `{dataset['name']}` ({dataset['source']}): "
        f"{dataset['train_examples']} training and {dataset['test_examples']} test images. "
        f"Measurements on the test split."
    )


def _main_table(rows, eps):
    lines = [
        _table_row([*MAIN_COLUMNS, f"FGSM accuracy (ε={eps:g})"]),
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for row in rows:
        step = DASH if row["step_seconds"] is None else f"{1000 * row['step_seconds']:.2f} ms"
        ratio = DASH if row["step_vs_relu"] is None else f"{row['step_vs_relu']:.2f}x"
        lines.append(_table_row([
            row["activation"], format_accuracy(row["test_accuracy"]),
            format_percent(row["never_positive"]), _idle_percent(row["idle"]),
            f"{row['parameters']:,}", step, ratio, format_slopes(row),
            format_percent(row["zero_gradient"]), format_accuracy(row["fgsm_accuracy"]),
        ]))
    return lines


def _step_time_note(timing, environment):
    if not timing:
        return "- step time: not measured (timing switched off)."
    load = timing.get("load_average")
    return (
        f"- step time: one training step (forward, backward, update) on a batch of "
        f"{timing['batch_size']}, the fastest of {timing['rounds']} interleaved rounds of "
        f"{timing['steps']} steps after compilation, on {environment.get('device', 'CPU')} "
        f"({timing.get('cpu_count')} cores"
        + (f", load average {load[0]:.1f} when measured" if load else "") + "); "
        "vs ReLU: ratio to ReLU's time."
    )


def _column_notes(n_seeds, attack_n, eps, timing, environment):
    return [
        "Columns:",
        f"- test accuracy: mean over {n_seeds} seed(s) ± sample standard deviation"
        + (" (one seed: no spread)" if n_seeds == 1 else "") + ".",
        "- never-positive units: share of rectifier channels whose input is never positive on the "
        "test split. For ReLU these units are dead (output and gradient zero); with a negative "
        "slope they still pass a gradient scaled by it.",
        f"- idle slopes: share of learnable slopes whose inputs are negative less than "
        f"{IDLE_THRESHOLD:.0%} of the time on the test split (a slope only learns from negative "
        "inputs; a per-channel slope sees its channel, a shared slope its whole layer); – for "
        "fixed slopes.",
        "- parameters: trainable parameters.",
        _step_time_note(timing, environment),
        "- final slopes: the learned negative slopes of all PReLU layers after training, pooled over "
        "channels, layers and seeds (mean, then min and max); fixed slopes as used at inference.",
        f"- zero input gradients: share of exactly-zero entries of d(loss)/d(pixel) on {attack_n} "
        "test images (mean over seeds). A pixel's gradient is exactly zero only when every path "
        "from it is blocked; in an MLP every pixel reaches every first-layer unit, so that takes "
        "all of them being inactive for the image.",
        f"- FGSM accuracy: accuracy on the same {attack_n} test images after one fast-gradient-sign "
        f"step of ε={eps:g} in [0, 1] pixel units (clipped to [0, 1]), mean ± sd over seeds.",
    ]


def _per_seed_table(results):
    lines = [
        "## Per seed",
        "",
        "| activation | seed | test accuracy | final train accuracy | epochs | training time "
        "| images/s (median epoch) | never-positive | idle | zero input gradients "
        "| attack subset: clean accuracy | FGSM |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for activation, cells in results.items():
        for cell in cells:
            res, m = cell["card"]["results"], cell["measurements"]
            lines.append(_table_row([
                activation, cell["seed"], format_percent(res["test_accuracy"]),
                format_percent(res.get("final_train_accuracy")), res["epochs"],
                f"{res['training_seconds']:.1f} s", f"{res['median_images_per_second']:,.0f}",
                format_percent(m["never_positive_fraction"]), _idle_percent(m["idle_fraction"]),
                format_percent(m["zero_input_gradient_fraction"]),
                format_percent(m["fgsm"]["accuracy"][0]), format_percent(m["fgsm_accuracy"]),
            ]))
    return lines


def _layer_row(activation, name, cells):
    per_seed = [c["measurements"]["layers"][name] for c in cells]
    mean_negative = float(np.mean([np.mean(p["negative_fraction"]) for p in per_seed]))
    slope_stats = [s for s in (c["measurements"]["slopes"].get(name) for c in cells) if s]
    slope = (f"{np.mean([s['mean'] for s in slope_stats]):.3f} "
             f"[{min(s['min'] for s in slope_stats):.3f}, "
             f"{max(s['max'] for s in slope_stats):.3f}]") if slope_stats else DASH
    idle = (f"{np.mean([p['idle'] for p in per_seed]):g} of {per_seed[0]['slopes']}"
            if per_seed[0]["slopes"] else DASH)
    return _table_row([activation, name, per_seed[0]["channels"], f"{mean_negative:.3f}",
                       f"{np.mean([p['never_positive'] for p in per_seed]):g}", idle, slope])


def _per_layer_table(results):
    lines = [
        "## Per layer (mean over seeds)",
        "",
        "| activation | layer | channels | mean negative fraction | never-positive channels "
        "| idle slopes | final slopes: mean [min, max] |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for activation, cells in results.items():
        for name in cells[0]["measurements"]["layers"]:
            lines.append(_layer_row(activation, name, cells))
    return lines


def _timing_table(activations, timing):
    lines = ["## Step time rounds", "",
             "| activation | " + " | ".join(f"round {i + 1}" for i in range(timing["rounds"])) + " |",
             "|---|" + "---:|" * timing["rounds"]]
    for activation in activations:
        values = timing["seconds_per_step"].get(activation, [])
        lines.append(f"| {activation} | " + " | ".join(f"{1000 * v:.2f} ms" for v in values) + " |")
    return lines


def _figure_title(label):
    if label.startswith("slopes_"):
        return (f"{label[len('slopes_'):]}: slope per layer and epoch (epoch 0 = initial; "
                "mean over seeds, band = min to max)")
    if label.startswith("negative_fraction_"):
        return (f"{label[len('negative_fraction_'):]}: per-channel fraction of negative inputs "
                "per layer (test split, all seeds)")
    return _FIGURE_TITLES.get(label, label)


def _figure_lines(study_path, figures):
    lines = ["## Figures", ""]
    for label, path in figures.items():
        relative = pathlib.Path(path).relative_to(study_path).as_posix()
        lines += [f"### {_figure_title(label)}", "", f"![{label}]({relative})", ""]
    return lines


def _environment_lines(environment, created):
    return [
        "## Environment",
        "",
        f"- {environment.get('platform', platform.platform(terse=True))}, Python "
        f"{environment.get('python', platform.python_version())}, TensorFlow "
        f"{environment.get('tensorflow', '?')}, Keras {environment.get('keras', '?')}, "
        f"{environment.get('cpu_count', os.cpu_count())} CPU cores, device "
        f"{environment.get('device', '?')}",
        f"- study started {created}; report written {now()}",
        "",
    ]


# -- the report ---------------------------------------------------------------------------------
def report_markdown(study, rows, figures):
    """The Markdown text of a loaded study's report, from its `activation_rows` and `figures`."""
    state = study.state
    settings = state["settings"]
    results = cell_results(study)
    first = next(iter(results.values()))[0]
    environment = first["card"].get("environment", {})
    eps = settings["fgsm_epsilon"]
    timing = state.get("timing")
    attack_n = first["measurements"]["attack_examples"]
    lines = [f"# Activation study: {settings['architecture']} on {settings['dataset']}", ""]
    lines += _command_lines(state["commands"])
    lines += [_setup_line(settings, first["card"]["dataset"]), ""]
    lines += _main_table(rows, eps)
    lines += [""] + _column_notes(len(settings["seeds"]), attack_n, eps, timing, environment)
    lines += [""] + _per_seed_table(results)
    lines += [""] + _per_layer_table(results)
    if timing:
        lines += [""] + _timing_table(settings["activations"], timing)
    lines += [""] + _figure_lines(study.path, figures)
    lines += _environment_lines(environment, state["created"])
    return "\n".join(lines)


def write_report(path):
    """Figures and `report.md` of a finished study directory; {"report", "figures", "rows"}."""
    study = Study(path)
    study.load()
    rows = activation_rows(cell_results(study), study.state.get("timing"))
    figures = make_figures(study)
    text = report_markdown(study, rows, figures)
    report = atomic_write_text(study.path / REPORT_FILE, text)
    return {"report": pathlib.Path(report), "figures": figures, "rows": rows}
