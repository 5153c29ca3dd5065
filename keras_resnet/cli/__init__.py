"""The ``keras-resnet`` command line: a thin click app over the library.

Commands are registered lazily (name -> ``"module:attribute"``) so that
``keras-resnet --help`` imports no command module, and a command's heavy
imports (TensorFlow through Keras) happen only when it runs.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import re

import click

# Quiet TensorFlow's C++ start-up logs unless the user asked for them; this
# only takes effect if TensorFlow has not been imported yet.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# name -> (import path "module:attribute", one-line help shown by --help).
COMMANDS: dict[str, tuple[str, str]] = {
    "fit": ("keras_resnet.cli.fit:fit", "Train a model and write a run directory."),
    "evaluate": (
        "keras_resnet.cli.evaluate:evaluate",
        "Accuracy, loss, per-class accuracy and confusion of a run or model.",
    ),
    "predict": (
        "keras_resnet.cli.predict:predict",
        "Top-k classes of image files with a run, .keras file or SavedModel.",
    ),
    "models": (
        "keras_resnet.cli.models:models",
        "Table of registered models: parameters, FLOPs, depth (filterable).",
    ),
    "export": (
        "keras_resnet.cli.export:export",
        "Export a run as a SavedModel, .keras or ONNX file.",
    ),
    "compare": (
        "keras_resnet.cli.study:compare",
        "Train several models with one recipe and write a report.",
    ),
    "plot": (
        "keras_resnet.cli.study:plot",
        "Draw the study's figures from saved runs.",
    ),
}

EPILOG = """\b
Examples:
  keras-resnet models
  keras-resnet models 'resnet*'
  keras-resnet fit resnet18 --epochs 100
  keras-resnet fit --config configs/study/resnet18.yaml --seed 1
  keras-resnet evaluate runs/resnet18-20261125-101500
  keras-resnet predict runs/resnet18-20261125-101500 cat.png dog.jpg
  keras-resnet fit --help

The Keras backend is chosen by KERAS_BACKEND (tensorflow, jax, torch).
"""


def _load(name: str, target: str) -> click.Command:
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        return _unavailable(name, module_name)
    return getattr(module, attribute)


def _unavailable(name: str, module_name: str) -> click.Command:
    """A placeholder for a command whose module is not installed."""

    def callback():
        raise click.ClickException(
            f"the '{name}' command is not available in this installation "
            f"({module_name} is missing)."
        )

    return click.Command(
        name, callback=callback, help="[not available]", add_help_option=False
    )


class LazyGroup(click.Group):
    """A group that imports a command's module only when the command is used.

    It is also the one place that turns library errors into exit codes:
    ``ValueError``, ``OSError`` and ``KerasResNetError`` print one
    ``Error: ...`` line and exit 1 (with the traceback under ``--debug``);
    ``TrainingInterrupted`` and Ctrl-C exit 130.
    """

    def __init__(self, *args, lazy_commands: dict[str, tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.lazy_commands, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands:
            return _load(cmd_name, self.lazy_commands[cmd_name][0])
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter) -> None:
        rows = [
            (name, self.lazy_commands[name][1])
            if name in self.lazy_commands
            else (name, self.commands[name].get_short_help_str())
            for name in self.list_commands(ctx)
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        from keras_resnet.errors import KerasResNetError

        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("\nInterrupted.", err=True)
            ctx.exit(130)
        except (KerasResNetError, ValueError, OSError) as error:
            if ctx.meta.get("keras_resnet.debug"):
                raise
            click.echo(f"Error: {cli_message(_one_line(error))}", err=True)
            ctx.exit(getattr(error, "exit_code", 1))


def _one_line(error: Exception) -> str:
    message = str(error).strip() or type(error).__name__
    return " ".join(message.split())


# A library message names the Python argument ("pass overwrite=True"); the
# command line names its option. Both spellings of the library's messages.
_PYTHON_ARGUMENT = re.compile(r"\b(overwrite|resume)=True(?: \(--\1\)| / --\1)?")
# "1 epochs", "1 completed epoch(s)": counts as the command line prints them.
_ONE_PLURAL = re.compile(r"\b1 ((?:completed )?(?:epoch|step|image|example|model))s\b")
_MAYBE_PLURAL = re.compile(r"\b(\d[\d,]*) ((?:completed )?epoch)\(s\)")


def cli_message(message: str) -> str:
    """``message`` as the command line says it.

    Python arguments become this CLI's options, and counts get their
    grammatical number.

    Example:
        >>> cli_message("pass overwrite=True (--overwrite) to replace it")
        'pass --overwrite to replace it'
        >>> cli_message("a completed run of 1 epochs")
        'a completed run of 1 epoch'
    """
    message = _PYTHON_ARGUMENT.sub(lambda match: f"--{match.group(1)}", message)
    message = _ONE_PLURAL.sub(r"1 \1", message)
    return _MAYBE_PLURAL.sub(
        lambda m: f"{m.group(1)} {m.group(2)}{'' if m.group(1) == '1' else 's'}",
        message,
    )


def keras_version() -> str:
    """Keras' installed version, read without importing Keras."""
    try:
        return importlib.metadata.version("keras")
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def keras_backend() -> str:
    """The backend Keras will use, found as Keras finds it, without importing it.

    ``KERAS_BACKEND`` if set, else the ``backend`` of ``keras.json`` in
    ``KERAS_HOME`` (default ``~/.keras``, or ``/tmp/.keras`` when the home
    folder is not writable), else ``tensorflow``.
    """
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    if "KERAS_HOME" in os.environ:
        folder = os.environ["KERAS_HOME"]
    else:
        home = os.path.expanduser("~")
        folder = os.path.join(home if os.access(home, os.W_OK) else "/tmp", ".keras")
    try:
        with open(os.path.join(os.path.expanduser(folder), "keras.json")) as file:
            return str(json.load(file).get("backend", "tensorflow"))
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from keras_resnet import __version__

    click.echo(
        f"keras-resnet {__version__} (keras {keras_version()}, "
        f"backend {keras_backend()})"
    )
    ctx.exit()


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--version",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=_print_version,
    help="Show the version, Keras version and backend, and exit.",
)
@click.option(
    "--debug",
    is_flag=True,
    help="Show the full traceback of a run-time error, and TensorFlow's logs.",
)
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Build, train, analyse and serve ResNets on CIFAR-class data."""
    ctx.meta["keras_resnet.debug"] = debug


def main(argv: list[str] | None = None) -> None:
    """Console entry point of ``keras-resnet``.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).
    """
    import sys

    from keras_resnet import ONEDNN_VARIABLE
    from keras_resnet.cli.startup_log import quiet_stderr

    # oneDNN's CPU kernels, which TensorFlow turns on itself only with
    # AVX-512, train convolutions ~1.8x faster on AVX2 (docs/benchmarks.md).
    # Read once when TensorFlow is imported, so set first; the commands'
    # subprocesses inherit it, and a value the user set is kept.
    os.environ.setdefault(ONEDNN_VARIABLE, "1")

    with quiet_stderr(sys.argv[1:] if argv is None else list(argv)):
        cli.main(args=argv, prog_name="keras-resnet")


__all__ = ["COMMANDS", "LazyGroup", "cli", "cli_message", "main"]
