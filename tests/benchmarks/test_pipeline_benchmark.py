"""benchmarks/pipeline.py: the input-pipeline benchmark, in quick mode."""

import pytest
from benchmark_scripts import load_benchmark_module


@pytest.mark.slow
def test_quick_benchmark_prints_its_table(capsys):
    load_benchmark_module("pipeline").main(["--quick", "--batch-size", "32"])
    lines = capsys.readouterr().out.strip().splitlines()
    table = dict(line.split("  ", 1) for line in lines)
    assert len(lines) == 6 and table["source"].strip() == "synthetic"
    assert float(table["host pipeline (images/s)"].replace(",", "")) > 0
    assert 0 < float(table["augmentation / train step (%)"]) < 100
