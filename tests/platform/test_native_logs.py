"""No TensorFlow C++ log line reaches the user's terminal, on any CPU; fatal lines and other output still do."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
# Independent of the filter's own pattern: any line in TensorFlow's C++ log formats, info to error.
LOG_LINE = re.compile(r"^(?:[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\]|\d{4}-\d\d-\d\d \S+: [IWE] \S+:\d+\])",
                      re.MULTILINE)
ONEDNN = (b"E0000 00:00:1796126793.611624    6126 util.cc:131] oneDNN supports DT_BOOL only on platforms with "
          b"AVX-512. Falling back to the default Eigen-based implementation if present.\n")

SCRIPT = textwrap.dedent("""\
    import os, sys
    from rnncli.cli.main import main
    main(["predict", "m.yaml", "--input", "x.npy"], standalone_mode=False)  # a masked model, through the CLI
    import tensorflow as tf
    try:
        tf.gather(tf.constant([1.0, 2.0]), tf.constant([5]))  # TensorFlow logs the failed op (level 0) ...
    except tf.errors.InvalidArgumentError:
        print("python: the op failed", file=sys.stderr)       # ... and Python gets the error
    os.write(2, %r)                                           # what AVX-512 Intel CPUs print on masked steps
    os.write(2, b"native output that is not a log line\\n")
    os.write(2, b"F0000 00:00:1796126793.611624    6126 x.cc:1] Check failed: a fatal line\\n")
    """) % ONEDNN


def test_tensorflow_log_lines_never_reach_stderr(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(textwrap.dedent("""\
        model:
          layers:
            - {type: Embedding, input_dim: 5, output_dim: 3, mask_zero: true, input_length: 4}
            - {type: LSTM, output_dim: 2}
        """))
    np.save(tmp_path / "x.npy", np.array([[0, 1, 2, 3], [0, 0, 4, 1]], np.int32))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "0", "CI": "true"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert not LOG_LINE.search(done.stderr), done.stderr
    assert "note: no trained weights" in done.stderr  # rnncli's own messages still come through
    assert "python: the op failed" in done.stderr
    assert "native output that is not a log line" in done.stderr
    assert "F0000 00:00:1796126793.611624    6126 x.cc:1] Check failed: a fatal line" in done.stderr
    assert len(done.stdout.splitlines()) == 2  # the predictions


def test_rnncli_tf_logs_turns_the_filter_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from rnncli.platform import native_logs

    monkeypatch.setattr(native_logs, "_installed", {})  # as in a fresh process, whatever ran before
    assert native_logs.filter_native_stderr({"RNNCLI_TF_LOGS": "1"}) is False
    assert native_logs._installed == {}


def test_the_filter_pattern_matches_every_log_format_and_nothing_else() -> None:
    from rnncli.platform.native_logs import NATIVE_LOG_LINE

    pattern = re.compile(NATIVE_LOG_LINE.encode())
    assert pattern.match(ONEDNN)
    assert pattern.match(b"2024-05-01 12:00:00.123456: W tensorflow/core/framework/op_kernel.cc:1857] OP_REQUIRES")
    assert pattern.match(b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR")
    assert not pattern.match(b"F0000 00:00:1796126793.611624    6126 x.cc:1] Check failed")
    assert not pattern.match(b"error: data.train: file not found")
    assert not pattern.match(b"Traceback (most recent call last):")
