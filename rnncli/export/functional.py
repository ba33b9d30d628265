"""The model as a pure function of its inputs and states, for formats without variables (TFLite, ONNX).

A stateful rnncli layer reads its states from variables and writes the final states back. ``stateless_predict``
traces the model with each state variable replaced by a stand-in that reads a function input and records what the
layer writes, so the traced function is ``(x, *states) -> (y, *next_states)`` and touches no state variable. The
weights stay variables, which the converters freeze into constants.

A chain has one input ``x`` and one output ``y``. A graph with several inputs or outputs takes each input by its
name and answers each output by its name, ``layer:k`` spelled ``layer_k`` (as the SavedModel's ``predict`` does):
``(history, static, *states) -> {score, enc_1, *next_states}``.

Example::

    spec = ExportSpec.of(model, plan)          # input/state names, shapes and dtypes
    fn = stateless_predict(model, spec)        # tf.function(x, lstm_1_h, lstm_1_c) -> {y, lstm_1_h_next, ...}
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import tensorflow as tf

from rnncli.config.graph_plan import output_key
from rnncli.config.graph_training import needs_graph_training
from rnncli.config.plan import ModelPlan
from rnncli.layers.base import module_name
from rnncli.model import Sequential

STATE_LABELS = {1: ("h",), 2: ("h", "c")}
NEXT = "_next"  # output name of a state = its input name + this suffix (ONNX needs distinct names)


class _StateSlot:
    """Stands in for a state variable during tracing: reads give the current tensor, ``assign`` replaces it."""

    def __init__(self, value: tf.Tensor):
        self.value = value

    @property
    def shape(self) -> tf.TensorShape:
        return self.value.shape

    def assign(self, value: tf.Tensor) -> None:
        self.value = value

    def __tf_tensor__(self, dtype: tf.DType | None = None, name: str | None = None) -> tf.Tensor:
        return tf.convert_to_tensor(self.value, dtype=dtype, name=name)


class _IgnoredCounter:
    """Stands in for ``steps_since_reset``: a pure function keeps no counters."""

    def assign_add(self, value: tf.Tensor) -> None:
        pass


@dataclass(frozen=True)
class ExportSpec:
    """Names and shapes of the exported function: its ``inputs`` (a chain's one ``x`` [B, T, D]; a graph's inputs
    by name), B fixed for stateful models, else None; one [B, u] input per state, named ``<layer>_h`` /
    ``<layer>_c`` in ``stateful_cores()`` order; and the names of its ``outputs`` (``y``, or a graph's by name)."""

    inputs: tuple[tf.TensorSpec, ...]
    states: tuple[tf.TensorSpec, ...]
    outputs: tuple[str, ...] = ("y",)
    named_inputs: bool = False  # the model takes its inputs by name (a graph with several inputs or outputs)

    @classmethod
    def of(cls, model: Sequential, plan: ModelPlan, batch_size: int | None = None) -> "ExportSpec":
        """``batch_size`` fixes the batch axis of a stateless model (a stateful one always has its own)."""
        cores = model.stateful_cores()
        batch = plan.batch_size if cores else batch_size
        if needs_graph_training(plan):
            inputs = tuple(tf.TensorSpec((batch,) + tuple(i.shape[1:]), tf.int32 if i.dtype == "int32" else tf.float32,
                                         name=i.name) for i in plan.inputs)
            outputs, named = tuple(output_key(name) for name in plan.outputs), True
        else:
            dtype = tf.int32 if plan.input_dtype == "int32" else tf.float32
            inputs, outputs = (tf.TensorSpec((batch,) + tuple(plan.input_shape[1:]), dtype, name="x"),), ("y",)
            named = False
        states = []
        for core in cores:
            for label, variable in zip(STATE_LABELS[len(core.states)], core.states):
                states.append(tf.TensorSpec(variable.shape, tf.float32, name=f"{module_name(core.layer_name)}_{label}"))
        return cls(inputs, tuple(states), outputs, named)

    @property
    def x(self) -> tf.TensorSpec:
        """The first input (a chain's only one)."""
        return self.inputs[0]

    @property
    def fixed_steps(self) -> bool:
        """Whether every input axis but the batch is known, so the time loops can be unrolled."""
        return all(d is not None for spec in self.inputs for d in spec.shape[1:])

    @property
    def input_names(self) -> list[str]:
        return [spec.name for spec in self.inputs]

    @property
    def state_names(self) -> list[str]:
        return [spec.name for spec in self.states]

    def signature(self) -> list[tf.TensorSpec]:
        return [*self.inputs, *self.states]


def current_states(model: Sequential) -> list[np.ndarray]:
    """The values of the state variables, in ``ExportSpec.states`` order."""
    return [variable.numpy() for core in model.stateful_cores() for variable in core.states]


@contextlib.contextmanager
def _explicit_states(model: Sequential, states: list[tf.Tensor]) -> Iterator[list[list[_StateSlot]]]:
    cores = model.stateful_cores()
    saved = [(core, core.__dict__["states"], core.__dict__["steps_since_reset"]) for core in cores]
    slots, values = [], iter(states)
    try:
        for core in cores:
            core_slots = [_StateSlot(next(values)) for _ in core.states]
            # object.__setattr__: bypass tf.Module's attribute tracking, so the variables stay the tracked ones
            object.__setattr__(core, "states", core_slots)
            object.__setattr__(core, "steps_since_reset", _IgnoredCounter())
            slots.append(core_slots)
        yield slots
    finally:
        for core, variables, counter in saved:
            object.__setattr__(core, "states", variables)
            object.__setattr__(core, "steps_since_reset", counter)


@contextlib.contextmanager
def _unrolled(model: Sequential, unroll: bool) -> Iterator[None]:
    """Trace every recurrent layer with a Python-unrolled time loop (``unroll: true``, the same function)."""
    cores = [core for layer in model.layers
             for core in (layer, getattr(layer, "forward", None), getattr(layer, "backward", None))
             if unroll and hasattr(core, "unrolled")]
    saved = [core.unrolled for core in cores]
    try:
        for core in cores:
            object.__setattr__(core, "unrolled", True)
        yield
    finally:
        for core, value in zip(cores, saved):
            object.__setattr__(core, "unrolled", value)


def stateless_predict(model: Sequential, spec: ExportSpec, unroll: bool = False
                      ) -> tf.types.experimental.GenericFunction:
    """``tf.function(*inputs, *states) -> {"y" (or each output by name): outputs, "<state>_next": final state, ...}``
    in inference mode.
    ``unroll`` (needs a fixed number of timesteps) traces the time loops unrolled, without TensorArrays."""

    count = len(spec.inputs)

    def predict(*args: tf.Tensor) -> dict[str, tf.Tensor]:
        inputs, states = args[:count], args[count:]
        with _explicit_states(model, list(states)) as slots, _unrolled(model, unroll):
            if spec.named_inputs:
                answers, _ = model(dict(zip(spec.input_names, inputs)), training=False)
                values = [answers[name] for name in model.output_names]
            else:
                y, _ = model(inputs[0], training=False)
                values = [y]
            finals = [slot.value for core_slots in slots for slot in core_slots]
        outputs = {name: tf.identity(value, name=name) for name, value in zip(spec.outputs, values)}
        for name, value in zip(spec.state_names, finals):
            outputs[name + NEXT] = tf.identity(value, name=name + NEXT)
        return outputs

    return tf.function(predict, input_signature=spec.signature())
