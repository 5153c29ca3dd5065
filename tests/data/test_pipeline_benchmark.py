import importlib.util
import pathlib

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "pipeline.py"


@pytest.mark.slow
def test_quick_benchmark_prints_its_table(capsys):
    spec = importlib.util.spec_from_file_location("pipeline_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--quick", "--batch-size", "32"])
    lines = capsys.readouterr().out.strip().splitlines()
    table = dict(line.split("  ", 1) for line in lines)
    assert len(lines) == 6 and table["source"].strip() == "synthetic"
    assert float(table["host pipeline (images/s)"].replace(",", "")) > 0
    assert 0 < float(table["augmentation / train step (%)"]) < 100
