"""The generated CLI reference and the documentation site build."""

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


def tracked_files(folder: str) -> list[str]:
    """Files of ``folder`` in git's index: what a fresh clone holds."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", folder], cwd=REPO, capture_output=True, text=True
    )
    return [name for name in listing.stdout.split("\0") if name]


@pytest.mark.slow
@pytest.mark.parametrize("folder", ["docs/img/study", "docs/img/first_epochs"])
def test_plot_redraws_the_docs_figures_on_a_fresh_clone(tmp_path, folder):
    files = tracked_files(folder)
    assert any("/runs/" in name for name in files), "run files not committed"
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / name, tmp_path / name)
    committed = {
        pathlib.PurePosixPath(name).name
        for name in files
        if name.startswith(f"{folder}/figures/")
    }
    assert not any(name.endswith(".keras") for name in files)
    shutil.rmtree(tmp_path / folder / "figures")
    result = subprocess.run(
        [sys.executable, str(REPO / "cli.py"), "plot", folder],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    drawn = {pathlib.PurePosixPath(line).name for line in result.stdout.split()}
    assert drawn == committed
    assert {p.name for p in (tmp_path / folder / "figures").iterdir()} == drawn
