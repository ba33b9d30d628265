"""Weight penalties (spec §2.3, §15.2): W_/U_/b_regularizer apply to the input kernel, the recurrent kernel and
the bias in every consume_less mode (Keras 1.2's per-gate U bug is not copied)."""

from __future__ import annotations

import numpy as np
import pytest


def penalty(array: np.ndarray, reg: dict) -> float:
    array = array.astype(np.float64)
    return reg.get("l1", 0.0) * np.abs(array).sum() + reg.get("l2", 0.0) * np.square(array).sum()


@pytest.mark.parametrize("mode", ["cpu", "mem", "gpu"])
@pytest.mark.parametrize("kind", ["SimpleRNN", "GRU", "LSTM"])
def test_recurrent_penalties(kit, kind, mode):
    regs = {"W_regularizer": {"l1": 0.01}, "U_regularizer": {"l2": 0.1}, "b_regularizer": {"l1": 0.2, "l2": 0.5}}
    _, layer = kit.single(kind, consume_less=mode, **regs)
    W, U, b = layer.get_weights()
    expected = penalty(W, regs["W_regularizer"]) + penalty(U, regs["U_regularizer"]) + penalty(
        b, regs["b_regularizer"])
    np.testing.assert_allclose(float(layer.regularization_loss()), expected, rtol=1e-5)
    _, only_u = kit.single(kind, consume_less=mode, U_regularizer={"l2": 0.1})
    np.testing.assert_allclose(float(only_u.regularization_loss()), penalty(only_u.get_weights()[1], {"l2": 0.1}),
                               rtol=1e-5)


def test_model_sums_the_penalties_of_every_layer_and_wrapper(kit):
    reg = {"l2": 0.01}
    model = kit.model([
        {"type": "Embedding", "input_dim": 7, "output_dim": 4, "input_length": 5, "W_regularizer": reg},
        {"type": "Bidirectional", "layer": {"type": "GRU", "output_dim": 3, "return_sequences": True,
                                            "U_regularizer": reg}},
        {"type": "TimeDistributed", "layer": {"type": "Dense", "output_dim": 2, "W_regularizer": reg}},
    ])
    embedding, bidirectional, dense = model.layers
    weights = bidirectional.get_weights()
    expected = (penalty(embedding.get_weights()[0], reg) + penalty(weights[1], reg) + penalty(weights[4], reg)
                + penalty(dense.get_weights()[0], reg))
    np.testing.assert_allclose(float(model.regularization_loss()), expected, rtol=1e-5)
    unregularized = kit.model([kit.layer_config("LSTM", output_dim=3)])
    assert float(unregularized.regularization_loss()) == 0.0
