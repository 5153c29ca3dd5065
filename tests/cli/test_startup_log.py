"""TensorFlow's Abseil lines are kept off the command's stderr, for the whole run."""

import os

import pytest

from keras_resnet.cli.startup_log import (
    StderrFilter,
    filter_startup_log,
    filtered_stderr,
)

INFO = "I0000 00:00:1795607498.464048    9916 port.cc:153] oneDNN custom operations are on.\n"
WARNING = "W0000 00:00:1795607498.464441    9916 cpu.cc:31] a warning\n"
ERROR = "E0000 00:00:1795607525.534745    9995 some_op.cc:52] a real error\n"
CUINIT = (
    "E0000 00:00:1795607525.534745    9995 cuda_platform.cc:52] failed call to "
    "cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n"
)
NODEDEF = (
    "E0000 00:00:1795916825.067607   20382 node_def_util.cc:682] NodeDef mentions "
    "attribute use_unbounded_threadpool which is not in the op definition: "
    "Op<name=MapDataset; signature=input_dataset:variant>\n"
)
ONEDNN_INT64 = (
    "E0000 00:00:1795931213.612480   16602 util.cc:131] oneDNN supports DT_INT64 "
    "only on platforms with AVX-512. Falling back to the default Eigen-based "
    "implementation if present.\n"
)
NOTICE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
PYTHON = "UserWarning: something Python says\n"


@pytest.mark.parametrize(
    "level, expected",
    [
        (0, NOTICE + INFO + WARNING + CUINIT + ERROR + NODEDEF + ONEDNN_INT64 + PYTHON),
        (1, WARNING + ERROR + PYTHON),
        (2, ERROR + PYTHON),
        (3, PYTHON),
    ],
)
def test_filter_follows_tf_cpp_min_log_level(level, expected):
    # cuInit, NodeDef and oneDNN-int64 errors are noise of every healthy run
    # (the last with oneDNN on, the command's default, without AVX-512).
    text = NOTICE + INFO + WARNING + CUINIT + ERROR + NODEDEF + ONEDNN_INT64 + PYTHON
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


def run_filter(*writes: bytes, level: int = 2) -> bytes:
    """What StderrFilter passes on for ``writes`` to fd 2, as the terminal sees it."""
    read_end, write_end = os.pipe()
    saved = os.dup(2)
    os.dup2(write_end, 2)  # the "terminal" the filter writes to
    os.close(write_end)
    try:
        log_filter = StderrFilter(level)
        log_filter.start()
        try:
            for data in writes:
                os.write(2, data)
        finally:
            log_filter.stop()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    with os.fdopen(read_end, "rb") as terminal:
        return terminal.read()


def test_stderr_filter_drops_noise_for_the_whole_run_and_keeps_the_rest():
    out = run_filter(
        (NOTICE + INFO).encode(),
        b"Traceback: kept\n",
        CUINIT.encode(),
        NODEDEF[:40].encode(),  # a log line arriving in pieces
        NODEDEF[40:].encode(),
        (ERROR + PYTHON).encode(),
    )
    assert out.decode() == "Traceback: kept\n" + ERROR + PYTHON


def test_stderr_filter_passes_partial_lines_at_once():
    # A progress display rewrites its line with \r and no newline.
    out = run_filter(b"\rExporting... 1s", b"\rExporting... 2s", b"\r   \r", b"Exp")
    assert out == b"\rExporting... 1s\rExporting... 2s\r   \rExp"


def test_stderr_filter_shows_everything_at_level_0():
    text = NOTICE + INFO + CUINIT + PYTHON
    assert run_filter(text.encode(), level=0).decode() == text


@pytest.mark.slow
def test_tiny_fit_to_a_file_has_no_abseil_lines_and_no_ansi(trained_run):
    """The whole run (import, data pipeline, training) through the real entry
    point in a new process, with TensorFlow's default log level and stdout and
    stderr redirected to files (the session's ``trained_run``)."""
    for text in (trained_run.stdout, trained_run.stderr):
        assert "\x1b" not in text and "\r" not in text
        for prefix in ("E0000", "W0000", "I0000", "absl::InitializeLog"):
            assert prefix not in text
    stdout = trained_run.stdout
    epochs = [line for line in stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split(" - ")[0] for line in epochs] == ["epoch 1/2", "epoch 2/2"]
    assert " 2 epochs, batch 32 " in stdout
    assert (trained_run.path / "model.keras").is_file()
