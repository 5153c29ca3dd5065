"""benchmarks/grad_norm_overhead.py: the two runs it compares."""

from benchmark_scripts import load_benchmark_module


def test_overhead_benchmark_compares_runs_that_differ_only_in_the_recorder(tmp_path):
    benchmark = load_benchmark_module("grad_norm_overhead")
    for quick in (True, False):
        runs = benchmark.configs(quick, str(tmp_path))
        without, with_ = runs["without"].to_dict(), runs["with"].to_dict()
        assert without.pop("grad_norm_every") == 0
        assert with_.pop("grad_norm_every") == 1
        assert without.pop("output_dir") != with_.pop("output_dir")
        assert without == with_
