"""The one loop over time shared by every recurrent core (Sonnet's core/unroll split).

``unroll`` runs ``step(x_t, states) -> (output_t, new_states)`` over a time-major input and owns everything about
sequences: ``go_backwards``, masking (a masked step keeps the previous states and repeats the previous output,
zeros before the first valid step), a Python-unrolled loop for a known length or a ``tf.while_loop`` that reads
timesteps through a ``TensorArray``, and whether the whole output sequence is kept.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Callable, Iterator, Sequence

import tensorflow as tf

Step = Callable[[tf.Tensor, list[tf.Tensor]], tuple[tf.Tensor, list[tf.Tensor]]]

# Sequences of at most this many (static) timesteps are always unrolled: a while loop and its TensorArrays cost more
# than the few steps themselves (the stateful streaming LSTM train step, T = 1: 2.4x -> 3.0x Keras' speed in one
# same-machine run of benchmarks/bench.py's stream shape).
SHORT_SEQUENCE = 4


_ITERATION_STEPS: contextvars.ContextVar[int] = contextvars.ContextVar("rnncli_iteration_steps", default=1)


@contextlib.contextmanager
def inference_iteration_steps(count: int) -> Iterator[None]:
    """While tracing inside this block, inference loops ask ``unroll`` for ``count`` timesteps per iteration.

    Worth it only where the compiled loop runs long: under XLA the medium LSTM forward runs 9% faster with 5 steps
    per iteration (61.7 -> 56.3 ms), but compiling it takes 0.9 s instead of 0.5 s, and in the plain graph the bigger
    trace made a 60-row `rnncli predict` 9% slower. So the engine uses it for its XLA inference steps only."""
    token = _ITERATION_STEPS.set(count)
    try:
        yield
    finally:
        _ITERATION_STEPS.reset(token)


def requested_iteration_steps() -> int:
    """The timesteps per iteration asked for by the innermost ``inference_iteration_steps`` block (else 1)."""
    return _ITERATION_STEPS.get()


def steps_per_iteration(timesteps: int | None, wanted: int) -> int:
    """The largest count <= ``wanted`` that divides a static ``timesteps`` (1 for an unknown length)."""
    if timesteps is None or wanted <= 1:
        return 1
    return next(k for k in range(min(wanted, timesteps), 0, -1) if timesteps % k == 0)


def unroll(
    step: Step,
    inputs: tf.Tensor,
    initial_states: Sequence[tf.Tensor],
    mask: tf.Tensor | None = None,
    go_backwards: bool = False,
    unrolled: bool = False,
    return_sequences: bool = True,
    iteration_steps: int = 1,
) -> tuple[tf.Tensor, tf.Tensor | None, list[tf.Tensor]]:
    """Run ``step`` over time.

    Args:
      step: one time step; ``output_t`` has the shape of ``states[0]`` ([B, u]).
      inputs: time-major [T, B, F] (any per-step features, e.g. precomputed projections).
      initial_states: list of [B, u] tensors.
      mask: [T, B] bool (time-major) or None.
      go_backwards: process t = T-1 .. 0; outputs stay in processing order.
      unrolled: use a Python loop (needs a static T) instead of ``tf.while_loop``; a static T of at most
        ``SHORT_SEQUENCE`` is unrolled regardless (the same function, computed faster).
      return_sequences: also return the stacked outputs.
      iteration_steps: timesteps per ``tf.while_loop`` iteration, for a static T (the largest divisor of T up to
        this many): fewer iterations cost less loop overhead (see ``inference_iteration_steps``); training keeps 1,
        where it measured no faster.

    Returns:
      ``(last_output [B, u], outputs [T, B, u] in processing order or None, final_states)``.
    """
    if go_backwards:
        inputs = tf.reverse(inputs, axis=[0])
        if mask is not None:
            mask = tf.reverse(mask, axis=[0])
    states = list(initial_states)
    previous_output = tf.zeros_like(states[0])

    def masked_step(x_t: tf.Tensor, m_t: tf.Tensor | None, prev_out: tf.Tensor, prev_states: list[tf.Tensor]):
        output, new_states = step(x_t, prev_states)
        if m_t is None:
            return output, list(new_states)
        keep = tf.expand_dims(m_t, -1)
        output = tf.where(keep, output, prev_out)
        new_states = [tf.where(keep, new, old) for new, old in zip(new_states, prev_states)]
        return output, new_states

    if unrolled or (inputs.shape[0] is not None and 0 < inputs.shape[0] <= SHORT_SEQUENCE):
        steps = inputs.shape[0]
        if steps is None:
            raise ValueError("unroll=True needs a known number of timesteps")
        outputs = []
        for t in range(steps):
            previous_output, states = masked_step(inputs[t], None if mask is None else mask[t], previous_output,
                                                  states)
            if return_sequences:
                outputs.append(previous_output)
        stacked = tf.stack(outputs) if return_sequences else None
        return previous_output, stacked, states

    steps = tf.shape(inputs)[0]
    input_ta = tf.TensorArray(inputs.dtype, size=steps, element_shape=inputs.shape[1:]).unstack(inputs)
    mask_ta = None
    if mask is not None:
        mask_ta = tf.TensorArray(tf.bool, size=steps, element_shape=mask.shape[1:]).unstack(mask)
    # the output TensorArray is a loop variable only when it is written: tf2onnx cannot convert a loop that carries
    # an unwritten one (ONNX export of return_sequences=False layers)
    carried = [tf.TensorArray(previous_output.dtype, size=steps, element_shape=previous_output.shape)] \
        if return_sequences else []

    per_iteration = steps_per_iteration(inputs.shape[0], iteration_steps)

    def body(t, prev_out, *rest):
        out_tas, prev_states = list(rest[:len(carried)]), list(rest[len(carried):])
        output = prev_out
        for offset in range(per_iteration):
            index = t * per_iteration + offset
            m_t = None if mask_ta is None else mask_ta.read(index)
            output, prev_states = masked_step(input_ta.read(index), m_t, output, prev_states)
            out_tas = [out_ta.write(index, output) for out_ta in out_tas]
        return (t + 1, output, *out_tas, *prev_states)

    iterations = steps // per_iteration
    loop_vars = (tf.constant(0), previous_output, *carried, *states)
    results = tf.while_loop(lambda t, *_: t < iterations, body, loop_vars, maximum_iterations=iterations)
    last_output, final_states = results[1], list(results[2 + len(carried):])
    stacked = results[2].stack() if return_sequences else None
    return last_output, stacked, final_states
