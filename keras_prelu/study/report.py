"""The study's Markdown report, generated from the `summary` section it writes into study.json:
the command at the top, the comparison table with the classic claims checked, then per-layer,
dead-units, robustness, stability, per-seed and speed tables, the figures and the environment.

    write_report("runs/study")        # summary, figures and runs/study/report.md of a finished study
"""

import os
import pathlib
import platform

from keras_prelu.study import tables
from keras_prelu.study.aggregate import summarize
from keras_prelu.study.cells import REPORT_FILE, Study, cell_results, now
from keras_prelu.study.figures import make_figures
from keras_prelu.study.measurements import IDLE_THRESHOLD, MOVED_THRESHOLD, TRACKED_EXAMPLES
from keras_prelu.utils.files import atomic_write_text

# Re-exported: the report's number formats.
format_percent = tables.format_percent
format_interval = tables.format_interval

_FIGURE_TITLES = {
    "activations": "Activation functions and their derivatives (learned mean slopes; RReLU's "
                   "training range shaded)",
    "loss_curves": "Loss and accuracy per epoch (mean over seeds, band = 95% interval; "
                   "dashed = train, solid = test split)",
    "dead_units": "Dead and never-positive units per epoch (epoch 0 = initialisation; mean over "
                  "seeds, band = 95% interval)",
    "fgsm": "FGSM accuracy against ε (mean over seeds, error bars = 95% interval)",
}


def plural(count, word):
    """"1 epoch", "3 epochs"."""
    return f"{count:g} {word}" + ("" if count == 1 else "s")


def _command_lines(commands):
    lines = ["Command:", "", "```", commands[0]["command"], "```", ""]
    if len(commands) > 1:
        lines += ["Continued (resumed) with:", "", "```"]
        lines += [c["command"] for c in commands[1:]]
        lines += ["```", ""]
    return lines


def _setup_line(settings, dataset):
    steps = settings.get("steps_per_epoch")
    budget = plural(settings["epochs"], "epoch") + (f" of {plural(steps, 'step')}" if steps else "")
    preset = f"Preset `{settings['preset']}`. " if settings.get("preset") else ""
    return (
        f"{preset}Same architecture, seeds {', '.join(map(str, settings['seeds']))}, data order and "
        f"budget for every activation: recipe `{settings['recipe']}`, {budget}, batch "
        f"{settings['batch_size']}, peak learning rate {settings['learning_rate']:g}, warmup "
        f"{plural(settings['warmup_epochs'], 'epoch')}. Dataset `{dataset['name']}` ({dataset['source']}): "
        f"{dataset['train_examples']} training and {dataset['test_examples']} test images. "
        f"Measurements on the test split."
    )


def _speed_note(summary, environment):
    timing = summary.get("timing")
    if not timing:
        return "- speed: not measured (--timing-steps 0)."
    load = timing.get("load_average")
    return (
        f"- speed: measured in its own phase after training: {timing['rounds']} rounds, each "
        f"running {timing['steps']} training steps (forward, backward, update) and {timing['steps']} "
        f"inference steps on one batch of {timing['batch_size']} for every activation, in "
        f"alternating order; each figure is the median over rounds of the same-round ratio to "
        f"{summary['reference']}, with the interquartile range, on {environment.get('device', 'CPU')} "
        f"({timing.get('cpu_count')} cores"
        + (f", load average {load[0]:.1f} when measured" if load else "") + "). Never a fastest-of."
    )


def _notes(summary, settings, attack_n, environment):
    n = len(settings["seeds"])
    return [
        "How to read it:",
        f"- every interval is a 95% Student-t interval over the {n} seeds (mean [low, high]); "
        f"\"accuracy vs {summary['reference']}\" is the paired difference (same seed = same "
        "initialisation and data order) in percentage points, and \"no measurable difference\" "
        "means its interval includes 0.",
        "- dead units: share of rectifier units whose output gradient is zero on every test input "
        "(never positive and a zero negative slope: every such ReLU unit, a PReLU unit only if its "
        "slope learned exactly 0). Never-positive units with a non-zero slope still learn.",
        f"- flexibility: how much the learned slopes adapted: the share that ended more than "
        f"{MOVED_THRESHOLD:g} from their initial value, the mean distance from it, and the spread "
        "(sd) over channels and layers; fixed and random slopes are 0 by definition.",
        _speed_note(summary, environment),
        f"- robustness: accuracy on {attack_n} test images after one fast-gradient-sign step of ε "
        "in [0, 1] pixel units (clipped to [0, 1]); zero input gradients: share of exactly-zero "
        "entries of d(loss)/d(pixel) on the same images.",
        f"- idle slopes (per layer): learnable slopes whose inputs are negative less than "
        f"{IDLE_THRESHOLD:.0%} of the time.",
    ]


