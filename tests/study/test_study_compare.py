import json

import pytest

from keras_resnet.study import compare
from keras_resnet.train.config import TrainConfig

CONFIG = TrainConfig(dataset="synthetic", epochs=3, width_multiplier=0.0625)


def test_compare_trains_each_model_and_writes_the_study(
    tmp_path, fake_trainer, no_figures
):
    # The figures compare draws, and report.md's links to them, are checked
    # on real runs in test_study_end_to_end.
    trainer, _ = fake_trainer
    models = ["resnet18", "resnet18_noskip", "mini_resnet"]
    results = compare(models, CONFIG, output_dir=tmp_path)
    assert [c["model"] for c in trainer] == models
    assert results.trained == models and results.reused == []
    assert [run.model for run in results.runs] == models
    for model in models:
        assert (tmp_path / "runs" / model / "metrics.json").is_file()
    rows = json.loads((tmp_path / "results.json").read_text())["results"]
    assert [r["model"] for r in rows] == models
    assert (tmp_path / "results.csv").read_text().count("\n") == 1 + len(models)
    assert results.report_path.is_file()


def test_compare_reuses_completed_runs(tmp_path, fake_trainer, no_figures):
    trainer, _ = fake_trainer
    compare(["resnet18", "baseline_cnn"], CONFIG, output_dir=tmp_path)
    metrics = tmp_path / "runs" / "resnet18" / "metrics.json"
    before = metrics.stat().st_mtime_ns
    trainer.clear()
    results = compare(["resnet18", "baseline_cnn"], CONFIG, output_dir=tmp_path)
    assert trainer == []
    assert results.reused == ["resnet18", "baseline_cnn"]
    assert metrics.stat().st_mtime_ns == before


def test_compare_resumes_an_unfinished_run_and_overwrite_retrains(
    tmp_path, fake_trainer, no_figures
):
    trainer, _ = fake_trainer
    compare(["resnet18"], CONFIG, output_dir=tmp_path)
    metrics = tmp_path / "runs" / "resnet18" / "metrics.json"
    data = json.loads(metrics.read_text())
    metrics.write_text(json.dumps({**data, "completed": False}))
    trainer.clear()
    compare(["resnet18"], CONFIG, output_dir=tmp_path)
    assert trainer == [{"model": "resnet18", "resume": True, "overwrite": False}]
    trainer.clear()
    compare(["resnet18"], CONFIG, output_dir=tmp_path, overwrite=True)
    assert trainer == [{"model": "resnet18", "resume": False, "overwrite": True}]


@pytest.mark.parametrize(
    "models, match",
    [
        ([], "at least one"),
        (["resnet18", "resnet18"], "once"),
        (["resnet99"], "Unknown model"),
    ],
)
def test_compare_rejects_bad_model_lists(tmp_path, fake_trainer, models, match):
    trainer, _ = fake_trainer
    with pytest.raises(ValueError, match=match):
        compare(models, CONFIG, output_dir=tmp_path)
    assert trainer == []


def test_compare_rejects_a_dict_config(tmp_path, fake_trainer):
    trainer, _ = fake_trainer
    with pytest.raises(ValueError, match="Received: base_config=dict"):
        compare(["resnet18"], {"epochs": 1}, output_dir=tmp_path)
