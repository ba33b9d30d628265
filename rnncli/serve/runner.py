"""The model a server runs: a run's weights and one compiled inference step that takes the stream states as inputs.

The step is ``(x [b, ...], states) -> (y [b, ...], new_states)`` with one [b, u] tensor per state of every stateful
layer (``Sequential.state_layout``). It never reads or writes the layers' state variables, whose batch size was
fixed by training, so any 1..``max_batch`` streams share one call. Batches are padded to a few fixed sizes (powers
of two up to ``max_batch``) so the step is traced and compiled once per size, all of them before the server reports
healthy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnncli.errors import UserInputError


def batch_buckets(max_batch: int) -> list[int]:
    """The padded batch sizes: 1, 2, 4, ... below ``max_batch``, then ``max_batch`` itself."""
    sizes = [1]
    while sizes[-1] * 2 < max_batch:
        sizes.append(sizes[-1] * 2)
    if sizes[-1] != max_batch:
        sizes.append(max_batch)
    return sizes


def bucket_for(count: int, buckets: list[int]) -> int:
    return next(size for size in buckets if size >= count)


@dataclass(frozen=True)
class StateSpec:
    """One state tensor of one stateful layer: per stream a [units] float32 vector."""

    layer: str
    name: str
    units: int


@dataclass
class ModelInfo:
    """What ``GET /v1/model`` shows; shapes exclude the batch axis (``None``: any length)."""

    run: str
    checkpoint: str | None
    input_shape: list[int | None]
    input_dtype: str
    output_shape: list[int | None]
    stateful: bool
    states: list[StateSpec]
    layers: list[dict]
    jit_compile: bool
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"run": self.run, "checkpoint": self.checkpoint, "input_shape": self.input_shape,
                "input_dtype": self.input_dtype, "output_shape": self.output_shape, "stateful": self.stateful,
                "states": [vars(spec) for spec in self.states], "layers": self.layers,
                "jit_compile": self.jit_compile}


class ModelRunner:
    """Runs the compiled step on numpy batches. Call ``compile`` once, then ``run`` from one thread at a time."""

    def __init__(self, model: Any, plan: Any, jit_compile: bool, max_batch: int, info: ModelInfo):
        import tensorflow as tf

        self.model = model
        self.plan = plan
        self.info = info
        self.buckets = batch_buckets(max_batch)
        self.max_batch = max_batch
        self.dtype = np.int32 if plan.input_dtype == "int32" else np.float32
        self.state_specs = info.states
        self._step = tf.function(self._step_impl, jit_compile=jit_compile, reduce_retracing=False)
        # one concrete function for every batch size and length, traced once (a trace of the streaming LSTM takes
        # seconds on the loaded 2-core host); XLA still compiles once per padded shape, at the first call. Calling
        # it directly skips tf.function's argument matching: 3.4 -> 1.1 ms per one-stream call there.
        self._traced: Any = None

    def _step_impl(self, x, states):
        return self.model.call_with_states(x, list(states))

    def _concrete_step(self) -> Any:
        if self._traced is None:
            import tensorflow as tf

            x_spec = tf.TensorSpec([None] + list(self.plan.input_shape[1:]), tf.as_dtype(self.dtype))
            state_specs = [tf.TensorSpec([None, spec.units], tf.float32) for spec in self.state_specs]
            self._traced = self._step.get_concrete_function(x_spec, state_specs)
        return self._traced

    def zero_states(self, count: int) -> list[np.ndarray]:
        """[count, u] zeros per state: the states of a new stream (or of a stateless request)."""
        return [np.zeros((count, spec.units), np.float32) for spec in self.state_specs]

    def compile(self, sample_shape: tuple[int, ...] | None = None) -> None:
        """Trace and compile the step for every bucket (for models with a free length, at ``sample_shape``)."""
        shape = sample_shape or self.default_sample_shape()
        for size in self.buckets:
            self.run(np.zeros((size,) + shape, self.dtype), self.zero_states(size))

    def default_sample_shape(self) -> tuple[int, ...]:
        """The model's input shape without the batch axis; a free length compiles at 1 step."""
        return tuple(1 if dim is None else dim for dim in self.info.input_shape)

    def run(self, x: np.ndarray, states: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """x [n, ...] and states [n, u] each -> (y [n, ...], new states [n, u] each), in ``max_batch`` pieces
        padded to a bucket size (padding rows are zeros and are dropped)."""
        import tensorflow as tf

        count = len(x)
        outputs, finals = [], [[] for _ in states]
        for start in range(0, count, self.max_batch):
            piece = x[start:start + self.max_batch]
            rows = len(piece)
            size = bucket_for(rows, self.buckets)
            piece_states = [s[start:start + rows] for s in states]
            if size > rows:
                piece = np.concatenate([piece, np.zeros((size - rows,) + piece.shape[1:], piece.dtype)])
                piece_states = [np.concatenate([s, np.zeros((size - rows,) + s.shape[1:], s.dtype)])
                                for s in piece_states]
            y, new = self._concrete_step()(tf.constant(piece), [tf.constant(s) for s in piece_states])
            outputs.append(y.numpy()[:rows])
            for collected, value in zip(finals, new):
                collected.append(value.numpy()[:rows])
        if len(outputs) == 1:
            return outputs[0], [f[0] for f in finals]
        return np.concatenate(outputs), [np.concatenate(f) for f in finals]


def _layer_rows(plan: Any) -> list[dict]:
    return [{"name": layer.name, "type": layer.type, "output_shape": list(layer.output_shape[1:]),
             "params": layer.params, "stateful": bool(layer.config.get("stateful") or
                                                      (layer.inner is not None and
                                                       layer.inner.config.get("stateful")))}
            for layer in plan.layers]


def load_runner(run_path: Path, checkpoint: str, device_spec: str, max_batch: int, precision: str | None = None
                ) -> ModelRunner:
    """Restore a run (the one place ``rnncli.serve`` calls the command layer) and build its runner.

    Raises ``UserInputError`` for a model whose states cannot be passed explicitly (a stateful layer inside
    ``TimeDistributed``)."""
    from rnncli.commands.source import load_source

    if not run_path.is_dir():
        raise UserInputError(f"{run_path}: `rnncli serve` needs a run directory (a trained run), not a file")
    loaded = load_source(run_path, checkpoint, device_spec, precision=precision)
    plan = loaded.config.model
    for layer in plan.layers:
        if layer.type == "TimeDistributed" and layer.inner is not None and layer.inner.config.get("stateful"):
            raise UserInputError(f"{run_path}: layer `{layer.name}` wraps a stateful layer in TimeDistributed, "
                                 f"whose states cannot be kept per stream")
    model = loaded.engine.model
    states = [StateSpec(layer, name, units) for layer, name, units in model.state_layout()]
    info = ModelInfo(run=str(run_path.resolve()), checkpoint=loaded.checkpoint_path,
                     input_shape=list(plan.input_shape[1:]), input_dtype=plan.input_dtype,
                     output_shape=list(plan.output_shape[1:]), stateful=bool(states), states=states,
                     layers=_layer_rows(plan), jit_compile=bool(loaded.engine.predict_jit_compile),
                     notes=list(loaded.notes))
    return ModelRunner(model, plan, info.jit_compile, max_batch, info)
