"""SimpleRNN, GRU and LSTM: Keras 1 recurrences written directly with TensorFlow ops.

Weights are always stored fused, as Keras 1 'gpu' mode stores them: ``kernel`` W [D, G*u], ``recurrent_kernel``
U [u, G*u], ``bias`` b [G*u], with gate blocks i, f, c, o (LSTM), z, r, h (GRU) or a single block (SimpleRNN). So a
checkpoint does not depend on ``consume_less``, which only changes how the same function is executed:

* ``cpu``: the input projections of all timesteps are one matmul before the loop; one recurrent matmul per step.
* ``mem``: per-gate input and recurrent matmuls inside the step.
* ``gpu``: one fused input and one fused recurrent matmul per step.

Dropout masks follow Keras 1 (spec §2.5, with §15's fixes): variational masks drawn once per forward pass,
constant over time; one mask shared by all gates in ``gpu`` mode, one per gate in ``cpu``/``mem``.

Example::

    layer = LSTM(config, input_dim=3, seed=0)     # config: a resolved LSTM mapping
    y, mask = layer(tf.zeros([2, 5, 3]))          # y: [2, u] (or [2, 5, u] with return_sequences)
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from rnncli.layers.activations import get_activation
from rnncli.layers.base import Layer, dropout_mask
from rnncli.layers.initializers import initialize, initialize_blocks
from rnncli.layers.unroll import unroll

GATE_COUNT = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}


class Recurrent(Layer):
    """Shared machinery of the three recurrent layers; subclasses define the gate math in ``_gates``."""

    gates = 1
    num_states = 1

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
        g = self.gates
        with self.name_scope:
            self.kernel = self.make_variable("kernel", self._init_kernel(config["init"], (input_dim, units), rng),
                                             config["W_regularizer"])
            self.recurrent_kernel = self.make_variable(
                "recurrent_kernel", self._init_kernel(config["inner_init"], (units, units), rng),
                config["U_regularizer"])
            self.bias = self.make_variable("bias", self._init_bias(config, rng), config["b_regularizer"])
            if self.stateful:
                if batch_size is None:
                    raise ValueError(f"stateful layer `{self.layer_name}` needs a fixed batch size")
                self.states = [tf.Variable(tf.zeros([batch_size, units]), trainable=False, name=f"state_{i}")
                               for i in range(self.num_states)]
                self.steps_since_reset = tf.Variable(0, dtype=tf.int64, trainable=False, name="steps_since_reset")
        assert self.kernel.shape == (input_dim, g * units)

    # -- initialisation -------------------------------------------------------------------------------------------

    def _init_kernel(self, spec, block: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
        """Per-gate draws in cpu/mem mode (and always for identity), one fused draw in gpu mode (Keras 1)."""
        name = spec["name"] if isinstance(spec, dict) else spec
        if self.mode == "gpu" and name != "identity":
            return initialize(spec, (block[0], self.gates * block[1]), rng)
        return initialize_blocks(spec, block, self.gates, rng)

    def _init_bias(self, config: dict, rng: np.random.Generator) -> np.ndarray:
        return np.zeros(self.gates * self.units, np.float32)

    def weight_variables(self) -> list[tf.Variable]:
        return [self.kernel, self.recurrent_kernel, self.bias]

    @property
    def state_variables(self) -> list[tf.Variable]:
        return list(self.states) if self.stateful else []

    def reset_states(self) -> None:
        super().reset_states()
        if self.stateful:
            self.steps_since_reset.assign(0)

    # -- forward --------------------------------------------------------------------------------------------------

    def _draw_masks(self, rng, batch: tf.Tensor, training: bool) -> tuple:
        """(input masks, recurrent masks): None, one [B, dim] mask (gpu), or a list of one per gate (cpu/mem)."""
        if not training or rng is None:
            return None, None
        count = 1 if self.mode == "gpu" else self.gates

        def draw(rate: float, dim: int):
            if rate <= 0.0:
                return None
            masks = [dropout_mask(rng, tf.stack([batch, dim]), rate) for _ in range(count)]
            return masks[0] if self.mode == "gpu" else masks

        return draw(self.dropout_W, self.input_dim), draw(self.dropout_U, self.units)

    def _blocks(self, matrix: tf.Tensor) -> list[tf.Tensor]:
        return tf.split(matrix, self.gates, axis=-1) if self.gates > 1 else [matrix]

    def _weights(self, matrix: tf.Tensor, masks, per_gate: bool):
        """What ``_project`` multiplies by: the fused matrix, or its per-gate blocks when each gate has its own
        matmul. Split once before the loop: a split inside the step would cost a full-size gradient every step."""
        return self._blocks(matrix) if per_gate or isinstance(masks, list) else matrix

    @staticmethod
    def _project(x: tf.Tensor, weights, masks) -> tf.Tensor:
        """x [..., K] times ``weights`` (fused [K, G*u] or a list of per-gate blocks), with dropout masks [B, K]
        (shared) or a list of one per gate."""
        if not isinstance(weights, list):
            return _matmul(x if masks is None else x * masks, weights)
        if masks is None:
            return tf.concat([_matmul(x, block) for block in weights], axis=-1)
        return tf.concat([_matmul(x * mask, block) for mask, block in zip(masks, weights)], axis=-1)

    def call(self, x, mask, training, rng):
        """x: [B, T, D] float; mask: [B, T] bool or None. Returns ([B, T, u] or [B, u], mask or None).

        A stateful layer starts from its state variables and stores its final states back into them."""
        initial = None
        if self.stateful:
            rows = self.states[0].shape[0]
            if x.shape[0] is not None and x.shape[0] != rows:
                raise ValueError(f"stateful layer `{self.layer_name}` keeps states for batches of {rows} streams, "
                                 f"but got a batch of {x.shape[0]}")
            initial = [tf.convert_to_tensor(v) for v in self.states]
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
        way, whatever batch size the state variables were made for)."""
        batch = tf.shape(x)[0]
        input_masks, recurrent_masks = self._draw_masks(rng, batch, training)
        # read every variable once, outside the loop: the loop body then only captures loop-invariant tensors
        kernel = tf.convert_to_tensor(self.kernel)
        bias = tf.convert_to_tensor(self.bias)
        recurrent = self._recurrent_weights(tf.convert_to_tensor(self.recurrent_kernel), recurrent_masks)
        x_tbd = tf.transpose(x, [1, 0, 2])
        if self.mode == "cpu":
            # all timesteps' input projections in one matmul (one per gate when each gate has its own mask); the
            # bias is added inside the step: XLA:CPU reads slices of a `matmul + bias` buffer several times slower
            sequence = self._project(x_tbd, self._weights(kernel, input_masks, False), input_masks)

            def project_input(projected_t):
                return projected_t + bias
        else:
            sequence = x_tbd
            input_weights = self._weights(kernel, input_masks, self.mode == "mem")

            def project_input(x_t):
                return self._project(x_t, input_weights, input_masks) + bias

        if initial_states is not None:
            initial = list(initial_states)
        else:
            zeros = tf.zeros(tf.stack([batch, self.units]), dtype=x.dtype)
            initial = [zeros] * self.num_states

        def step(inputs_t, states):
            projected = project_input(inputs_t)
            return self._gates(projected, states, recurrent, recurrent_masks)

        time_mask = None if mask is None else tf.transpose(mask, [1, 0])
        last, outputs, final_states = unroll(step, sequence, initial, time_mask, self.go_backwards, self.unrolled,
                                             self.return_sequences)
        if self.return_sequences:
            out_mask = mask
            if mask is not None and self.go_backwards:
                out_mask = tf.reverse(mask, axis=[1])  # lines up with the outputs (rnncli fixes Keras 1 here)
            return tf.transpose(outputs, [1, 0, 2]), out_mask, final_states
        return last, None, final_states

    def _recurrent_weights(self, matrix: tf.Tensor, recurrent_masks):
        """The recurrent matrix as ``_gates`` uses it (fused or pre-split blocks), prepared once per call."""
        return self._weights(matrix, recurrent_masks, self.mode == "mem")

    def _gates(self, projected: tf.Tensor, states: list[tf.Tensor], recurrent, recurrent_masks) -> tuple:
        raise NotImplementedError