def _figure_title(label):
    if label.startswith("slopes_"):
        return (f"{label[len('slopes_'):]}: slope per layer and epoch (epoch 0 = initial; "
                "left: mean over seeds, right: min and max)")
    if label.startswith("negative_fraction_"):
        return (f"{label[len('negative_fraction_'):]}: per-channel share of negative inputs per "
                "layer (test split, all seeds); never-positive channels in a separate bar, nearly "
                "dead (≥ 99%) stacked in grey")
    return _FIGURE_TITLES.get(label, label)


def _figure_lines(study_path, figures):
    lines = ["## Figures", ""]
    for label, path in figures.items():
        relative = pathlib.Path(path).relative_to(study_path).as_posix()
        lines += [f"### {_figure_title(label)}", "", f"![{label}]({relative})", ""]
    return lines


def _backend_words(environment):
    """ "TensorFlow 2.21.0" or "backend jax 0.4.30" (cards from before the backend was recorded:
    TensorFlow)."""
    backend = environment.get("backend", "tensorflow")
    if backend == "tensorflow":
        return f"TensorFlow {environment.get('tensorflow', '?')}"
    return f"backend {backend} {environment.get('backend_version', '?')}"


def _environment_lines(environment, created):
    return [
        "## Environment",
        "",
        f"- {environment.get('platform', platform.platform(terse=True))}, Python "
        f"{environment.get('python', platform.python_version())}, "
        f"{_backend_words(environment)}, Keras {environment.get('keras', '?')}, "
        f"{environment.get('cpu_count', os.cpu_count())} CPU cores, device "
        f"{environment.get('device', '?')}",
        f"- study started {created}; report written {now()}",
        "",
    ]


def _section(title, body, intro=None):
    if not body:
        return []
    return ["", f"## {title}", ""] + ([intro, ""] if intro else []) + body


def _diverged_lines(summary):
    if not summary.get("diverged"):
        return []
    return ["", "Diverged cells (left out of every figure above):", ""] + [
        f"- {cid}: {error}" for cid, error in summary["diverged"].items()]


def report_markdown(study, summary, figures, results=None):
    """The Markdown text of a loaded study's report, from its `summary` and `figures`."""
    state = study.state
    settings = state["settings"]
    results = results if results is not None else cell_results(study)
    first = next(iter(results.values()))[0]
    environment = first["card"].get("environment", {})
    attack_n = first["measurements"]["attack_examples"]
    lines = [f"# Activation study: {settings['architecture']} on {settings['dataset']}", ""]
    lines += _command_lines(state["commands"])
    lines += [_setup_line(settings, first["card"]["dataset"]), ""]
    lines += tables.comparison_table(summary, settings["fgsm_epsilon"])
    lines += ["", "What the classic table claims, and whether this run's figures agree:", ""]
    lines += tables.claims_lines(summary)
    lines += _diverged_lines(summary)
    lines += [""] + _notes(summary, settings, attack_n, environment)
    lines += _section("Slopes and units per layer (mean over seeds)", tables.per_layer_table(results))
    lines += _section("Dead units per epoch", tables.dead_over_epochs_table(summary),
                      f"Share of rectifier units with zero gradient on the first {TRACKED_EXAMPLES} "
                      "test images, mean over seeds; epoch 0 is the initialisation.")
    lines += _section("Robustness: FGSM accuracy per ε", tables.robustness_table(summary))
    lines += _section("Stability at initialisation", tables.stability_table(summary),
                      "Each activation's model as initialised (seed 0) on one training batch "
                      "(keras_prelu.diagnostics.stability_report).")
    lines += _section("BatchNorm / PReLU pairs", tables.bn_pairs_lines(results))
    lines += _section("Per seed", tables.per_seed_table(results))
    if summary.get("timing"):
        lines += _section("Speed rounds", tables.speed_rounds_table(state["timing"], summary["reference"]))
    lines += [""] + _figure_lines(study.path, figures)
    lines += _environment_lines(environment, state["created"])
    return "\n".join(lines)


def write_report(path):
    """The summary (saved in study.json), figures and `report.md` of a finished study directory;
    {"report", "figures", "summary"}."""
    study = Study(path)
    study.load()
    results = cell_results(study)
    summary = summarize(results, study.state)
    study.state["summary"] = summary
    study.save()
    figures = make_figures(study, results)
    text = report_markdown(study, summary, figures, results)
    report = atomic_write_text(study.path / REPORT_FILE, text)
    return {"report": pathlib.Path(report), "figures": figures, "summary": summary}
