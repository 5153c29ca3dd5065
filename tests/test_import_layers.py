"""The package's layers read one way: no import runs back up, and no cycle.

models <- data/augment <- train (engine, monitor, recorder, run dir) <- study
<- cli, over a keras-free bottom (errors, validation, the run layout). Every
``import`` statement of every module counts, including the ones inside
functions (a lazy import back up is still a tangle).
"""

from __future__ import annotations

import ast
import pathlib

from import_blocker import blocked_python

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "keras_resnet"

# First component under keras_resnet -> layer; a module may import its own
# layer and the layers below it.
LAYERS = {
    "": 0,  # the package itself: __version__, the serialization hook
    "_lazy": 0,
    "_validation": 0,
    "errors": 0,
    "run_layout": 0,
    "models": 1,
    "data": 2,
    "augment": 2,
    "callbacks": 3,
    "train": 3,
    "inference": 3,
    "export": 3,
    "study": 4,
    "cli": 5,
}


def module_names() -> dict[str, pathlib.Path]:
    """``keras_resnet.x.y`` -> file, for every module of the package."""
    names = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def imports_of(name: str, path: pathlib.Path, modules) -> set[str]:
    """The package modules ``name`` imports anywhere in its file."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from package import submodule`` imports the submodule.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # keras_resnet.x.Class
                target = target.rpartition(".")[0]
            if target.startswith("keras_resnet"):
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    return {
        name: imports_of(name, path, modules) - {name} for name, path in modules.items()
    }


def layer(module: str) -> int:
    parts = module.split(".")
    key = parts[1] if len(parts) > 1 else ""
    assert key in LAYERS, f"{module} has no layer: add it to LAYERS"
    return LAYERS[key]


def test_no_import_runs_back_up_a_layer():
    graph = import_graph()
    upward = sorted(
        f"{source} (layer {layer(source)}) imports {target} (layer {layer(target)})"
        for source, targets in graph.items()
        for target in targets
        if layer(target) > layer(source)
    )
    assert upward == []


def test_import_graph_has_no_cycle():
    graph = import_graph()
    state: dict[str, str] = {}
    cycles = []

    def visit(module, path):
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_graph_sees_lazy_imports():
    """The checks above would be blind if function-level imports were missed."""
    graph = import_graph()
    # Imported inside functions only.
    assert "keras_resnet.train" in graph["keras_resnet.study.comparison"]
    assert "keras_resnet.inference" in graph["keras_resnet.train.evaluate"]
    assert "keras_resnet.models.layers" in graph["keras_resnet.train.rundir"]


def test_run_layout_and_the_bottom_layer_import_without_keras():
    code = (
        "import keras_resnet.run_layout as layout, keras_resnet._validation, "
        "keras_resnet.errors, sys\n"
        "assert layout.METRICS_FILE == 'metrics.json'\n"
        "heavy = [m for m in ('keras', 'tensorflow', 'jax') if m in sys.modules]\n"
        "print('heavy', heavy)\n"
    )
    result = blocked_python(code, "keras", "tensorflow", "jax", timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "heavy []" in result.stdout
