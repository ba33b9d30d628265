"""Check an exported TFLite or ONNX file against rnncli's own forward pass before the export is reported done.

``verify_export`` feeds the same few rows (and, for a stateful model, the run's current states) to the exported
file, through ``tf.lite.Interpreter`` or onnxruntime, and to the model (``stateless_predict``: the model's
inference forward with its states as explicit inputs, what ``rnncli predict`` computes), and compares every output
(``y``, or a graph's by name) and every next state. A difference above the tolerance is an error, so a wrong file
is never kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from rnncli.errors import RunError
from rnncli.export.functional import NEXT, ExportSpec, current_states, stateless_predict
from rnncli.model import Sequential

ROWS = 4  # rows of x checked when the batch is free
STEPS = 5  # timesteps of the rows when the model takes any number
TOLERANCE = 1e-4  # relative to the outputs' magnitude (float32 conversions differ by ~1e-7)


@dataclass(frozen=True)
class Verification:
    """The result of a check: ``max_error`` over ``y`` and the next states, or why there was none."""

    rows: int
    max_error: float | None
    skipped: str | None = None

    def line(self, fmt: str) -> str:
        if self.skipped:
            return f"not verified: {self.skipped}"
        return (f"verified with {'tf.lite.Interpreter' if fmt == 'tflite' else 'onnxruntime'} against rnncli's "
                f"forward pass on {self.rows} rows: max abs error {self.max_error:.2g}")


def sample_inputs(model: Sequential, spec: ExportSpec, seed: int = 0) -> dict[str, np.ndarray]:
    """``{<input>: [B, T, ...], <state>: [B, u], ...}`` (a chain's input is ``x``): B = the spec's batch or ``ROWS``,
    T = its steps or ``STEPS``; integer ids below the ``input_dim`` of the Embeddings reading them; the model's
    current states."""
    rng = np.random.default_rng(seed)
    samples = {}
    for input_spec in spec.inputs:
        shape = [input_spec.shape[0] or ROWS] + [d if d is not None else STEPS for d in input_spec.shape[1:]]
        if input_spec.dtype == tf.int32:
            vocab = _vocabulary(model, input_spec.name if spec.named_inputs else None)
            samples[input_spec.name] = rng.integers(0, vocab, size=shape).astype(np.int32)
        else:
            samples[input_spec.name] = rng.normal(size=shape).astype(np.float32)
    return {**samples, **dict(zip(spec.state_names, current_states(model)))}


def _vocabulary(model, graph_input: str | None) -> int:
    """How many ids an integer input may take: the smallest ``input_dim`` of the Embeddings that read it (a chain's
    first layer; a graph's nodes whose inbound tensor is ``graph_input``)."""
    if graph_input is None:
        return int(model.plan.layers[0].config["input_dim"])
    dims = [int(node.layer.config["input_dim"]) for node in model.plan.nodes
            if node.layer.type == "Embedding" and graph_input in node.inbound]
    return min(dims) if dims else 2


def _reference(model: Sequential, spec: ExportSpec, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    function = stateless_predict(model, spec)
    result = function(*(tf.constant(inputs[n]) for n in spec.input_names + spec.state_names))
    return {name: value.numpy() for name, value in result.items()}


def _run_tflite(path: Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray] | str:
    try:
        runner = tf.lite.Interpreter(model_path=str(path)).get_signature_runner("serving_default")
        return {k: np.asarray(v) for k, v in runner(**inputs).items()}
    except (RuntimeError, ValueError) as exc:  # select TF ops need the Flex delegate, which this build lacks
        return f"tf.lite.Interpreter cannot run it here ({str(exc).strip().splitlines()[0][:160]})"


def _run_onnx(path: Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray] | str:
    try:
        import onnxruntime
    except ImportError:
        return "onnxruntime is not installed (pip install 'rnncli[onnx]')"
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, inputs)))


def verify_export(model: Sequential, spec: ExportSpec, path: Path, fmt: str) -> Verification:
    """Compare the exported file at ``path`` (``tflite`` or ``onnx``) with the model on a few rows; raise
    ``RunError`` when they differ by more than ``TOLERANCE`` times the outputs' magnitude."""
    inputs = sample_inputs(model, spec)
    exported = _run_tflite(path, inputs) if fmt == "tflite" else _run_onnx(path, inputs)
    rows = len(inputs[spec.input_names[0]])
    if isinstance(exported, str):
        return Verification(rows, None, exported)
    expected = _reference(model, spec, inputs)
    worst = 0.0
    for name in list(spec.outputs) + [n + NEXT for n in spec.state_names]:
        if name not in exported:
            raise RunError(f"the exported {fmt} model has no output `{name}` (outputs: {', '.join(exported)})")
        got, want = np.asarray(exported[name], np.float64), np.asarray(expected[name], np.float64)
        if got.shape != want.shape:
            raise RunError(f"the exported {fmt} model's `{name}` has shape {got.shape}, rnncli's {want.shape}")
        error = float(np.max(np.abs(got - want))) if got.size else 0.0
        scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
        if not error <= TOLERANCE * scale:
            raise RunError(f"the exported {fmt} model differs from rnncli's forward pass: `{name}` max abs error "
                           f"{error:.3g} on {rows} rows (tolerance {TOLERANCE * scale:.3g}); nothing was written")
        worst = max(worst, error)
    return Verification(rows, worst)
