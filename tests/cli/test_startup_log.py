"""TensorFlow's Abseil start-up lines are kept off the command's stderr."""

import os
import subprocess
import sys

import pytest

from keras_resnet.cli.startup_log import filter_startup_log, filtered_stderr

INFO = "I0000 00:00:1795607498.464048    9916 port.cc:153] oneDNN custom operations are on.\n"
WARNING = "W0000 00:00:1795607498.464441    9916 cpu.cc:31] a warning\n"
ERROR = (
    "E0000 00:00:1795607525.534745    9995 cuda_platform.cc:52] failed call to cuInit\n"
)
NOTICE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
PYTHON = "UserWarning: something Python says\n"


@pytest.mark.parametrize(
    "level, expected",
    [
        (0, INFO + WARNING + ERROR + PYTHON),
        (1, WARNING + ERROR + PYTHON),
        (2, ERROR + PYTHON),
        (3, PYTHON),
    ],
)
def test_filter_follows_tf_cpp_min_log_level(level, expected):
    text = NOTICE + INFO + WARNING + ERROR + PYTHON
    assert filter_startup_log(text, level) == expected


def test_filtered_stderr_replays_what_it_keeps(capfd):
    with filtered_stderr():
        os.write(2, (NOTICE + INFO + "Traceback: kept\n").encode())
    captured = capfd.readouterr()
    assert captured.err == "Traceback: kept\n"


def test_filtered_stderr_restores_fd_2_after_an_error(capfd):
    with pytest.raises(RuntimeError), filtered_stderr():
        raise RuntimeError("boom")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


@pytest.mark.slow
def test_command_line_start_up_prints_no_abseil_lines(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    code = (
        "import sys; from keras_resnet.cli import main; "
        "from keras_resnet.cli.startup_log import _QuietTensorFlowFinder as F; "
        "sys.argv = ['keras-resnet', '--version']\n"
        "try:\n    main()\n"
        "except SystemExit:\n"
        "    assert 'tensorflow' in sys.modules\n"
        "    assert not any(isinstance(f, F) for f in sys.meta_path)\n"
        "    raise\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("keras-resnet ")
    assert "I0000" not in done.stderr
    assert "absl::InitializeLog" not in done.stderr
