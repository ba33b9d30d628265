"""``zero_output_for_mask`` (beyond Keras 1; forced by Keras 2.3+/3 Bidirectional on sequences) against Keras 3."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

keras = pytest.importorskip("keras")


@pytest.mark.parametrize("kind,backwards", [("LSTM", False), ("GRU", True), ("SimpleRNN", False)])
def test_masked_steps_are_zeros_as_in_keras3(kit, kind, backwards):
    weights = kit.random_weights(kind)
    inner = {} if kind == "SimpleRNN" else {"inner_activation": "sigmoid"}
    model, layer = kit.single(kind, return_sequences=True, go_backwards=backwards, zero_output_for_mask=True, **inner)
    layer.set_weights(weights)
    n = 3 * kit.B
    x = tf.constant(kit.inputs(shape=(n, kit.T, kit.D)))
    mask = tf.constant(kit.STACKED_MASK)
    cls = getattr(keras.layers, kind)
    extra = {"reset_after": False} if kind == "GRU" else {}
    reference = cls(kit.U, return_sequences=True, go_backwards=backwards, zero_output_for_mask=True, **extra,
                    **({} if kind == "SimpleRNN" else {"recurrent_activation": "sigmoid", "use_cudnn": False}))
    reference.build((n, kit.T, kit.D))
    reference.set_weights(weights)
    expected = reference(x, mask=mask).numpy()
    y, out_mask = model(x, mask=mask)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-5, atol=1e-5)
    assert not y.numpy()[~out_mask.numpy()].any() and y.numpy()[out_mask.numpy()].any()
    plain, _ = kit.single(kind, return_sequences=True, go_backwards=backwards, **inner)
    plain.layers[0].set_weights(weights)
    assert plain(x, mask=mask)[0].numpy()[~out_mask.numpy()].any()  # Keras 1: the previous output repeats
