"""Run the ``keras-resnet`` command line from a checkout: ``python cli.py --help``."""

import os

# Set before TensorFlow can be imported, so its C++ start-up logs stay quiet.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_resnet.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
