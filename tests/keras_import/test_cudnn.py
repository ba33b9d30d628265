"""CuDNNLSTM / CuDNNGRU (Keras 2.0.9-2.2) at import: arrays laid out as those layers store them.

Keras 2.2's ``cudnn_recurrent.py``: ``kernel`` [D, G*u] and ``recurrent_kernel`` [u, G*u] with gate blocks i, f, c, o
(LSTM) or z, r, h (GRU), ``bias`` [2*G*u] (the input biases of every gate, then the recurrent ones). Each block is
flattened in C order and handed to cuDNN, which reads it as its row-major [u, D] (or [u, u]) matrix. Two oracles:
a NumPy recurrence that computes exactly that (written from the layout, not from rnncli's converter), and Keras 3
``LSTM(recurrent_activation="sigmoid")`` / ``GRU(reset_after=True)`` with weights converted as tf.keras 2's loader
converted them. Then whole Keras 2.2.4 ``model.save()`` files go through ``rnncli import``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
keras = pytest.importorskip("keras")

from rnncli.config.weight_layouts import from_cudnn  # noqa: E402

D, U, T, B = 3, 4, 6, 5
GATES = {"LSTM": 4, "GRU": 3}


def cudnn_arrays(kind: str, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng([seed, GATES[kind]])
    g = GATES[kind]
    return [rng.uniform(-0.6, 0.6, (D, g * U)).astype(np.float32),
            rng.uniform(-0.6, 0.6, (U, g * U)).astype(np.float32),
            rng.uniform(-0.4, 0.4, (2 * g * U,)).astype(np.float32)]


def cudnn_reference(kind: str, arrays: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """What cuDNN computes from the Keras 2.2 CuDNN weights: per gate, W_g = flat(kernel block).reshape(u, D)
    (row-major), R_g likewise [u, u]; gates = x W_g^T + b_Wg + h R_g^T + b_Rg. Returns outputs [B, T, u]."""
    g = GATES[kind]
    kernel, recurrent, bias = (np.asarray(a, np.float64) for a in arrays)
    W = [blk.reshape(-1).reshape(U, D) for blk in np.hsplit(kernel, g)]
    R = [blk.reshape(-1).reshape(U, U) for blk in np.hsplit(recurrent, g)]
    bw, br = np.split(bias, 2)
    bw, br = np.split(bw, g), np.split(br, g)
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    h = np.zeros((x.shape[0], U))
    c = np.zeros_like(h)
    outs = []
    for t in range(x.shape[1]):
        xi = [x[:, t] @ W[k].T + bw[k] for k in range(g)]
        hi = [h @ R[k].T + br[k] for k in range(g)]
        if kind == "LSTM":  # i, f, c, o
            i, f, o = sig(xi[0] + hi[0]), sig(xi[1] + hi[1]), sig(xi[3] + hi[3])
            c = f * c + i * np.tanh(xi[2] + hi[2])
            h = o * np.tanh(c)
        else:  # z, r, h (cuDNN's reset-after GRU)
            z, r = sig(xi[0] + hi[0]), sig(xi[1] + hi[1])
            h = z * h + (1 - z) * np.tanh(xi[2] + r * hi[2])
        outs.append(h)
    return np.stack(outs, 1)


def tf_keras_conversion(kind: str, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """tf.keras 2 ``hdf5_format._convert_rnn_weights`` (from_cudnn=True), restated for the oracle."""
    g = GATES[kind]
    kernel = np.hstack([k.T.reshape(k.shape, order="F") for k in np.hsplit(arrays[0], g)])
    recurrent = np.hstack([k.T for k in np.hsplit(arrays[1], g)])
    bias = np.sum(np.split(arrays[2], 2), axis=0) if kind == "LSTM" else arrays[2].reshape(2, -1)
    return [kernel, recurrent, bias]


def keras3_layer(kind: str, weights: list[np.ndarray]):
    if kind == "LSTM":
        layer = keras.layers.LSTM(U, recurrent_activation="sigmoid", return_sequences=True, use_cudnn=False)
    else:
        layer = keras.layers.GRU(U, reset_after=True, return_sequences=True, use_cudnn=False)
    layer.build((B, T, D))
    layer.set_weights(weights)
    return layer


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_converted_cudnn_weights_compute_what_cudnn_computes(kind):
    arrays = cudnn_arrays(kind)
    x = np.random.default_rng(1).normal(size=(B, T, D)).astype(np.float32)
    converted = from_cudnn(kind, arrays)
    for ours, theirs in zip(converted, tf_keras_conversion(kind, arrays)):
        np.testing.assert_array_equal(ours, theirs)
    expected = cudnn_reference(kind, arrays, x.astype(np.float64))
    np.testing.assert_allclose(keras3_layer(kind, converted)(x).numpy(), expected, rtol=1e-5, atol=1e-5)
    # D != u, so a plain per-gate transpose (or no conversion) of the input kernel would compute something else
    naive = [arrays[0], converted[1], converted[2]]
    assert np.abs(keras3_layer(kind, naive)(x).numpy() - expected).max() > 1e-2


def test_non_cudnn_lists_are_left_alone():
    g = GATES["LSTM"]
    keras_list = [np.zeros((D, g * U)), np.zeros((U, g * U)), np.zeros(g * U)]
    assert from_cudnn("LSTM", keras_list) is None
    assert from_cudnn("SimpleRNN", cudnn_arrays("LSTM")) is None


def _save(path: Path, k1, layer_entry: dict, weight_groups: list, extra_layers=()) -> Path:
    doc = {"class_name": "Sequential", "keras_version": "2.2.4", "backend": "tensorflow",
           "config": {"name": "sequential_1", "layers": [layer_entry, *extra_layers]}}
    return k1.write_full_model(path, doc, weight_groups, keras_version="2.2.4")


def _cudnn_entry(kind: str, name: str, **config) -> dict:
    return {"class_name": f"CuDNN{kind}", "config": {
        "name": name, "trainable": True, "batch_input_shape": [None, T, D], "dtype": "float32", "units": U,
        "kernel_initializer": {"class_name": "VarianceScaling", "config": {"scale": 1.0, "mode": "fan_avg",
                                                                           "distribution": "uniform", "seed": None}},
        "recurrent_initializer": {"class_name": "Orthogonal", "config": {"gain": 1.0, "seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}}, "unit_forget_bias": True,
        "kernel_regularizer": None, "recurrent_regularizer": None, "bias_regularizer": None,
        "activity_regularizer": None, "kernel_constraint": None, "recurrent_constraint": None,
        "bias_constraint": None, "return_sequences": True, "return_state": False, "stateful": False, **config}}


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_cudnn_model_file_imports_with_a_note_and_reproduces_cudnn(tmp_path, k1, kind):
    from rnncli.commands.keras_import import build_imported_model, import_keras1

    name = f"cu_dnn{kind.lower()}_1"
    arrays = cudnn_arrays(kind, seed=2)
    rng = np.random.default_rng(3)
    dense_w, dense_b = rng.normal(size=(U, 2)).astype(np.float32), rng.normal(size=2).astype(np.float32)
    source = _save(tmp_path / "cudnn.h5", k1, _cudnn_entry(kind, name),
                   [(name, [(f"{name}/kernel:0", arrays[0]), (f"{name}/recurrent_kernel:0", arrays[1]),
                            (f"{name}/bias:0", arrays[2])]),
                    ("time_distributed_1", [("time_distributed_1/kernel:0", dense_w),
                                            ("time_distributed_1/bias:0", dense_b)])],
                   [{"class_name": "TimeDistributed", "config": {
                       "name": "time_distributed_1", "layer": {"class_name": "Dense", "config": {
                           "name": "dense_1", "units": 2, "activation": "linear", "use_bias": True}}}}])
    result = import_keras1(source, tmp_path / "run")
    assert any(f"CuDNN{kind} layer `{name}` became an rnncli" in n for n in result.notes), result.notes
    _, model = build_imported_model(source)
    layer = model.layers[0].config
    assert layer["inner_activation"] == "sigmoid" and layer["type"] == kind
    assert layer.get("reset_after", False) == (kind == "GRU")
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    expected = cudnn_reference(kind, arrays, x.astype(np.float64)) @ dense_w + dense_b
    np.testing.assert_allclose(model(x)[0].numpy(), expected, rtol=1e-5, atol=1e-5)


def test_bidirectional_cudnn_gru_converts_both_directions(tmp_path, k1):
    from rnncli.commands.keras_import import build_imported_model

    fwd, bwd = cudnn_arrays("GRU", 4), cudnn_arrays("GRU", 5)
    entry = {"class_name": "Bidirectional", "config": {
        "name": "bidirectional_1", "batch_input_shape": [None, T, D], "merge_mode": "concat",
        "layer": {k: v for k, v in _cudnn_entry("GRU", "cu_dnngru_1", return_sequences=False).items()}}}
    entry["config"]["layer"]["config"].pop("batch_input_shape")
    groups = [("bidirectional_1", [(f"bidirectional_1/forward_cu_dnngru_1/{n}:0", a)
                                   for n, a in zip(("kernel", "recurrent_kernel", "bias"), fwd)]
                                  + [(f"bidirectional_1/backward_cu_dnngru_1/{n}:0", a)
                                     for n, a in zip(("kernel", "recurrent_kernel", "bias"), bwd)])]
    source = _save(tmp_path / "bi.h5", k1, entry, groups)
    _, model = build_imported_model(source)
    x = np.random.default_rng(6).normal(size=(B, T, D)).astype(np.float32)
    forward = cudnn_reference("GRU", fwd, x.astype(np.float64))[:, -1]
    backward = cudnn_reference("GRU", bwd, x[:, ::-1].astype(np.float64))[:, -1]
    np.testing.assert_allclose(model(x)[0].numpy(), np.concatenate([forward, backward], -1), rtol=1e-5, atol=1e-5)
    assert json.dumps(model.layers[0].config["layer"]["reset_after"]) == "true"
