"""The recurrent layers as cores (Sonnet's contract): ``initial_state`` and ``step`` reproduce ``call``, and the
execution plan that ``consume_less`` and the dropout in force decide once per call."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf

from rnncli.config.plan import GATES
from rnncli.layers.recurrent import RECURRENT_LAYERS, ExecutionPlan

B, T, D = 3, 5, 4
KINDS = ("SimpleRNN", "GRU", "LSTM")


@pytest.mark.parametrize("mode", ["cpu", "mem", "gpu"])
@pytest.mark.parametrize("kind", KINDS)
def test_stepping_from_the_initial_state_reproduces_call(kit, kind, mode):
    _, layer = kit.single(kind, consume_less=mode, return_sequences=True)
    layer.set_weights(kit.random_weights(kind))
    x = tf.constant(kit.inputs())
    states = layer.initial_state(B)
    assert len(states) == (2 if kind == "LSTM" else 1)
    assert all(s.shape == (B, layer.units) and not s.numpy().any() for s in states)
    outputs = []
    for t in range(T):
        output, states = layer.step(x[:, t], states)
        outputs.append(output)
    # cpu mode projects all timesteps in one matmul in `call`, one per step here: equal up to float32 rounding
    np.testing.assert_allclose(np.stack(outputs, axis=1), layer(x)[0].numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(outputs[-1].numpy(), states[0].numpy())  # output = h


@pytest.mark.parametrize("kind", KINDS)
def test_step_with_a_calls_execution_applies_its_dropout_masks(kit, kind):
    """The masks drawn once per call go into every step: the same masks give the same step, other masks another."""
    _, layer = kit.single(kind, consume_less="cpu", dropout_W=0.5, dropout_U=0.5)
    layer.set_weights(kit.random_weights(kind))
    x_t = tf.constant(kit.inputs()[:, 0])
    h = [tf.ones([B, layer.units])] * layer.num_states
    rng = tf.random.Generator.from_seed(1)
    execution = layer.prepare(B, training=True, rng=rng)
    assert len(execution.input_masks) == len(execution.recurrent_masks) == GATES[kind]
    first, _ = layer.step(x_t, h, execution)
    again, _ = layer.step(x_t, h, execution)
    np.testing.assert_array_equal(first.numpy(), again.numpy())
    other, _ = layer.step(x_t, h, layer.prepare(B, training=True, rng=rng))
    assert np.abs(other.numpy() - first.numpy()).max() > 1e-3
    plain, _ = layer.step(x_t, h)  # no execution: inference, no dropout
    assert layer.prepare(B).input_masks is None and layer.prepare(B, training=True).recurrent_masks is None
    assert np.abs(plain.numpy() - first.numpy()).max() > 1e-3


@pytest.mark.parametrize("kind,mode,input_dropout,recurrent_dropout",
                         list(itertools.product(KINDS, ("cpu", "mem", "gpu"), (False, True), (False, True))))
def test_execution_plan(kind, mode, input_dropout, recurrent_dropout):
    """cpu precomputes the input projections; mem runs one matmul per gate; gpu fuses everything and shares one
    mask among the gates; in cpu mode a side with per-gate dropout masks needs per-gate matmuls (Keras 1)."""
    gates = GATES[kind]
    plan = ExecutionPlan.decide(mode, gates, input_dropout, recurrent_dropout)
    gated = gates > 1
    assert plan.precompute_inputs == (mode == "cpu")
    assert plan.per_gate_masks == (gated and mode != "gpu")
    assert plan.mask_count == (gates if mode != "gpu" else 1)
    expected_input = gated and (mode == "mem" or (mode == "cpu" and input_dropout))
    expected_recurrent = gated and (mode == "mem" or (mode == "cpu" and recurrent_dropout))
    assert (plan.per_gate_input, plan.per_gate_recurrent) == (expected_input, expected_recurrent)
    assert plan.inference and not ExecutionPlan.decide(mode, gates, input_dropout, recurrent_dropout,
                                                       training=True).inference


@pytest.mark.parametrize("mode", ["cpu", "mem", "gpu"])
@pytest.mark.parametrize("inner", ["hard_sigmoid", "sigmoid", "relu"])
def test_lstm_gate_forms_of_inference_and_training_compute_the_same_values(kit, mode, inner):
    """Inference applies the inner activation to all 4u columns and slices the gates; training (without dropout,
    so the same function) activates the split blocks. Compiled as `rnncli predict`/`train` compile them."""
    _, layer = kit.single("LSTM", consume_less=mode, inner_activation=inner, return_sequences=True)
    layer.set_weights(kit.random_weights("LSTM"))
    x = tf.constant(kit.inputs(shape=(B, 12, D)) * 2.0)  # 12 steps: the while loop, not the unrolled path

    for jit in (False, True):
        @tf.function(jit_compile=jit, autograph=False)
        def both(x):
            return layer(x, training=False)[0], layer(x, training=True)[0]

        inference, training = both(x)
        np.testing.assert_allclose(inference.numpy(), training.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind", KINDS)
def test_the_layers_read_their_gate_count_from_the_one_table(kit, kind):
    _, layer = kit.single(kind)
    assert RECURRENT_LAYERS[kind] is type(layer) and layer.gates == GATES[kind]
    assert layer.kernel.shape == (D, GATES[kind] * layer.units)


def _recurrent_matmuls_per_loop_body(function, x) -> int:
    """MatMul ops in the while loop's body of ``function``'s graph."""
    graph_def = function.get_concrete_function(x).graph.as_graph_def()
    bodies = [f for f in graph_def.library.function if "body" in f.signature.name]
    assert len(bodies) == 1
    return sum(node.op in ("MatMul", "BatchMatMulV2") for node in bodies[0].node_def)


def test_inference_loops_run_the_requested_steps_per_iteration_and_training_loops_one(kit):
    """Inside ``inference_iteration_steps(4)`` a 12-step inference loop runs 4 steps per iteration (4 recurrent
    matmuls in its body, the same outputs); training calls and calls outside the block keep one."""
    from rnncli.layers.unroll import inference_iteration_steps

    _, layer = kit.single("LSTM", consume_less="cpu", input_shape=(12, D))
    layer.set_weights(kit.random_weights("LSTM"))
    x = tf.constant(kit.inputs(shape=(B, 12, D)))

    def traced(training: bool, steps: int):
        def run(x):
            with inference_iteration_steps(steps):
                return layer(x, training=training)[0]
        return tf.function(run, autograph=False)

    assert _recurrent_matmuls_per_loop_body(traced(False, 4), x) == 4
    assert _recurrent_matmuls_per_loop_body(traced(False, 1), x) == 1
    assert _recurrent_matmuls_per_loop_body(traced(True, 4), x) == 1
    np.testing.assert_allclose(traced(False, 4)(x).numpy(), traced(False, 1)(x).numpy(), rtol=1e-6, atol=1e-7)
