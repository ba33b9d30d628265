"""SimpleRNN, GRU and LSTM: Keras 1 recurrences written directly with TensorFlow ops, as cores (Sonnet's contract).

Each layer is a core: ``initial_state(batch)`` gives the zero states, ``step(x_t, states)`` computes one timestep,
and ``call`` only handles the sequence (dropout masks, stateful carry-over, masking and direction through the
shared ``unroll``).

Weights are always stored fused, as Keras 1 'gpu' mode stores them: ``kernel`` W [D, G*u], ``recurrent_kernel``
U [u, G*u], ``bias`` b [G*u], with gate blocks i, f, c, o (LSTM), z, r, h (GRU) or a single block (SimpleRNN). So a
checkpoint does not depend on ``consume_less``, which only changes how the same function is executed:

* ``cpu``: the input projections of all timesteps are one matmul before the loop; one recurrent matmul per step.
* ``mem``: per-gate input and recurrent matmuls inside the step.
* ``gpu``: one fused input and one fused recurrent matmul per step.

Dropout masks follow Keras 1 (spec §2.5, with §15's fixes): variational masks drawn once per forward pass,
constant over time; one mask shared by all gates in ``gpu`` mode, one per gate in ``cpu``/``mem``. Which matmuls
run fused and which per gate is decided once per call, in an ``ExecutionPlan``.

Example (``config`` is a resolved LSTM mapping, as the validator produces it)::

    >>> import numpy as np
    >>> import tensorflow as tf
    >>> from rnncli.config.args import LAYER_SPECS
    >>> config = {arg.name: arg.default for arg in LAYER_SPECS["LSTM"].args} | {"name": "lstm", "output_dim": 4}
    >>> layer = LSTM(config, input_dim=3, rng=np.random.default_rng(0))
    >>> y, mask = layer(tf.zeros([2, 5, 3]))      # y: [B, u] (or [B, T, u] with return_sequences)
    >>> y.shape, mask
    (TensorShape([2, 4]), None)
    >>> h, states = layer.step(tf.ones([2, 3]), layer.initial_state(2))   # one timestep: h [B, u], [h, c]
    >>> h.shape, len(states)
    (TensorShape([2, 4]), 2)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import tensorflow as tf

from rnncli.config.plan import GATES
from rnncli.layers.activations import get_activation
from rnncli.layers.base import Layer, dropout_mask
from rnncli.layers.initializers import initialize, initialize_blocks
from rnncli.layers.unroll import requested_iteration_steps, unroll

Masks = tuple[tf.Tensor, ...] | None  # None, one [B, K] mask shared by every gate, or one per gate
Weights = tf.Tensor | list[tf.Tensor]  # a fused matrix [K, G*u] or its blocks (per gate; GRU fused: [U_zr, U_h])


@dataclass(frozen=True)
class ExecutionPlan:
    """How one call computes the recurrence, decided from ``consume_less``, the gate count and the dropout in force.

    ``precompute_inputs``: project every timestep's input in one matmul before the loop (``cpu``).
    ``per_gate_masks``: one dropout mask per gate (``cpu``/``mem``), else one shared by all gates (``gpu``).
    ``per_gate_input`` / ``per_gate_recurrent``: one matmul per gate (``mem``, or a gate-specific dropout mask
    on that side) instead of one fused matmul.
    ``inference``: a call whose gradient is not taken, computed in the forms whose forward is faster: the LSTM
    applies its inner activation to all G*u columns at once and slices the gates from the result (XLA:CPU runs that
    1.4x faster than activations of split blocks: medium LSTM, 100 steps, 68 -> 50 ms; its backward is slower,
    medium training step 159 -> 254 ms), and the time loop may run several steps per iteration
    (``unroll.inference_iteration_steps``). Both forms give the same values.
    """

    gates: int
    precompute_inputs: bool
    per_gate_masks: bool
    per_gate_input: bool
    per_gate_recurrent: bool
    inference: bool = False

    @classmethod
    def decide(cls, mode: str, gates: int, input_dropout: bool, recurrent_dropout: bool, training: bool = False
               ) -> ExecutionPlan:
        """``mode``: consume_less; ``*_dropout``: whether that dropout draws masks in this call; ``training``:
        whether the call is a training forward pass (whose gradient is taken)."""
        per_gate_masks = mode != "gpu" and gates > 1
        return cls(gates=gates, precompute_inputs=mode == "cpu", per_gate_masks=per_gate_masks,
                   per_gate_input=gates > 1 and (mode == "mem" or (per_gate_masks and input_dropout)),
                   per_gate_recurrent=gates > 1 and (mode == "mem" or (per_gate_masks and recurrent_dropout)),
                   inference=not training)

    @property
    def mask_count(self) -> int:
        return self.gates if self.per_gate_masks else 1


@dataclass(frozen=True)
class Execution:
    """A plan with what one call prepares once, outside the time loop (the loop body then only captures
    loop-invariant tensors): each variable read once, weights split as the plan says (a split inside the step would
    cost a full-size gradient every step) and the variational dropout masks."""

    plan: ExecutionPlan
    input_weights: Weights  # W [D, G*u] or G blocks [D, u]
    recurrent_weights: Weights  # U [u, G*u] or blocks, as the cell's ``_arrange_recurrent`` lays them out
    bias: tf.Tensor  # [G*u], added to the input projection
    input_masks: Masks  # [B, D] each
    recurrent_masks: Masks  # [B, u] each
    recurrent_bias: tf.Tensor | None = None  # [G*u], added to h U (GRU ``reset_after`` only)

    def project_input(self, x: tf.Tensor) -> tf.Tensor:
        """x [..., D] (one step [B, D] or the sequence [T, B, D]) -> x W [..., G*u], dropout applied, no bias."""
        return _project(x, self.input_weights, self.input_masks, self.plan.per_gate_input)

    def project_recurrent(self, h: tf.Tensor) -> tf.Tensor:
        """h [B, u] -> h U [B, G*u] with the recurrent dropout (fused U, or per-gate blocks)."""
        return _project(h, self.recurrent_weights, self.recurrent_masks, self.plan.per_gate_recurrent)

    def recurrent_mask(self, gate: int) -> tf.Tensor | None:
        """The recurrent dropout mask [B, u] applied before gate ``gate``'s matmul, or None."""
        if self.recurrent_masks is None:
            return None
        return self.recurrent_masks[gate if self.plan.per_gate_masks else 0]


