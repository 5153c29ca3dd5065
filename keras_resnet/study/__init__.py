"""The residual-learning study: train models side by side, report and plot.

``compare`` trains several models with one recipe into a study folder and
writes ``results.csv``, ``results.json``, ``report.md`` and the figures;
``plot_runs`` redraws the figures and ``report_study`` the whole report from
saved runs without training, from their light files alone
(``export_light_runs`` copies those out of a study folder).

The names load on first use, so ``keras_resnet.study.formats`` (what the
command line offers) imports without matplotlib.
"""

from keras_resnet._lazy import lazy_exports

_LAZY = {
    "GRADIENT_FLOW_KEYS": "keras_resnet.study.gradients",
    "LIGHT_FILES": "keras_resnet.study.runs",
    "LayerLayout": "keras_resnet.study.gradients",
    "LayerRole": "keras_resnet.study.gradients",
    "MODEL_COLORS": "keras_resnet.study.figures",
    "REFERENCE": "keras_resnet.study.report",
    "RunRecord": "keras_resnet.study.runs",
    "STUDY_MODELS": "keras_resnet.study.comparison",
    "StudyModel": "keras_resnet.study.comparison",
    "StudyResults": "keras_resnet.study.comparison",
    "compare": "keras_resnet.study.comparison",
    "early_late_ratio": "keras_resnet.study.gradients",
    "epochs_to_fraction": "keras_resnet.study.report",
    "export_light_runs": "keras_resnet.study.runs",
    "find_runs": "keras_resnet.study.runs",
    "first_last_ratio": "keras_resnet.study.gradients",
    "gradient_flow": "keras_resnet.study.gradients",
    "gradient_ratios": "keras_resnet.study.report",
    "layer_layout": "keras_resnet.study.gradients",
    "layer_role": "keras_resnet.study.gradients",
    "load_run": "keras_resnet.study.runs",
    "model_colors": "keras_resnet.study.figures",
    "parse_study_models": "keras_resnet.study.comparison",
    "plot_runs": "keras_resnet.study.figures",
    "report_study": "keras_resnet.study.comparison",
    "study_configs": "keras_resnet.study.comparison",
    "summarize_run": "keras_resnet.study.report",
    "write_results": "keras_resnet.study.report",
}

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

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
