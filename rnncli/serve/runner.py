"""The model a server runs: a run's weights and one compiled inference step that takes the stream states as inputs.

The step is ``(x [b, ...], states) -> (y [b, ...], new_states)`` with one [b, u] tensor per state of every stateful
layer (``Sequential.state_layout``). It never reads or writes the layers' state variables, whose batch size was
fixed by training, so any 1..``max_batch`` streams share one call. Batches are padded to a few fixed sizes (powers
of two up to ``max_batch``) so the step is traced and compiled once per size. Batch size 1 is compiled first and the
server reports healthy then; the larger sizes compile in the background, and until a size is ready a batch that
needs it runs as several steps of the largest compiled size.

A model whose layers work step by step along time up to its last recurrent layer (no Flatten, Reshape, Permute,
convolution, pooling or RepeatVector on the time axis, no ``unroll``) takes stream chunks of any length T: its step
is traced with a free time axis (``stream_timesteps: "any"`` in ``/v1/model``).

A graph model (``GraphModel``) takes ``x`` as ``{input name: [b, ...]}``, each input at its declared shape, and
answers ``{output name: [b, ...]}`` (the one array when it has one output); ``GraphModel.call_with_states`` passes
the states of its stateful layers as ``Sequential``'s does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnncli.errors import UserInputError
from rnncli.serve.inputs import NamedInput


# A model's input (and output) is one array for a chain, one array per name (a dict) for a graph.


def rows_of(x: Any) -> int:
    """The number of samples (the leading axis) of an input or output, named or not."""
    return len(next(iter(x.values()))) if isinstance(x, dict) else len(x)


def take_rows(x: Any, start: int, stop: int) -> Any:
    return {name: value[start:stop] for name, value in x.items()} if isinstance(x, dict) else x[start:stop]


def row_of(y: Any, row: int) -> Any:
    return {name: value[row] for name, value in y.items()} if isinstance(y, dict) else y[row]


def stack_samples(samples: list) -> Any:
    """One batch from samples without the batch axis (each an array, or a dict of arrays by input name)."""
    if samples and isinstance(samples[0], dict):
        return {name: np.stack([sample[name] for sample in samples]) for name in samples[0]}
    return np.stack(samples)


def concat_rows(parts: list) -> Any:
    if isinstance(parts[0], dict):
        return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    return np.concatenate(parts)


def shape_key(x: Any) -> Any:
    """What must be equal for samples to share a batch: the shape (of every named input)."""
    return tuple((name, value.shape) for name, value in x.items()) if isinstance(x, dict) else x.shape


def _pad(value: np.ndarray, size: int) -> np.ndarray:
    rows = len(value)
    if size <= rows:
        return value
    return np.concatenate([value, np.zeros((size - rows,) + value.shape[1:], value.dtype)])


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


PER_STEP = {"Masking", "Dropout", "Activation", "Dense", "TimeDistributed", "Embedding", "SpatialDropout1D",
            "GaussianNoise", "GaussianDropout"}
RECURRENT = {"SimpleRNN", "GRU", "LSTM"}


def free_length(plan: Any) -> bool:
    """Whether the model maps a chunk of any length T like the trained one: every layer up to the last one that
    keeps a time axis works per step or is an (un-unrolled) recurrent layer."""
    for layer in plan.layers:
        config = layer.inner.config if layer.type == "Bidirectional" and layer.inner is not None else layer.config
        kind = config["type"]
        if kind in RECURRENT:
            if config.get("unroll"):
                return False
            if not config.get("return_sequences"):
                return True  # no time axis after it: the rest sees [B, units]
            continue
        if kind not in PER_STEP:
            return False
    return True


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
    free_time: bool = False  # chunks of any length T are accepted (``free_length``)
    normalization: dict | None = None  # a series run's statistics (applied by the server: clients send raw values)
    inputs: list[NamedInput] | None = None  # a graph's named inputs (then ``input_shape`` is unused)
    outputs: list[dict] | None = None       # a graph's named outputs: {"name", "shape"}

    @property
    def named(self) -> bool:
        return self.inputs is not None

    @property
    def accepted_shape(self) -> list[int | None]:
        """The input shape a request may send (without the batch axis): the time axis free when ``free_time``."""
        return ([None] + list(self.input_shape[1:])) if self.free_time and self.input_shape else list(self.input_shape)

    @property
    def stream_timesteps(self) -> int | str:
        """``"any"`` when chunks of any length are accepted, else the one length T accepted."""
        length = self.accepted_shape[0] if self.input_shape else None
        return "any" if length is None else int(length)

    def as_dict(self) -> dict:
        info = {"run": self.run, "checkpoint": self.checkpoint, "input_shape": self.input_shape,
                "stream_timesteps": self.stream_timesteps,
                "input_dtype": self.input_dtype, "output_shape": self.output_shape, "stateful": self.stateful,
                "states": [vars(spec) for spec in self.states], "layers": self.layers,
                "jit_compile": self.jit_compile}
        if self.inputs is not None:  # a graph: the shapes are per named input and output
            info.update(input_shape=None, input_dtype=None, output_shape=None, stream_timesteps=None,
                        inputs=[{"name": spec.name, "shape": list(spec.shape), "dtype": spec.dtype}
                                for spec in self.inputs],
                        outputs=list(self.outputs or []))
        if self.normalization is not None:
            info["normalization"] = self.normalization
        return info


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
        self.dtypes = {spec.name: np.int32 if spec.dtype == "int32" else np.float32 for spec in info.inputs or []}
        self.state_specs = info.states
        self.ready_sizes: list[int] = []  # compiled batch sizes, ascending (all of ``buckets`` once compiled)
        self.normalization: Any = None  # rnncli.data.normalization.Normalization of a series run
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

            if self.info.inputs is not None:
                x_spec: Any = {spec.name: tf.TensorSpec([None] + list(spec.shape), tf.as_dtype(self.dtypes[spec.name]))
                               for spec in self.info.inputs}
            else:
                x_spec = tf.TensorSpec([None] + self.info.accepted_shape, tf.as_dtype(self.dtype))
            state_specs = [tf.TensorSpec([None, spec.units], tf.float32) for spec in self.state_specs]
            self._traced = self._step.get_concrete_function(x_spec, state_specs)
        return self._traced

    def zero_states(self, count: int) -> list[np.ndarray]:
        """[count, u] zeros per state: the states of a new stream (or of a stateless request)."""
        return [np.zeros((count, spec.units), np.float32) for spec in self.state_specs]

    def compile(self, sample_shape: tuple[int, ...] | None = None, ready: Any = None) -> None:
        """Trace and compile the step for every bucket, smallest first (for models with a free length, at
        ``sample_shape``); ``ready()`` is called once batch size 1 can be served."""
        shape = sample_shape or self.default_sample_shape()
        for size in self.buckets:
            if isinstance(shape, dict):
                sample: Any = {name: np.zeros((size,) + dims, self.dtypes[name]) for name, dims in shape.items()}
            else:
                sample = np.zeros((size,) + shape, self.dtype)
            self._run_piece(sample, self.zero_states(size), size)
            self.ready_sizes = sorted(set(self.ready_sizes) | {size})
            if size == self.buckets[0] and ready is not None:
                ready()

    def default_sample_shape(self) -> Any:
        """The model's input shape without the batch axis (a graph: per input name); a free length compiles at 1
        step."""
        if self.info.inputs is not None:
            return {spec.name: tuple(1 if dim is None else dim for dim in spec.shape) for spec in self.info.inputs}
        return tuple(1 if dim is None else dim for dim in self.info.input_shape)

    def _run_piece(self, piece: np.ndarray, states: list[np.ndarray], size: int) -> tuple[Any, list[Any]]:
        """One call of the step on ``piece`` [rows, ...] padded with zero rows to ``size``."""
        import tensorflow as tf

        states = [_pad(s, size) for s in states]
        if isinstance(piece, dict):
            x: Any = {name: tf.constant(_pad(value, size)) for name, value in piece.items()}
        else:
            x = tf.constant(_pad(piece, size))
        return self._concrete_step()(x, [tf.constant(s) for s in states])

    def run(self, x: np.ndarray, states: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """x [n, ...] and states [n, u] each -> (y [n, ...], new states [n, u] each), in pieces of the largest
        compiled batch size (``max_batch`` once all are compiled), each padded to a compiled size (padding rows are
        zeros and are dropped). A series run takes raw values and answers in the targets' units."""
        if self.normalization is not None and not isinstance(x, dict):
            y, new_states = self._run(self.normalization.apply_inputs(x), states)
            return self.normalization.invert_targets(y), new_states
        return self._run(x, states)

    def _run(self, x: Any, states: list[np.ndarray]) -> tuple[Any, list[np.ndarray]]:
        """A graph's outputs come back as ``{name: y}``, or as the one output's array when it has one."""
        sizes = self.ready_sizes or self.buckets
        limit = sizes[-1]
        count = rows_of(x)
        outputs, finals = [], [[] for _ in states]
        for start in range(0, count, limit):
            piece = take_rows(x, start, start + limit)
            rows = rows_of(piece)
            y, new = self._run_piece(piece, [s[start:start + rows] for s in states], bucket_for(rows, sizes))
            if isinstance(y, dict):
                outputs.append({name: value.numpy()[:rows] for name, value in y.items()})
            else:
                outputs.append(y.numpy()[:rows])
            for collected, value in zip(finals, new):
                collected.append(value.numpy()[:rows])
        if len(outputs) == 1:
            y, new_states = outputs[0], [f[0] for f in finals]
        else:
            y, new_states = concat_rows(outputs), [np.concatenate(f) for f in finals]
        if isinstance(y, dict) and len(y) == 1:
            y = next(iter(y.values()))
        return y, new_states


