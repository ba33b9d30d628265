"""Every descriptor through the same checks (Sonnet's conformance suite): checkpoint round trip into a fresh
instance, no retracing across batches of one shape, XLA against the plain graph, SavedModel against eager.

The model of each descriptor and its compiled functions are built once per descriptor and shared by the checks.
Stateful models are reset before every compared run, so each comparison starts from the same states.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from rnncli.model import Sequential

SEED = 5
XLA_TOL = dict(rtol=1e-5, atol=1e-6)  # XLA may fuse and reorder float32 arithmetic


@dataclass
class Subject:
    """A descriptor's model with its compiled steps: inference, and training (forward + gradients) with dropout drawn
    from ``rng`` (plain graph) or without dropout (plain graph and XLA: XLA draws other random bits than TensorFlow's
    kernels from the same generator state, so only the deterministic training step is compared across the two)."""

    model: Sequential
    rng: tf.random.Generator
    plain_infer: Any
    plain_train: Any
    plain_train_no_dropout: Any
    xla_infer: Any
    xla_train_no_dropout: Any

    def run(self, function, x: tf.Tensor) -> list[np.ndarray]:
        """Reset states, run ``function`` once; its outputs and the states it leaves, as arrays."""
        self.model.reset_states()
        return [np.asarray(t) for t in tf.nest.flatten(function(x))] + states(self.model)


def states(model: Sequential) -> list[np.ndarray]:
    return [v.numpy() for v in model.state_variables]


def infer_step(model: Sequential):
    def infer(x):
        y, mask = model(x)
        return y if mask is None else (y, mask)

    return infer


def train_step(model: Sequential, dropout: bool):
    """Forward in training mode (dropout drawn from ``rng`` when ``dropout``) and the gradients of a scalar loss."""

    def train(x, rng=None):
        with tf.GradientTape() as tape:
            y, _ = model(x, True, rng if dropout else None)
            loss = tf.reduce_sum(tf.square(y)) + model.regularization_loss()
        gradients = tape.gradient(loss, model.trainable_variables)
        return y, [tf.convert_to_tensor(g) for g in gradients]  # an Embedding's gradient is IndexedSlices

    return train


@pytest.fixture(scope="module")
def subject(kit, descriptor) -> Subject:
    model = kit.model(descriptor.model_layers(), seed=0)
    return Subject(model, tf.random.Generator.from_seed(SEED),
                   plain_infer=tf.function(infer_step(model)),
                   plain_train=tf.function(train_step(model, dropout=True)),
                   plain_train_no_dropout=tf.function(train_step(model, dropout=False)),
                   xla_infer=tf.function(infer_step(model), jit_compile=True),
                   xla_train_no_dropout=tf.function(train_step(model, dropout=False), jit_compile=True))


def test_checkpoint_restore_into_a_fresh_instance_gives_identical_outputs(kit, descriptor, subject, tmp_path):
    original = subject.model
    first, second = descriptor.batches(2)
    original.reset_states()
    original(first)  # a stateful model's states move, and must travel with the checkpoint
    path = tf.train.Checkpoint(model=original).write(str(tmp_path / "ckpt"))
    fresh = kit.model(descriptor.model_layers(), seed=1, weight_files=False)
    if original.trainable_variables:  # otherwise the restore below could not change anything
        assert any(not np.array_equal(a, b) for a, b in zip(original.trainable_variables, fresh.trainable_variables))
    tf.train.Checkpoint(model=fresh).read(path).assert_consumed()

    for model_states in zip(states(original), states(fresh)):
        np.testing.assert_array_equal(*model_states)
    np.testing.assert_array_equal(original(second)[0], fresh(second)[0])
    rng_a, rng_b = tf.random.Generator.from_seed(SEED), tf.random.Generator.from_seed(SEED)
    np.testing.assert_array_equal(original(second, True, rng_a)[0], fresh(second, True, rng_b)[0])
    for model_states in zip(states(original), states(fresh)):
        np.testing.assert_array_equal(*model_states)


def test_no_retracing_across_batches_of_one_shape(descriptor, subject):
    first, *others = descriptor.batches(3)
    subject.model.reset_states()
    for function, args in ((subject.plain_infer, ()), (subject.plain_train, (subject.rng,))):
        function(first, *args)
        traced = function.experimental_get_tracing_count()
        for x in others:
            function(x, *args)
        assert function.experimental_get_tracing_count() == traced, function


def test_xla_agrees_with_the_plain_graph(descriptor, subject):
    x = descriptor.batches(1)[0]
    for plain, xla in ((subject.plain_infer, subject.xla_infer),
                       (subject.plain_train_no_dropout, subject.xla_train_no_dropout)):
        expected = subject.run(plain, x)
        actual = subject.run(xla, x)
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected):
            # absolute tolerance scaled to the array's magnitude: XLA reorders float32 reductions (a batch
            # normalisation's gradient sums over B*T terms of both signs)
            scale = float(np.max(np.abs(e))) if np.size(e) and np.issubdtype(np.asarray(e).dtype, np.floating) else 0
            np.testing.assert_allclose(a, e, rtol=XLA_TOL["rtol"], atol=max(XLA_TOL["atol"], 1e-6 * scale))


def test_saved_model_agrees_with_eager(descriptor, subject, tmp_path):
    model = subject.model
    x = descriptor.batches(1)[0]
    module = tf.Module()
    module.model = model
    module.predict = tf.function(lambda x: model(x)[0], input_signature=[tf.TensorSpec(x.shape, x.dtype)])
    model.reset_states()
    tf.saved_model.save(module, str(tmp_path / "saved"))
    loaded = tf.saved_model.load(str(tmp_path / "saved"))
    for _ in range(2):  # a stateful model continues from the states the first call left, in both
        np.testing.assert_allclose(loaded.predict(x).numpy(), model(x)[0].numpy(), rtol=1e-6, atol=1e-7)


def test_every_variable_is_reachable_through_the_layers(subject):
    """Optimizer slots are keyed by ``trainable_by_path``; the Keras 1 weight lists and states by the layers."""
    model = subject.model
    by_path = model.trainable_by_path()
    trainable = {v.ref() for v in model.trainable_variables}
    assert {v.ref() for v in by_path.values()} == trainable
    assert len(by_path) == len(trainable)
    listed = {v.ref() for layer in model.layers for v in layer.weight_variables()}
    assert listed == {v.ref() for v in model.variables} - {v.ref() for v in model.state_variables} - {
        core.steps_since_reset.ref() for core in model.stateful_cores()}
