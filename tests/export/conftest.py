"""Session fixtures: a tiny trained-ish classifier, its run directory, an export."""

import keras
import pytest

from .helpers import build_classifier, train_briefly, write_run_dir


@pytest.fixture(scope="session")
def classifier():
    keras.utils.set_random_seed(0)
    return train_briefly(build_classifier())


@pytest.fixture(scope="session")
def run_dir(classifier, tmp_path_factory):
    return write_run_dir(tmp_path_factory.mktemp("run") / "resnet18-test", classifier)


@pytest.fixture(scope="session")
def saved_model_base(run_dir, tmp_path_factory):
    """A SavedModel exported once, in the TF Serving layout BASE/1/."""
    from keras_resnet.export import export_model

    base = tmp_path_factory.mktemp("serving") / "cifar"
    export_model(run_dir, base, version=1)
    return base