def _matmul(x: tf.Tensor, matrix: tf.Tensor) -> tf.Tensor:
    """[..., K] @ [K, N] -> [..., N] (rank 2 or 3)."""
    if x.shape.rank == 2:
        return tf.matmul(x, matrix)
    shape = tf.shape(x)
    flat = tf.matmul(tf.reshape(x, [-1, x.shape[-1]]), matrix)
    return tf.reshape(flat, tf.concat([shape[:-1], tf.shape(matrix)[-1:]], 0))


class SimpleRNN(Recurrent):
    """h_t = activation(x_t W + b + h_{t-1} U). Output h_t, states [h]."""

    gates, num_states = 1, 1

    def _recurrent_weights(self, matrix, recurrent_masks):
        return matrix

    def _gates(self, projected, states, recurrent, recurrent_masks):
        h = states[0]
        h_in = h if recurrent_masks is None else h * (recurrent_masks if not isinstance(recurrent_masks, list)
                                                      else recurrent_masks[0])
        output = self.activation(projected + tf.matmul(h_in, recurrent))
        return output, [output]


class GRU(Recurrent):
    """Keras 1 GRU (gates z, r, h; reset applied to h before U_h; no recurrent bias). States [h]."""

    gates, num_states = 3, 1

    def _recurrent_weights(self, matrix, recurrent_masks):
        """[U_z, U_r, U_h] when z and r need separate matmuls ('mem', per-gate masks), else [U_zr, U_h]."""
        u = self.units
        if self.mode == "mem" or isinstance(recurrent_masks, list):
            return tf.split(matrix, 3, axis=-1)
        return [matrix[:, :2 * u], matrix[:, 2 * u:]]

    def _gates(self, projected, states, recurrent, recurrent_masks):
        h = states[0]
        x_z, x_r, x_h = tf.split(projected, 3, axis=-1)
        U_h = recurrent[-1]
        if isinstance(recurrent_masks, list):
            m_z, m_r, m_h = recurrent_masks
            rec_z = tf.matmul(h * m_z, recurrent[0])
            rec_r = tf.matmul(h * m_r, recurrent[1])
        else:
            m_h = recurrent_masks
            h_in = h if m_h is None else h * m_h
            if len(recurrent) == 3:
                rec_z, rec_r = tf.matmul(h_in, recurrent[0]), tf.matmul(h_in, recurrent[1])
            else:
                rec_z, rec_r = tf.split(tf.matmul(h_in, recurrent[0]), 2, axis=-1)
        z = self.inner_activation(x_z + rec_z)
        r = self.inner_activation(x_r + rec_r)
        reset_h = r * h if m_h is None else r * h * m_h
        candidate = self.activation(x_h + tf.matmul(reset_h, U_h))
        output = z * h + (1.0 - z) * candidate
        return output, [output]


class LSTM(Recurrent):
    """Keras 1 LSTM (gates i, f, c, o; no peepholes; forget bias from ``forget_bias_init``). States [h, c]."""

    gates, num_states = 4, 2

    def _init_bias(self, config: dict, rng: np.random.Generator) -> np.ndarray:
        u = self.units
        forget = initialize(config["forget_bias_init"], (u,), rng)
        return np.concatenate([np.zeros(u), forget, np.zeros(u), np.zeros(u)]).astype(np.float32)

    def _gates(self, projected, states, recurrent, recurrent_masks):
        h, c = states
        z = projected + self._project(h, recurrent, recurrent_masks)
        z_i, z_f, z_c, z_o = tf.split(z, 4, axis=-1)
        i = self.inner_activation(z_i)
        f = self.inner_activation(z_f)
        c_new = f * c + i * self.activation(z_c)
        o = self.inner_activation(z_o)
        h_new = o * self.activation(c_new)
        return h_new, [h_new, c_new]


RECURRENT_LAYERS = {"SimpleRNN": SimpleRNN, "GRU": GRU, "LSTM": LSTM}
