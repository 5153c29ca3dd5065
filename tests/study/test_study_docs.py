"""The generated CLI reference and the documentation site build.

The docs' figures are redrawn from a fresh clone's files by
test_study_end_to_end (one `keras-resnet plot` process for them and a new
study's light files).
"""

import pathlib
import shutil
import subprocess
import sys

import pytest

from keras_resnet.cli import COMMANDS
from keras_resnet.cli.clidoc import render_cli_reference

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_cli_reference_has_every_command_and_its_options():
    page = render_cli_reference()
    assert page.startswith("# Command-line reference\n")
    for name in COMMANDS:
        assert f"## `keras-resnet {name}`" in page
    assert "Usage: keras-resnet compare [OPTIONS]" in page
    assert "--models NAME,NAME,..." in page
    assert "Usage: keras-resnet plot [OPTIONS] RUN_DIR..." in page
    assert page.count("```text") == len(COMMANDS) + 1


@pytest.mark.slow
def test_docs_site_builds_strictly(tmp_path):
    site = tmp_path / "site"
    result = subprocess.run(
        # No -q: mkdocs counts strict-mode warnings only when it logs them.
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    warnings = [line for line in result.stderr.splitlines() if "WARNING -" in line]
    assert result.returncode == 0, "\n".join(warnings) or result.stderr[-3000:]
    cli_page = (site / "reference" / "cli" / "index.html").read_text()
    assert "keras-resnet compare" in cli_page
    assert not (site / "reference" / "cli_hook.py").exists()
    shutil.rmtree(site)
