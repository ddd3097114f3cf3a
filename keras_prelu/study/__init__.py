"""The activation study: one architecture, several rectifiers, the same seeds, data order and budget.

    from keras_prelu import study
    result = study.compare("mlp3x256", dataset="fashion_mnist", epochs=3, seeds=2,
                           out="runs/study", data_dir="../shared/data/tensorflow_datasets")
    result["report"]                  # runs/study/report.md
    study.plot_run("runs/r20")        # the figures of one training run

This is what `keras-prelu compare` and `keras-prelu plot` run. A study directory holds

    DIR/study.json                    settings, the commands that ran, each cell's state
    DIR/cells/<activation>-seed<k>/   a run directory (see keras_prelu.training.runs) plus measurements.json
    DIR/report.md                     one row per activation, the command line at the top
    DIR/figures/*.png                 activations, loss curves, slopes, negative fractions, FGSM

Modules: `names` (activations, zoo names, cells, StudyError), `cells` (the
directory's state and resume checks), `measurements` (one trained model on
the test split), `timing` (step time), `aggregate` (numbers pooled over
seeds), `figures`, `report` (report.md), `driver` (`compare`). The
activation names come from `keras_prelu.activations.ACTIVATIONS`.
"""

from keras_prelu.study.aggregate import (
    activation_rows,
    mean_sd,
    mean_series,
    pooled_slopes,
    slope_trajectories,
)
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
from keras_prelu.study.driver import compare
from keras_prelu.study.figures import make_figures, plot_run
from keras_prelu.study.measurements import IDLE_THRESHOLD, load_trained, measure
from keras_prelu.study.names import (
    ACTIVATION_SUFFIXES,
    DEFAULT_ACTIVATIONS,
    LEARNABLE,
    StudyError,
    cell_id,
    fixed_slope,
    model_name,
    parse_activations,
    parse_seeds,
    resolve_architecture,
)
from keras_prelu.study.report import (
    format_accuracy,
    format_percent,
    report_markdown,
    write_report,
)
from keras_prelu.study.timing import time_steps

__all__ = [
    "ACTIVATION_SUFFIXES",
    "CELLS",
    "CELL_SETTINGS",
    "DEFAULT_ACTIVATIONS",
    "FIGURES",
    "IDLE_THRESHOLD",
    "LEARNABLE",
    "MEASUREMENTS",
    "MEASURE_SETTINGS",
    "REPORT_FILE",
    "STATE_FILE",
    "STATE_FORMAT",
    "Study",
    "StudyError",
    "activation_rows",
    "cell_id",
    "cell_results",
    "compare",
    "fixed_slope",
    "format_accuracy",
    "format_percent",
    "load_trained",
    "make_figures",
    "mean_sd",
    "mean_series",
    "measure",
    "model_name",
    "parse_activations",
    "parse_seeds",
    "plot_run",
    "pooled_slopes",
    "report_markdown",
    "resolve_architecture",
    "slope_trajectories",
    "time_steps",
    "write_report",
]
