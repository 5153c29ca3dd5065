import pytest


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Keep the decode cache out of the home folder."""
    monkeypatch.setenv("KERAS_RESNET_CACHE", str(tmp_path_factory.mktemp("cache")))
