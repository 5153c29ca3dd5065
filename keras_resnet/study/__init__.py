"""The residual-learning study: train models side by side, report and plot.

``compare`` trains several models with one recipe into a study folder and
writes ``results.csv``, ``results.json``, ``report.md`` and the figures;
``plot_runs`` redraws the figures from saved runs without training.
"""

from keras_resnet.study.comparison import (
    STUDY_MODELS,
    StudyResults,
    compare,
    report_study,
)
from keras_resnet.study.figures import MODEL_COLORS, model_colors, plot_runs
from keras_resnet.study.report import (
    REFERENCE,
    epochs_to_fraction,
    gradient_ratios,
    summarize_run,
    write_results,
)
from keras_resnet.study.runs import RunRecord, find_runs, load_run

__all__ = [
    "MODEL_COLORS",
    "REFERENCE",
    "STUDY_MODELS",
    "RunRecord",
    "StudyResults",
    "compare",
    "epochs_to_fraction",
    "find_runs",
    "gradient_ratios",
    "load_run",
    "model_colors",
    "plot_runs",
    "report_study",
    "summarize_run",
    "write_results",
]