def _layer_rows(plan: Any) -> list[dict]:
    return [{"name": layer.name, "type": layer.type, "output_shape": list(layer.output_shape[1:]),
             "params": layer.params, "stateful": bool(layer.config.get("stateful") or
                                                      (layer.inner is not None and
                                                       layer.inner.config.get("stateful")))}
            for layer in plan.layers]


def _graph_io(plan: Any) -> tuple[list[NamedInput], list[dict]]:
    """A graph plan's named inputs (an int32 input read by an Embedding takes indices below its ``input_dim``) and
    named outputs, shapes without the batch axis."""
    inputs = []
    for graph_input in plan.inputs:
        vocabs = [node.layer.config["input_dim"] for node in plan.nodes
                  if node.layer.type == "Embedding" and graph_input.name in node.inbound]
        vocab = min(vocabs) if vocabs and graph_input.dtype == "int32" else None
        inputs.append(NamedInput(graph_input.name, list(graph_input.shape[1:]), vocab, graph_input.dtype))
    outputs = [{"name": name, "shape": list(plan.output_shapes[name][1:])} for name in plan.outputs]
    return inputs, outputs


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
    graph = hasattr(plan, "nodes")  # a GraphPlan: named inputs and outputs
    for layer in plan.layers:
        if layer.type == "TimeDistributed" and layer.inner is not None and layer.inner.config.get("stateful"):
            raise UserInputError(f"{run_path}: layer `{layer.name}` wraps a stateful layer in TimeDistributed, "
                                 f"whose states cannot be kept per stream")
    model = loaded.engine.model
    states = [StateSpec(layer, name, units) for layer, name, units in model.state_layout()]
    problem = model.explicit_state_problem() if graph and states else None
    if problem is not None:
        raise UserInputError(f"{run_path}: {problem}, whose states cannot be kept per stream")
    info = ModelInfo(run=str(run_path.resolve()), checkpoint=loaded.checkpoint_path,
                     input_shape=list(plan.input_shape[1:]), input_dtype=plan.input_dtype,
                     output_shape=list(plan.output_shape[1:]), stateful=bool(states), states=states,
                     layers=_layer_rows(plan), jit_compile=bool(loaded.engine.predict_jit_compile),
                     notes=list(loaded.notes),
                     free_time=not graph and len(plan.input_shape) > 1 and free_length(plan))
    if graph:
        info.inputs, info.outputs = _graph_io(plan)
    runner = ModelRunner(model, plan, info.jit_compile, max_batch, info)
    from rnncli.data.series_inference import source_normalization

    runner.normalization = source_normalization(loaded.config, run_path)
    if runner.normalization is not None:
        info.normalization = runner.normalization.to_json()
    return runner
