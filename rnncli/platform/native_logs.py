"""Keep TensorFlow's C++ log lines off the user's terminal, for the whole life of the process.

TensorFlow and XLA log from C++ straight to file descriptor 2, and not only at start-up: the first masked LSTM
step prints ``E0000 ... util.cc:131] oneDNN supports DT_BOOL only on platforms with AVX-512`` on AVX-512 Intel
CPUs, and ``TF_CPP_MIN_LOG_LEVEL`` does not reach every logger (XLA's absl logging ignores it; level 2 keeps
error lines, which this is). ``filter_native_stderr()`` therefore points fd 2 at a pipe read by a small filter
process that drops lines in the C++ log formats (info, warning, error) and passes everything else on: fatal
``F...`` lines before a crash, and any other native output. Errors that matter reach the user as Python
exceptions, which rnncli reports itself. The filter is a separate process (not a thread), so it still delivers a
crash's last lines after this process has died; it runs in its own session, so Ctrl-C on the terminal does not
stop it, and it ends when the pipe closes (this process exits).

Python's own ``sys.stderr`` is moved to the original stderr, so rich still sees a terminal. ``RNNCLI_TF_LOGS=1``
turns the filter off (to see TensorFlow's logs).
"""

from __future__ import annotations

import atexit
import io
import os
import re
import subprocess
import sys

# absl/tsl format: `E0000 00:00:1796126793.611624    6126 cuda_platform.cc:52] message`;
# older tsl format: `2024-05-01 12:00:00.123456: W tensorflow/core/framework/op_kernel.cc:1857] message`;
# plus absl's one-time preamble and the continuation line of TensorFlow's CPU-feature notice.
NATIVE_LOG_LINE = (
    r"(?:[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^\s\]]+:\d+\] "
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] [^\s\]]+:\d+\] "
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags)"
)

_FILTER = r"""
import os, re, sys
pattern = re.compile(sys.argv[1].encode())
pending = b""
while True:
    chunk = os.read(0, 65536)
    if not chunk:
        break
    lines = (pending + chunk).split(b"\n")
    pending = lines.pop()
    kept = b"".join(line + b"\n" for line in lines if not pattern.match(line))
    if kept:
        os.write(2, kept)
if pending and not pattern.match(pending):
    os.write(2, pending)
"""

_installed: dict = {}


def filter_native_stderr(environ: dict | None = None) -> bool:
    """Route fd 2 through the log filter (once per process); returns whether the filter is active."""
    environ = os.environ if environ is None else environ
    if environ.get("RNNCLI_TF_LOGS", "").lower() in ("1", "true", "yes"):
        return False  # checked first: the answer must not depend on what ran earlier in this process
    if _installed:
        return True
    try:
        os.fstat(2)
    except OSError:
        return False  # no stderr at all: nothing to protect
    read_end, write_end = os.pipe()
    try:
        process = subprocess.Popen([sys.executable, "-I", "-S", "-c", _FILTER, NATIVE_LOG_LINE], stdin=read_end,
                                   stdout=subprocess.DEVNULL, start_new_session=True, close_fds=True)
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return False
    os.close(read_end)
    original = os.dup(2)
    _move_python_stderr(original)
    os.dup2(write_end, 2)
    os.close(write_end)
    _installed.update(process=process, original=original)
    atexit.register(_drain)
    return True


def _move_python_stderr(original: int) -> None:
    """Python writes to the original stderr (a terminal stays a terminal for rich); only when ``sys.stderr`` is
    the process's fd 2, not a capture (tests, CliRunner)."""
    try:
        if sys.stderr is None or sys.stderr.fileno() != 2:
            return
    except (AttributeError, OSError, io.UnsupportedOperation, ValueError):
        return
    sys.stderr.flush()
    sys.stderr = io.TextIOWrapper(io.FileIO(original, "w", closefd=False), encoding=sys.stderr.encoding,
                                  errors=sys.stderr.errors, line_buffering=True)


def _drain() -> None:
    """At exit: close our end of the pipe and let the filter deliver what it holds before the shell prompt."""
    process = _installed.get("process")
    if process is None:
        return
    try:
        os.dup2(_installed["original"], 2)
        process.wait(timeout=2)
    except (OSError, subprocess.TimeoutExpired):
        pass
