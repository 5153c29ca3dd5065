import pytest
from train_helpers import tiny_config


@pytest.fixture
def config_factory(tmp_path):
    def make(name="run", **changes):
        return tiny_config(tmp_path / name, **changes)

    return make