class Recurrent(Layer):
    """Shared machinery of the three recurrent cores; subclasses define the gate math in ``_gates``.

    ``kind`` names the layer type in ``rnncli.config.plan.GATES``, the one table of gate counts.
    """

    kind: ClassVar[str]
    num_states: ClassVar[int]  # 1: [h]; 2: [h, c]

    def __init__(self, config: dict, input_dim: int, rng: np.random.Generator, batch_size: int | None = None):
        super().__init__(config)
        units = config["output_dim"]
        self.units = units
        self.input_dim = input_dim
        self.mode = config["consume_less"]
        self.activation = get_activation(config["activation"])
        self.inner_activation = get_activation(config.get("inner_activation", "linear"))
        self.dropout_W = float(config["dropout_W"])
        self.dropout_U = float(config["dropout_U"])
        self.return_sequences = bool(config["return_sequences"])
        self.go_backwards = bool(config["go_backwards"])
        self.stateful = bool(config["stateful"])
        self.unrolled = bool(config["unroll"])
        self.zero_output_for_mask = bool(config.get("zero_output_for_mask", False))
        with self.name_scope:
            self.kernel = self.make_variable("kernel", self._init_kernel(config["init"], (input_dim, units), rng),
                                             config["W_regularizer"], config.get("W_constraint"))
            self.recurrent_kernel = self.make_variable(
                "recurrent_kernel", self._init_kernel(config["inner_init"], (units, units), rng),
                config["U_regularizer"], config.get("U_constraint"))
            self.bias = self.make_variable("bias", self._init_bias(config, rng), config["b_regularizer"],
                                           config.get("b_constraint"))
            if self.stateful:
                if batch_size is None:
                    raise ValueError(f"stateful layer `{self.layer_name}` needs a fixed batch size")
                self.states = [tf.Variable(tf.zeros([batch_size, units]), trainable=False, name=f"state_{i}")
                               for i in range(self.num_states)]
                self.steps_since_reset = tf.Variable(0, dtype=tf.int64, trainable=False, name="steps_since_reset")
        assert self.kernel.shape == (input_dim, self.gates * units)

    @property
    def gates(self) -> int:
        """G, the number of gate blocks in the fused weights."""
        return GATES[self.kind]

    # -- initialisation -------------------------------------------------------------------------------------------

    def _init_kernel(self, spec, block: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
        """Per-gate draws in cpu/mem mode (and always for identity), one fused draw in gpu mode (Keras 1)."""
        name = spec["name"] if isinstance(spec, dict) else spec
        if self.mode == "gpu" and name != "identity":
            return initialize(spec, (block[0], self.gates * block[1]), rng)
        return initialize_blocks(spec, block, self.gates, rng)

    def _init_bias(self, config: dict, rng: np.random.Generator) -> np.ndarray:
        return np.zeros(self.gates * self.units, np.float32)

    def named_weights(self) -> dict[str, tf.Variable]:
        return {"kernel": self.kernel, "recurrent_kernel": self.recurrent_kernel, "bias": self.bias}

    @property
    def state_variables(self) -> list[tf.Variable]:
        return list(self.states) if self.stateful else []

    def reset_states(self) -> None:
        super().reset_states()
        if self.stateful:
            self.steps_since_reset.assign(0)

    # -- the core: one timestep -----------------------------------------------------------------------------------

    def prepare(self, batch: tf.Tensor | int, training: bool = False, rng: tf.random.Generator | None = None
                ) -> Execution:
        """Decide the plan for one call and prepare its weights and dropout masks (input masks drawn first)."""
        dropping = training and rng is not None
        plan = ExecutionPlan.decide(self.mode, self.gates, dropping and self.dropout_W > 0.0,
                                    dropping and self.dropout_U > 0.0, bool(training))

        def draw(rate: float, dim: int) -> Masks:
            if not dropping or rate <= 0.0:
                return None
            return tuple(dropout_mask(rng, tf.stack([batch, dim]), rate, self.compute_dtype)
                         for _ in range(plan.mask_count))

        input_masks = draw(self.dropout_W, self.input_dim)
        recurrent_masks = draw(self.dropout_U, self.units)
        kernel = self.read(self.kernel)
        input_bias, recurrent_bias = self._split_bias(self.read(self.bias))
        return Execution(
            plan=plan,
            input_weights=self._blocks(kernel) if plan.per_gate_input else kernel,
            recurrent_weights=self._arrange_recurrent(self.read(self.recurrent_kernel), plan.per_gate_recurrent),
            bias=input_bias,
            input_masks=input_masks,
            recurrent_masks=recurrent_masks,
            recurrent_bias=recurrent_bias,
        )

    def _split_bias(self, bias: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor | None]:
        """The stored bias as (input bias [G*u], recurrent bias [G*u] or None)."""
        return bias, None

    def initial_state(self, batch: tf.Tensor | int, dtype: tf.DType = tf.float32) -> list[tf.Tensor]:
        """Zero states: ``num_states`` tensors [B, u] ([h] or, for the LSTM, [h, c])."""
        zeros = tf.zeros(tf.stack([batch, self.units]), dtype=dtype)
        return [zeros] * self.num_states

    def step(self, x_t: tf.Tensor, states: list[tf.Tensor], execution: Execution | None = None
             ) -> tuple[tf.Tensor, list[tf.Tensor]]:
        """One timestep: x_t [B, D], states (as ``initial_state``) -> (output [B, u], new states).

        ``execution`` carries one call's prepared weights and dropout masks; by default, inference without dropout.
        """
        if execution is None:
            execution = self.prepare(tf.shape(x_t)[0])
        return self._gates(execution.project_input(x_t) + execution.bias, states, execution)

    def _blocks(self, matrix: tf.Tensor) -> list[tf.Tensor]:
        return tf.split(matrix, self.gates, axis=-1)

    def _arrange_recurrent(self, matrix: tf.Tensor, per_gate: bool) -> Weights:
        """U as ``_gates`` uses it: fused [u, G*u] or per-gate blocks."""
        return self._blocks(matrix) if per_gate else matrix

    def _gates(self, projected: tf.Tensor, states: list[tf.Tensor], execution: Execution
               ) -> tuple[tf.Tensor, list[tf.Tensor]]:
        """The cell's math from the input projection x_t W + b [B, G*u] and the states [B, u]."""
        raise NotImplementedError

    # -- the sequence ---------------------------------------------------------------------------------------------

    def call(self, x, mask, training, rng):
        """x: [B, T, D] float; mask: [B, T] bool or None. Returns ([B, T, u] or [B, u], mask or None).

        A stateful layer starts from its state variables and stores its final states back into them."""
        initial = self._carried_states(x) if self.stateful else None
        y, out_mask, final_states = self.call_with_states(x, mask, training, rng, initial)
        if self.stateful:
            for variable, value in zip(self.states, final_states):
                variable.assign(value)
            self.steps_since_reset.assign_add(tf.cast(tf.shape(x)[1], tf.int64))
        return y, out_mask

    def call_with_states(self, x, mask, training, rng, initial_states=None):
        """The recurrence from explicit states, touching no variable: x [B, T, D], mask [B, T] or None,
        ``initial_states`` a list of ``num_states`` [B, u] tensors (None: zeros).

        Returns ``(y [B, T, u] or [B, u], mask or None, final_states)`` (``rnncli serve`` batches any streams this
        way, whatever batch size the state variables were made for). The states come and go in float32 whatever
        the compute dtype (``Layer.read``), which the recurrence runs in."""
        x = self.cast_input(x)
        batch = tf.shape(x)[0]
        execution = self.prepare(batch, training, rng)
        x_tbd = tf.transpose(x, [1, 0, 2])
        if execution.plan.precompute_inputs:
            # all timesteps' input projections in one matmul (one per gate when each gate has its own mask); the
            # bias is added inside the step: XLA:CPU reads slices of a `matmul + bias` buffer several times slower
            sequence = execution.project_input(x_tbd)

            def step(projected_t, states):
                return self._gates(projected_t + execution.bias, states, execution)
        else:
            sequence = x_tbd
            step = functools.partial(self.step, execution=execution)

        initial = ([self.cast_input(state) for state in initial_states] if initial_states is not None
                   else self.initial_state(batch, x.dtype))
        time_mask = None if mask is None else tf.transpose(mask, [1, 0])
        last, outputs, final_states = unroll(step, sequence, initial, time_mask, self.go_backwards, self.unrolled,
                                             self.return_sequences,
                                             requested_iteration_steps() if execution.plan.inference else 1)
        final_states = [tf.cast(state, tf.float32) for state in final_states]
        if self.return_sequences:
            out_mask = mask
            if mask is not None and self.go_backwards:
                out_mask = tf.reverse(mask, axis=[1])  # lines up with the outputs (rnncli fixes Keras 1 here)
            outputs = tf.transpose(outputs, [1, 0, 2])
            if self.zero_output_for_mask and out_mask is not None:  # [B, T, u]: masked steps zeroed
                outputs = tf.where(out_mask[:, :, None], outputs, tf.zeros_like(outputs))
            return outputs, out_mask, final_states
        return last, None, final_states

    def _carried_states(self, x: tf.Tensor) -> list[tf.Tensor]:
        """The stateful layer's states; a batch of another size than the state rows is refused (spec §9)."""
        rows = self.states[0].shape[0]
        if x.shape[0] is not None and x.shape[0] != rows:
            raise ValueError(f"stateful layer `{self.layer_name}` keeps states for batches of {rows} streams, "
                             f"but got a batch of {x.shape[0]}")
        return [tf.convert_to_tensor(v) for v in self.states]


def _project(x: tf.Tensor, weights: Weights, masks: Masks, per_gate: bool) -> tf.Tensor:
    """x [..., K] times fused ``weights`` [K, G*u] (with one shared mask [B, K] or none), or times each per-gate block
    [K, u] (with its own mask, or none), concatenated to [..., G*u]."""
    if not per_gate:
        return _matmul(x if masks is None else x * masks[0], weights)
    if masks is None:
        return tf.concat([_matmul(x, block) for block in weights], axis=-1)
    return tf.concat([_matmul(x * mask, block) for mask, block in zip(masks, weights)], axis=-1)


def _matmul(x: tf.Tensor, matrix: tf.Tensor) -> tf.Tensor:
    """[..., K] @ [K, N] -> [..., N] (rank 2 or 3)."""
    if x.shape.rank == 2:
        return tf.matmul(x, matrix)
    shape = tf.shape(x)
    flat = tf.matmul(tf.reshape(x, [-1, x.shape[-1]]), matrix)
    return tf.reshape(flat, tf.concat([shape[:-1], tf.shape(matrix)[-1:]], 0))


class SimpleRNN(Recurrent):
    """h_t = activation(x_t W + b + h_{t-1} U). Output h_t, states [h]."""

    kind, num_states = "SimpleRNN", 1

    def _gates(self, projected, states, execution):
        h = states[0]
        mask = execution.recurrent_mask(0)
        h_in = h if mask is None else h * mask
        output = self.activation(projected + tf.matmul(h_in, execution.recurrent_weights))
        return output, [output]


class GRU(Recurrent):
    """Keras 1 GRU (gates z, r, h; reset applied to h before U_h; no recurrent bias). States [h].

    ``reset_after: true`` (beyond Keras 1: Keras 2.1.3+, the Keras 3 default, CuDNNGRU's and torch ``nn.GRU``'s
    math) applies the reset gate after the recurrent product and adds a recurrent bias:
    ``h~ = act(x W_h + b_h + r * (h U_h + b'_h))``. Its bias is stored as Keras 2/3 store it, [2, 3u]: row 0
    the input bias, row 1 the recurrent bias (blocks z, r, h in both).
    """

    kind, num_states = "GRU", 1

    def __init__(self, config: dict, input_dim: int, rng: np.random.Generator, batch_size: int | None = None):
        self.reset_after = bool(config.get("reset_after", False))
        super().__init__(config, input_dim, rng, batch_size)

    def _init_bias(self, config: dict, rng: np.random.Generator) -> np.ndarray:
        rows = (2,) if config.get("reset_after") else ()
        return np.zeros(rows + (self.gates * self.units,), np.float32)

    def _split_bias(self, bias):
        if not self.reset_after:
            return bias, None
        return bias[0], bias[1]

    def _arrange_recurrent(self, matrix, per_gate):
        """[U_z, U_r, U_h] when the gates need separate matmuls; else [U_zr, U_h] (U_h multiplies r * h), or, with
        ``reset_after``, the fused U [u, 3u] (one matmul by h)."""
        if per_gate:
            return tf.split(matrix, 3, axis=-1)
        if self.reset_after:
            return matrix
        u = self.units
        return [matrix[:, :2 * u], matrix[:, 2 * u:]]

    def _gates(self, projected, states, execution):
        if self.reset_after:
            return self._gates_reset_after(projected, states, execution)
        h = states[0]
        x_z, x_r, x_h = tf.split(projected, 3, axis=-1)
        recurrent = execution.recurrent_weights
        m_z, m_r, m_h = (execution.recurrent_mask(gate) for gate in range(3))
        if execution.plan.per_gate_recurrent:
            rec_z = tf.matmul(h if m_z is None else h * m_z, recurrent[0])
            rec_r = tf.matmul(h if m_r is None else h * m_r, recurrent[1])
        else:  # one mask (or none) shared by z and r: one matmul by U_zr
            rec_z, rec_r = tf.split(tf.matmul(h if m_z is None else h * m_z, recurrent[0]), 2, axis=-1)
        z = self.inner_activation(x_z + rec_z)
        r = self.inner_activation(x_r + rec_r)
        reset_h = r * h if m_h is None else r * h * m_h
        candidate = self.activation(x_h + tf.matmul(reset_h, recurrent[-1]))
        output = z * h + (1.0 - z) * candidate
        return output, [output]

    def _gates_reset_after(self, projected, states, execution):
        """projected: x W + b_in [B, 3u]; (h * mask) U + b_rec [B, 3u] (per-gate masks: per-gate matmuls)."""
        h = states[0]
        x_z, x_r, x_h = tf.split(projected, 3, axis=-1)
        recurrent = execution.project_recurrent(h) + execution.recurrent_bias
        rec_z, rec_r, rec_h = tf.split(recurrent, 3, axis=-1)
        z = self.inner_activation(x_z + rec_z)
        r = self.inner_activation(x_r + rec_r)
        candidate = self.activation(x_h + r * rec_h)
        output = z * h + (1.0 - z) * candidate
        return output, [output]


class LSTM(Recurrent):
    """Keras 1 LSTM (gates i, f, c, o; no peepholes; forget bias from ``forget_bias_init``). States [h, c]."""

    kind, num_states = "LSTM", 2

    def _init_bias(self, config: dict, rng: np.random.Generator) -> np.ndarray:
        u = self.units
        forget = initialize(config["forget_bias_init"], (u,), rng)
        return np.concatenate([np.zeros(u), forget, np.zeros(u), np.zeros(u)]).astype(np.float32)

    def _gates(self, projected, states, execution):
        h, c = states
        u = self.units
        z = projected + execution.project_recurrent(h)
        if execution.plan.inference:  # inference: one activation over [B, 4u], gates sliced from it
            gates = self.inner_activation(z)
            i, f, o = gates[:, :u], gates[:, u:2 * u], gates[:, 3 * u:]
            z_c = z[:, 2 * u:3 * u]
        else:  # training: the split form, whose backward is faster
            z_i, z_f, z_c, z_o = tf.split(z, 4, axis=-1)
            i, f, o = self.inner_activation(z_i), self.inner_activation(z_f), self.inner_activation(z_o)
        c_new = f * c + i * self.activation(z_c)
        h_new = o * self.activation(c_new)
        return h_new, [h_new, c_new]


RECURRENT_LAYERS = {cls.kind: cls for cls in (SimpleRNN, GRU, LSTM)}
