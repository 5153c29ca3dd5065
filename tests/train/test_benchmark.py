import importlib.util

from train_helpers import REPO


def load_benchmark():
    path = REPO / "benchmarks" / "grad_norm_overhead.py"
    spec = importlib.util.spec_from_file_location("grad_norm_overhead", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_overhead_benchmark_compares_runs_that_differ_only_in_the_recorder(tmp_path):
    benchmark = load_benchmark()
    for quick in (True, False):
        runs = benchmark.configs(quick, str(tmp_path))
        without, with_ = runs["without"].to_dict(), runs["with"].to_dict()
        assert without.pop("grad_norm_every") == 0
        assert with_.pop("grad_norm_every") == 1
        assert without.pop("output_dir") != with_.pop("output_dir")
        assert without == with_
