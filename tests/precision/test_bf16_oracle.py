"""The mixed_bfloat16 path against the float32 path with the same weights (the float32 path itself is checked
against Keras 3 and torch in tests/layers and tests/conformance).

Tolerances come from bfloat16's 8-bit significand: its unit roundoff is u = 2**-8 (0.0039). A value on the bf16 path
goes through a few roundings to bf16 (the input and weights before a matmul, the matmul's result, each activation's
result), each off by at most u relative; the products are summed in float32, and tanh/sigmoid are contractions, so
the error does not grow with the timesteps. Measured here (T = 20, u = 16, 3 cell types x 3 modes): outputs within
1-2 u of the float32 ones (relative to max(1, |y|)), gradients within 2-5.3 u in relative norm. The bounds below are
8 u for outputs and states and 16 u for gradients (about 4x and 3x the measured worst case). Every test also checks
that the bf16 path differs from float32 by more than 0.05 u of the outputs' magnitude, so a precision that is silently ignored fails.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import yaml

from rnncli.config.validate import load_config
from rnncli.model import Sequential, build_model

U_BF16 = 2.0 ** -8
OUTPUT_TOL = 8 * U_BF16
GRADIENT_TOL = 16 * U_BF16
DIFFERS = 0.05 * U_BF16  # float32 reorderings are ~1e-7; bf16 rounding is ~u


def _build(tmp_path: Path, layers: list[dict] | dict, precision: str, seed: int = 0) -> Sequential:
    """A chain of ``layers``, or a graph model section (a dict with ``inputs`` and ``layers``)."""
    path = tmp_path / "model.yaml"
    model = layers if isinstance(layers, dict) else {"layers": layers}
    path.write_text(yaml.safe_dump({"seed": seed, "model": model}, sort_keys=False))
    config = load_config(path)
    return build_model(config.model, config.seed, precision=precision)


def _run(model: Sequential, x: np.ndarray, mask: np.ndarray | None, training: bool):
    """(outputs, gradients of mean(y^2) by every weight variable) in numpy, float32."""
    rng = tf.random.Generator.from_seed(3) if training else None
    variables = [v for layer in model.layers for v in layer.weight_variables() if v.trainable]
    with tf.GradientTape() as tape:
        y, _ = model(tf.constant(x), training=training, rng=rng,
                     mask=None if mask is None else tf.constant(mask))
        loss = tf.reduce_mean(tf.square(y))
    assert y.dtype == tf.float32  # the model's output (and so the loss) is float32 in either precision
    return y.numpy(), [g.numpy() for g in tape.gradient(loss, variables)]


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(1.0, float(np.abs(a).max())))


def _compare(tmp_path: Path, layers: list[dict] | dict, x: np.ndarray, mask: np.ndarray | None = None,
             training: bool = True, gradients: bool = True) -> None:
    y32, g32 = _run(_build(tmp_path, layers, "float32"), x, mask, training)
    y16, g16 = _run(_build(tmp_path, layers, "mixed_bfloat16"), x, mask, training)
    error = _relative(y32, y16)
    assert error <= OUTPUT_TOL, f"outputs off by {error / U_BF16:.2f} u"
    assert np.abs(y32 - y16).max() > DIFFERS * np.abs(y32).max()  # bf16 did run
    for a, b in zip(g32, g16) if gradients else ():
        relative = float(np.linalg.norm(a - b) / max(np.linalg.norm(a), 1e-12))
        assert relative <= GRADIENT_TOL, f"gradient off by {relative / U_BF16:.2f} u in relative norm"
        assert b.dtype == np.float32  # gradients reach the float32 variables


@pytest.mark.parametrize("kind,mode", list(itertools.product(["LSTM", "GRU", "SimpleRNN"], ["cpu", "mem", "gpu"])))
def test_recurrent_with_dropout_matches_float32(tmp_path: Path, kind: str, mode: str) -> None:
    """Training forward and gradients, with dropout on both sides: the same units are dropped in both precisions."""
    layers = [{"type": kind, "output_dim": 16, "input_shape": [20, 4], "consume_less": mode,
               "return_sequences": True, "dropout_W": 0.2, "dropout_U": 0.2},
              {"type": "TimeDistributed", "layer": {"type": "Dense", "output_dim": 2}}]
    x = np.random.default_rng(0).normal(size=(6, 20, 4)).astype(np.float32)
    _compare(tmp_path, layers, x)


def test_masked_backwards_bidirectional_matches_float32(tmp_path: Path) -> None:
    """Masking (exact comparison on the float32 input), go_backwards and both directions of a Bidirectional."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 12, 3)).astype(np.float32)
    x[0, 8:] = 0.0
    x[2, :3] = 0.0
    layers = [{"type": "Masking", "mask_value": 0.0, "input_shape": [12, 3]},
              {"type": "Bidirectional", "merge_mode": "concat",
               "layer": {"type": "LSTM", "output_dim": 8, "return_sequences": True, "go_backwards": True}},
              {"type": "GRU", "output_dim": 6},
              {"type": "Dense", "output_dim": 3, "activation": "softmax"}]
    _compare(tmp_path, layers, x, training=False)


def test_embedding_and_convolution_match_float32(tmp_path: Path) -> None:
    """Integer ids stay exact (Embedding does not cast its input), the table is read in bf16. (tanh, not relu: a
    pre-activation that bf16 rounds across 0 would switch a relu gradient on or off, off any smooth bound.)"""
    ids = np.random.default_rng(2).integers(1, 300, size=(4, 10)).astype(np.float32)  # > 256: not bf16-exact
    layers = [{"type": "Embedding", "input_dim": 300, "output_dim": 8, "input_length": 10, "dropout": 0.1},
              {"type": "Convolution1D", "nb_filter": 6, "filter_length": 3, "activation": "tanh"},
              {"type": "LSTM", "output_dim": 8},
              {"type": "Dense", "output_dim": 1}]
    _compare(tmp_path, layers, ids)


