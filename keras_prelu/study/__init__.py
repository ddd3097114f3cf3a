"""The activation study: one architecture, several rectifiers, the same seeds, data order and budget.

    from keras_prelu import study
    result = study.compare(preset="dying-relu", out="runs/dying")   # or a model and settings
    result["summary"]["activations"]["relu"]["dead_fraction"]    # {"mean", "ci95", "n", "sd", ...}
    result["report"]                  # runs/dying/report.md
    study.plot_run("runs/r20")        # the figures of one training run

This is what `keras-prelu compare` and `keras-prelu plot` run. A study directory holds

    DIR/study.json                    settings, commands, each cell's state, the speed phase, and the
                                      `summary` the report is written from
    DIR/cells/<activation>-seed<k>/   a run directory (see keras_prelu.training.runs) plus measurements.json
    DIR/report.md                     the comparison table, the claims checked, per-layer and per-seed tables
    DIR/figures/*.png                 activations, loss curves, dead units, slopes, negative fractions, FGSM

Modules: `names` (activations, zoo names, cells, StudyError), `presets`
(named settings), `cells` (the directory's state and resume checks),
`measurements` (one trained model on the test split, the per-epoch unit
tracker, stability at initialisation), `timing` (the speed phase),
`statistics` (t-intervals, paired differences, medians), `aggregate` (the
summary), `claims` (the classic table checked), `tables`, `figures`, `report`
(report.md), `driver` (`compare`).
"""

from keras_prelu.study.aggregate import mean_series, pooled_slopes, slope_trajectories, summarize
from keras_prelu.study.cells import (
    CELL_SETTINGS,
    CELLS,
    FIGURES,
    MEASURE_SETTINGS,
    MEASUREMENTS,
    REPORT_FILE,
    STATE_FILE,
    STATE_FORMAT,
    Study,
    cell_results,
)
from keras_prelu.study.claims import CLAIMS, check_claims
from keras_prelu.study.driver import compare
from keras_prelu.study.figures import make_figures, plot_run
from keras_prelu.study.measurements import IDLE_THRESHOLD, load_trained, measure, unit_tracker
from keras_prelu.study.names import (
    ACTIVATION_SUFFIXES,
    DEFAULT_ACTIVATIONS,
    DEFAULT_SEEDS,
    LEARNABLE,
    StudyError,
    cell_id,
    fixed_slope,
    model_name,
    parse_activations,
    parse_seeds,
    resolve_architecture,
)
from keras_prelu.study.presets import PRESETS, Preset
from keras_prelu.study.report import format_interval, format_percent, report_markdown, write_report
from keras_prelu.study.statistics import mean_interval, median_iqr, paired_difference, t_quantile
from keras_prelu.study.timing import time_steps

__all__ = [
    "ACTIVATION_SUFFIXES",
    "CELLS",
    "CELL_SETTINGS",
    "CLAIMS",
    "DEFAULT_ACTIVATIONS",
    "DEFAULT_SEEDS",
    "FIGURES",
    "IDLE_THRESHOLD",
    "LEARNABLE",
    "MEASUREMENTS",
    "MEASURE_SETTINGS",
    "PRESETS",
    "Preset",
    "REPORT_FILE",
    "STATE_FILE",
    "STATE_FORMAT",
    "Study",
    "StudyError",
    "cell_id",
    "cell_results",
    "check_claims",
    "compare",
    "fixed_slope",
    "format_interval",
    "format_percent",
    "load_trained",
    "make_figures",
    "mean_interval",
    "mean_series",
    "measure",
    "median_iqr",
    "model_name",
    "paired_difference",
    "parse_activations",
    "parse_seeds",
    "plot_run",
    "pooled_slopes",
    "report_markdown",
    "resolve_architecture",
    "slope_trajectories",
    "summarize",
    "t_quantile",
    "time_steps",
    "unit_tracker",
    "write_report",
]
