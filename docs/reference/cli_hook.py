"""mkdocs hook: adds reference/cli.md, rendered from the click app."""

from mkdocs.structure.files import File

from keras_resnet.cli.clidoc import render_cli_reference


def on_files(files, config):
    """Add the generated CLI reference page to the site's files."""
    files.append(
        File.generated(config, "reference/cli.md", content=render_cli_reference())
    )
    return files
