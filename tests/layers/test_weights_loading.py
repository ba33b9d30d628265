"""`weights:` files (spec §15.6): both Keras 1 layouts load into every consume_less mode and compute the same
function; wrong counts and shapes are reported by ``load_config`` before anything is built."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from rnncli.config.validate import load_config
from rnncli.errors import ConfigError

MODES = ("cpu", "mem", "gpu")
D, U = 4, 5
# Keras 1 per-gate storage order, and where each gate's block sits in the fused [W, U, b] (compute order).
STORAGE = {"SimpleRNN": ("",), "GRU": ("z", "r", "h"), "LSTM": ("i", "c", "f", "o")}
FUSED = {"SimpleRNN": ("",), "GRU": ("z", "r", "h"), "LSTM": ("i", "f", "c", "o")}


def per_gate(kind: str, fused: list[np.ndarray]) -> list[np.ndarray]:
    """The Keras 1 'cpu'/'mem' weight list for fused [W, U, b]: [W_g, U_g, b_g] per gate in storage order."""
    blocks = [np.split(array, len(FUSED[kind]), axis=-1) for array in fused]
    result = []
    for gate in STORAGE[kind]:
        index = FUSED[kind].index(gate)
        result += [blocks[0][index], blocks[1][index], blocks[2][index]]
    return result


@pytest.mark.parametrize("kind", ["SimpleRNN", "GRU", "LSTM"])
def test_both_layouts_load_into_every_mode_and_agree(kit, kind):
    fused = kit.random_weights(kind, seed=2)
    layouts = {"fused": fused}
    if kind != "SimpleRNN":
        layouts["per_gate"] = per_gate(kind, fused)
        assert len(layouts["per_gate"]) == 3 * len(FUSED[kind])
    x = tf.constant(kit.inputs(seed=5))
    outputs = {}
    for layout, arrays in layouts.items():
        name = kit.save_weights(arrays)
        for mode in MODES:
            model, layer = kit.single(kind, consume_less=mode, return_sequences=True, weights=name)
            for loaded, expected in zip(layer.get_weights(), fused):
                np.testing.assert_array_equal(loaded, expected, err_msg=f"{layout} {mode}")
            outputs[layout, mode] = model(x, mask=kit.mask("holes"))[0].numpy()
    reference = outputs["fused", "cpu"]
    for key, value in outputs.items():
        np.testing.assert_allclose(value, reference, rtol=1e-6, atol=1e-6, err_msg=str(key))


@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
def test_per_gate_storage_order(kit, kind):
    """LSTM files list gates i, c, f, o (cell before forget); the fused blocks are i, f, c, o. GRU: z, r, h."""
    arrays = []
    for number, _ in enumerate(STORAGE[kind], start=1):
        arrays += [np.full((D, U), number, np.float32), np.full((U, U), 10 * number, np.float32),
                   np.full((U,), 100 * number, np.float32)]
    _, layer = kit.single(kind, weights=kit.save_weights(arrays))
    W, Uw, b = layer.get_weights()
    for position, gate in enumerate(FUSED[kind]):
        number = STORAGE[kind].index(gate) + 1
        cols = slice(position * U, (position + 1) * U)
        assert np.all(W[:, cols] == number) and np.all(Uw[:, cols] == 10 * number) and np.all(b[cols] == 100 * number)


@pytest.mark.parametrize("layout", ["fused", "per_gate"])
def test_bidirectional_weights_are_forward_then_backward(kit, layout):
    forward, backward = kit.random_weights("LSTM", seed=1), kit.random_weights("LSTM", seed=2)
    arrays = forward + backward if layout == "fused" else per_gate("LSTM", forward) + per_gate("LSTM", backward)
    model = kit.model([{"type": "Bidirectional", "input_shape": [5, 4],
                        "layer": {"type": "LSTM", "output_dim": U, "weights": kit.save_weights(arrays)}}])
    layer = model.layers[0]
    for loaded, expected in zip(layer.get_weights(), forward + backward):
        np.testing.assert_array_equal(loaded, expected)


def test_dense_and_embedding_weights(kit):
    table = np.arange(12, dtype=np.float32).reshape(6, 2)
    W, b = np.ones((2, 3), np.float32), np.array([1.0, 2.0, 3.0], np.float32)
    model = kit.model([{"type": "Embedding", "input_dim": 6, "output_dim": 2, "input_length": 3,
                        "weights": kit.save_weights([table])},
                       {"type": "Dense", "output_dim": 3, "weights": kit.save_weights([W, b])}])
    y, _ = model(tf.constant([[1, 2, 5]]))
    np.testing.assert_allclose(y.numpy(), (table[[1, 2, 5]] @ W + b)[None])


def _config_error(kit, arrays, kind="LSTM", **extra) -> ConfigError:
    name = kit.save_weights(arrays)
    layer = kit.layer_config(kind, output_dim=U, name="encoder", weights=name, **extra)
    with pytest.raises(ConfigError) as info:
        load_config(kit.write_config([layer]))
    return info.value


@pytest.mark.parametrize("count", [2, 4, 11])
def test_wrong_count_is_a_config_error(kit, count):
    arrays = [np.zeros((D, 4 * U), np.float32)] * count
    error = _config_error(kit, arrays)
    message = str(error)
    assert "encoder" in message and "weights" in message
    assert "3 or 12" in message and str(count) in message
    assert error.diagnostics[0].line > 0  # points into the config file


@pytest.mark.parametrize("layout,index,bad", [
    ("fused", 0, (D + 1, 4 * U)),
    ("fused", 1, (U, 4 * U - 1)),
    ("fused", 2, (4 * U, 1)),
    ("per_gate", 7, (U + 1, U)),  # U_f
    ("per_gate", 11, (U - 1,)),  # b_o
])
def test_wrong_shape_names_layer_index_and_shapes(kit, layout, index, bad):
    fused = kit.random_weights("LSTM")
    arrays = fused if layout == "fused" else per_gate("LSTM", fused)
    expected = arrays[index].shape
    arrays = list(arrays)
    arrays[index] = np.zeros(bad, np.float32)
    message = str(_config_error(kit, arrays))
    assert "encoder" in message
    assert f"array {index}" in message
    assert str(tuple(bad)) in message and str(tuple(expected)) in message


def test_simple_rnn_has_one_layout(kit):
    message = str(_config_error(kit, per_gate("LSTM", kit.random_weights("LSTM")), kind="SimpleRNN"))
    assert "encoder" in message and "expects 3" in message and "12" in message


def test_unreadable_weights_file_is_a_config_error(kit):
    bad = kit.directory / "not_an_npz.npz"
    bad.write_text("hello")
    layer = kit.layer_config("GRU", output_dim=U, weights=bad.name)
    with pytest.raises(ConfigError, match="weights"):
        load_config(kit.write_config([layer]))