def test_states_are_float32_and_carry_like_float32(tmp_path: Path) -> None:
    """A stateful layer stores float32 states after a bf16 call; three carried batches stay within the tolerance of
    the float32 path (the carry does not accumulate bf16 error), and explicit-state calls (serve) return float32."""
    layers = [{"type": "LSTM", "output_dim": 8, "batch_input_shape": [2, 5, 3], "stateful": True},
              {"type": "Dense", "output_dim": 1}]
    models = {p: _build(tmp_path, layers, p) for p in ("float32", "mixed_bfloat16")}
    rng = np.random.default_rng(4)
    for _ in range(3):
        x = tf.constant(rng.normal(size=(2, 5, 3)).astype(np.float32))
        outputs = {p: m(x)[0].numpy() for p, m in models.items()}
        assert _relative(outputs["float32"], outputs["mixed_bfloat16"]) <= OUTPUT_TOL
    states = {p: [v.numpy() for v in m.state_variables] for p, m in models.items()}
    for v in models["mixed_bfloat16"].state_variables:
        assert v.dtype == tf.float32
    for a, b in zip(states["float32"], states["mixed_bfloat16"]):
        assert _relative(a, b) <= OUTPUT_TOL
        assert np.abs(a - b).max() > DIFFERS * np.abs(a).max()
    explicit = [tf.constant(s) for s in states["mixed_bfloat16"]]
    y, final = models["mixed_bfloat16"].call_with_states(x, explicit)
    assert y.dtype == tf.float32 and all(s.dtype == tf.float32 for s in final)


def test_variables_are_float32_and_identical_in_both_precisions(tmp_path: Path) -> None:
    """Same seed, same float32 variables with the same names: the checkpoint does not depend on the precision."""
    layers = [{"type": "GRU", "output_dim": 4, "input_shape": [3, 2]}, {"type": "Dense", "output_dim": 1}]
    a = _build(tmp_path, layers, "float32").trainable_by_path()
    b = _build(tmp_path, layers, "mixed_bfloat16").trainable_by_path()
    assert list(a) == list(b)
    for key in a:
        assert b[key].dtype == tf.float32
        np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())


def test_keras2_and_extra_layers_match_float32(tmp_path: Path) -> None:
    """The smooth layers beyond Keras 1's recurrent set (issue 28) on the bf16 path: a reset_after GRU, Highway, ELU,
    SpatialDropout1D and BatchNormalization (statistics in float32), outputs and gradients."""
    x = np.random.default_rng(4).normal(size=(6, 9, 5)).astype(np.float32)
    layers = [{"type": "BatchNormalization", "input_shape": [9, 5]},
              {"type": "SpatialDropout1D", "p": 0.2},
              {"type": "GRU", "output_dim": 8, "reset_after": True, "return_sequences": True, "dropout_U": 0.1},
              {"type": "ELU"},
              {"type": "LSTM", "output_dim": 8},
              {"type": "Highway", "activation": "tanh"},
              {"type": "Dense", "output_dim": 2}]
    _compare(tmp_path, layers, x)


def test_piecewise_linear_layers_match_float32_outputs(tmp_path: Path) -> None:
    """LeakyReLU, PReLU and MaxoutDense on the bf16 path: outputs only. Their gradients jump where bf16 rounds a
    value across a kink (or changes which maxout piece wins), so no smooth bound holds for them (measured: 18 u)."""
    x = np.random.default_rng(6).normal(size=(6, 9, 5)).astype(np.float32)
    layers = [{"type": "LSTM", "output_dim": 8, "input_shape": [9, 5]},
              {"type": "LeakyReLU", "alpha": 0.2},
              {"type": "MaxoutDense", "output_dim": 6, "nb_feature": 3},
              {"type": "PReLU"},
              {"type": "Dense", "output_dim": 2}]
    _compare(tmp_path, layers, x, gradients=False)


def test_graph_with_merges_and_states_matches_float32(tmp_path: Path) -> None:
    """A graph (issue 27) on the bf16 path: a graph input merged with a bfloat16 branch, an encoder whose states
    start a decoder, a shared layer; outputs float32."""
    x = np.random.default_rng(5).normal(size=(4, 7, 3)).astype(np.float32)
    model = {"inputs": {"x": {"shape": [7, 3]}},
             "layers": [{"type": "TimeDistributed", "name": "proj", "input": "x",
                         "layer": {"type": "Dense", "output_dim": 3, "activation": "tanh"}},
                        {"type": "Add", "name": "skip", "inputs": ["x", "proj"]},
                        {"type": "LSTM", "name": "enc", "output_dim": 6, "return_state": True, "input": "skip"},
                        {"type": "LSTM", "name": "dec", "output_dim": 6, "return_sequences": True, "input": "x",
                         "initial_state": ["enc:1", "enc:2"]},
                        {"share": "proj", "name": "proj_again", "input": "x"},
                        {"type": "Concatenate", "name": "both", "inputs": ["dec", "proj_again"]},
                        {"type": "GRU", "name": "head", "output_dim": 4, "input": "both"},
                        {"type": "Dense", "name": "out", "output_dim": 1}]}
    _compare(tmp_path, model, x)
