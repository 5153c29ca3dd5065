import pytest
from study_helpers import write_fake_run


@pytest.fixture
def fake_trainer(monkeypatch):
    """Replace the engine in compare() by one writing fake runs.

    Returns the list of calls and the list of configs it was given.
    """
    calls, configs = [], []

    def train(config, *, resume, overwrite, callbacks):
        calls.append({"model": config.model, "resume": resume, "overwrite": overwrite})
        configs.append(config)
        write_fake_run(
            config.output_dir,
            config.model,
            epochs=config.epochs,
            model_options=config.model_options,
        )

    monkeypatch.setattr("keras_resnet.study.comparison._train", train)
    return calls, configs


@pytest.fixture
def no_figures(monkeypatch):
    """Skip drawing in compare() for tests about training decisions only."""
    monkeypatch.setattr("keras_resnet.study.comparison.plot_records", lambda *a: [])
