"""ONNX export through tf2onnx (the ``onnx`` extra) of the stateless ``(x, *states) -> (y, *next_states)``.

tf2onnx freezes variables into constants, so a stateful model's states must be inputs and outputs of the graph.
A variable number of timesteps keeps the ``tf.while_loop`` (an ONNX ``Loop``); a fixed number is unrolled, because
tf2onnx 1.17 mistypes the loop counter of a fixed-length TensorArray loop (int64 vs int32: onnxruntime refuses the
graph with "Tensor element type mismatch. 7 != 6").
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

from rnncli.errors import RunError, UserInputError
from rnncli.export.functional import ExportSpec, stateless_predict
from rnncli.model import Sequential

OPSET = 17  # supported by tf2onnx 1.17 and onnxruntime >= 1.14


@contextlib.contextmanager
def _quiet_stderr():
    """tf2onnx logs every optimizer pass to stderr (fd 2 for the C++ part): keep the command's output readable."""
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class _ErrorRecords(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().splitlines()[0] if record.getMessage() else record.name)


def write_onnx(model: Sequential, spec: ExportSpec, path: Path) -> list[str]:
    """Write ``path``; returns notes for the user. Needs ``pip install 'rnncli[onnx]'``."""
    try:
        import tf2onnx
    except ImportError as exc:
        raise UserInputError(f"--format onnx needs tf2onnx ({exc}); install it with: pip install 'rnncli[onnx]'"
                             ) from None
    function = stateless_predict(model, spec, unroll=spec.fixed_steps)
    failures = _ErrorRecords()
    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    logger.addHandler(failures)
    try:
        with _quiet_stderr():
            proto, _ = tf2onnx.convert.from_function(function, input_signature=spec.signature(), opset=OPSET,
                                                     output_path=str(path))
    except Exception as exc:  # tf2onnx raises many kinds of errors; report the first line, not a traceback
        raise RunError(f"ONNX conversion failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from None
    finally:
        logger.removeHandler(failures)
        logger.setLevel(level)
    if failures.messages:
        # tf2onnx logs a node it cannot convert and still writes a graph that no runtime loads
        raise RunError(f"ONNX conversion failed: tf2onnx {failures.messages[0][:300]}")
    ops = sorted({node.op_type for node in proto.graph.node})
    return [f"opset {OPSET}, {len(ops)} kinds of ops ({', '.join(ops[:12])}{', ...' if len(ops) > 12 else ''})"]
