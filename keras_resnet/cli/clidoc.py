"""The command-line reference page, rendered from the click app itself.

``render_cli_reference()`` returns Markdown with the ``--help`` text of the
``keras-resnet`` group and of every command, so the documentation can never
drift from the options the code accepts. The docs build calls it through a
mkdocs hook (``docs/reference/cli_hook.py``); it also runs as a script::

    python -m keras_resnet.cli.clidoc > cli-reference.md
"""

from __future__ import annotations

import click

from keras_resnet.cli import cli

PROG_NAME = "keras-resnet"
WIDTH = 88


def render_cli_reference(
    group: click.Group | None = None, *, prog_name: str = PROG_NAME
) -> str:
    """Markdown reference of ``group`` and all its commands.

    Args:
        group: The click group (default: the ``keras-resnet`` app).
        prog_name: Program name shown in usage lines.

    Returns:
        The page: a section per command holding its ``--help`` output.
    """
    if group is None:
        group = cli
    settings = {**group.context_settings, "terminal_width": WIDTH}
    settings["max_content_width"] = WIDTH
    root = click.Context(group, info_name=prog_name, **settings)
    sections = [
        "# Command-line reference",
        "Generated from the click app when the documentation is built: this is "
        f"exactly what `{prog_name} COMMAND --help` prints.",
        _section(prog_name, group.get_help(root)),
    ]
    for name in group.list_commands(root):
        command = group.get_command(root, name)
        if command is None:
            continue
        context = click.Context(command, info_name=name, parent=root)
        sections.append(_section(f"{prog_name} {name}", command.get_help(context)))
    return "\n\n".join(sections) + "\n"


def _section(title: str, help_text: str) -> str:
    return f"## `{title}`\n\n```text\n{help_text.rstrip()}\n```"


if __name__ == "__main__":
    click.echo(render_cli_reference(), nl=False)
