"""gpu.sh and gpu_study.py: argument handling (the GPU runs themselves need
an accelerator; their CPU dry run is `GPU_SH_DRY_RUN=1 benchmarks/gpu.sh`)."""

import os
import pathlib
import subprocess
import sys

BENCHMARKS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"


def test_gpu_sh_rejects_an_unknown_phase(tmp_path):
    env = {**os.environ, "GPU_SH_DRY_RUN": "1", "OUT": str(tmp_path / "out")}
    result = subprocess.run(
        ["bash", str(BENCHMARKS / "gpu.sh"), "bogus"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 2
    assert "unknown phase 'bogus'" in result.stderr


def test_gpu_sh_needs_the_data_copy_outside_dry_runs(tmp_path):
    env = {**os.environ, "DATA": str(tmp_path / "missing"), "OUT": str(tmp_path)}
    env.pop("GPU_SH_DRY_RUN", None)
    result = subprocess.run(
        ["bash", str(BENCHMARKS / "gpu.sh"), "info"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 1
    assert "missing/train.tar.gz not found" in result.stderr


def test_gpu_study_rejects_zero_epochs():
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "gpu_study.py"), "study", "--epochs", "0"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "Received: epochs=0" in result.stderr
