"""The residual-learning study: train models side by side, report and plot.

``compare`` trains several models with one recipe into a study folder and
writes ``results.csv``, ``results.json``, ``report.md`` and the figures;
``plot_runs`` redraws the figures and ``report_study`` the whole report from
saved runs without training, from their light files alone
(``export_light_runs`` copies those out of a study folder).
"""

from keras_resnet.study.comparison import (
    STUDY_MODELS,
    StudyModel,
    StudyResults,
    compare,
    parse_study_models,
    report_study,
    study_configs,
)
from keras_resnet.study.figures import MODEL_COLORS, model_colors, plot_runs
from keras_resnet.study.gradients import (
    GRADIENT_FLOW_KEYS,
    LayerLayout,
    LayerRole,
    early_late_ratio,
    first_last_ratio,
    gradient_flow,
    layer_layout,
    layer_role,
)
from keras_resnet.study.report import (
    REFERENCE,
    epochs_to_fraction,
    gradient_ratios,
    summarize_run,
    write_results,
)
from keras_resnet.study.runs import (
    LIGHT_FILES,
    RunRecord,
    export_light_runs,
    find_runs,
    load_run,
)

__all__ = [
    "GRADIENT_FLOW_KEYS",
    "LIGHT_FILES",
    "MODEL_COLORS",
    "REFERENCE",
    "STUDY_MODELS",
    "LayerLayout",
    "LayerRole",
    "RunRecord",
    "StudyModel",
    "StudyResults",
    "compare",
    "early_late_ratio",
    "epochs_to_fraction",
    "export_light_runs",
    "find_runs",
    "first_last_ratio",
    "gradient_flow",
    "gradient_ratios",
    "layer_layout",
    "layer_role",
    "load_run",
    "model_colors",
    "parse_study_models",
    "plot_runs",
    "report_study",
    "study_configs",
    "summarize_run",
    "write_results",
]
