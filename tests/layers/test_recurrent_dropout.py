"""Recurrent dropout (spec §2.5 with §15.3): statistics and sharing of the masks, read back through probe weights.

With linear activations and hand-made weights, one unit of the layer's output equals (or is 1 + ) one entry of
one gate's dropout mask, so a training-mode forward pass on N samples hands back every mask: its values
(0 or 1/(1-p)), its keep rate (about 1-p), whether it is the same at every timestep (variational), different
across samples and across calls, and whether the gates share it ('gpu': one mask for all gates) or draw their own
('cpu'/'mem': one per gate).

Input probe (``dropout_W``; D = K channels, x = [0, 1, 0, 1] over time): block q of K units reads channel j through
gate q only, the other gates are held at values that make the unit's output m_q or 1 + m_q at every step where
x = 1. Recurrent probe (``dropout_U``; inputs ignored): K "source" units hold h = 1 from the first step on, and
probe units read the sources through one gate's recurrent kernel at the next step.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf

K = 8  # channels / source units per probe block
N = 1000  # samples: N*K = 8000 Bernoulli draws per mask
P = 0.4
SCALE = 1.0 / (1.0 - P)
GATE_NAMES = {"SimpleRNN": ("h",), "GRU": ("z", "r", "h"), "LSTM": ("i", "f", "c", "o")}
LSTM_NEUTRAL = {"i": 1.0, "f": 0.0, "c": 1.0, "o": 1.0}  # c_t = i * c~ (forget nothing), output h = c
OFFSET = {("LSTM", "f"): 1.0, ("GRU", "r"): 1.0}
MODES = ("cpu", "mem", "gpu")


def _columns(gate: int, block: int, units: int) -> slice:
    """Columns of the fused [*, G*u] kernels for gate ``gate`` of the units in probe block ``block``."""
    return slice(gate * units + block * K, gate * units + (block + 1) * K)


def input_probe(kind: str):
    """(fused weights, units): unit block q's output is m_q (+ offset) at every step where x = 1."""
    eye = np.eye(K, dtype=np.float32)
    gates = GATE_NAMES[kind]
    units = K * len(gates)
    W = np.zeros((K, len(gates) * units), np.float32)
    U = np.zeros((units, len(gates) * units), np.float32)
    b = np.zeros(len(gates) * units, np.float32)
    if kind == "SimpleRNN":
        W[:] = eye
    elif kind == "LSTM":
        for q, probed in enumerate(gates):
            for g, gate in enumerate(gates):
                b[_columns(g, q, units)] = 0.0 if gate == probed else LSTM_NEUTRAL[gate]
            W[:, _columns(q, q, units)] = eye
    else:
        z, r, h = 0, 1, 2
        W[:, _columns(z, 0, units)] = -eye  # z = 1 - m_z: h_{t-1} = 0 is kept where x = 0, h = m_z where x = 1
        b[_columns(z, 0, units)] = 1.0
        b[_columns(h, 0, units)] = 1.0
        W[:, _columns(r, 1, units)] = eye  # h_{t-1} = 1, candidate = 1 + r * h_{t-1}
        b[_columns(h, 1, units)] = 1.0
        U[K:2 * K, _columns(h, 1, units)] = eye
        W[:, _columns(h, 2, units)] = eye  # z = r = 0: h = candidate = m_h
    return [W, U, b], units


def recurrent_probe(kind: str):
    """(fused weights, units, decode): decode(h_sequence, t) -> {name: mask-derived [N, K] array}."""
    eye = np.eye(K, dtype=np.float32)
    gates = GATE_NAMES[kind]
    G = len(gates)
    if kind == "SimpleRNN":
        units = 2 * K
        U = np.zeros((units, units), np.float32)
        b = np.zeros(units, np.float32)
        b[:K] = 1.0  # sources: h = 1
        U[:K, K:] = eye

        def decode(h, t):
            return {"h": h[:, t, K:]}
    elif kind == "LSTM":
        units = (1 + G) * K
        U = np.zeros((units, G * units), np.float32)
        b = np.zeros(G * units, np.float32)
        for g, gate in enumerate(gates):
            b[g * units: g * units + K] = LSTM_NEUTRAL[gate]  # sources: c = 1, h = 1
            for q, probed in enumerate(gates):
                cols = slice(g * units + (1 + q) * K, g * units + (2 + q) * K)
                b[cols] = 0.0 if gate == probed else LSTM_NEUTRAL[gate]
                if gate == probed:
                    U[:K, cols] = eye

        def decode(h, t):
            return {gate: h[:, t, (1 + q) * K:(2 + q) * K] - OFFSET.get((kind, gate), 0.0)
                    for q, gate in enumerate(gates)}
    else:
        # sources S: z = 0, r = 1, candidate 1 + h_S * M_h[S] (reads itself); Z probes: z = 1 - M_z[S];
        # R probes (read themselves, h = 1): candidate 1 + M_r[R] * M_h[R] -- r only acts through the masked h.
        units = 3 * K
        U = np.zeros((units, 3 * units), np.float32)
        b = np.zeros(3 * units, np.float32)
        z, r, h = (slice(g * units, (g + 1) * units) for g in range(3))
        S, Z, R = slice(0, K), slice(K, 2 * K), slice(2 * K, 3 * K)

        def block(gate: slice, units_slice: slice) -> slice:
            return slice(gate.start + units_slice.start, gate.start + units_slice.stop)

        b[block(r, S)] = 1.0
        b[block(h, S)] = 1.0
        U[S, block(h, S)] = eye
        b[block(z, Z)] = 1.0
        b[block(h, Z)] = 1.0
        U[S, block(z, Z)] = -eye
        b[block(h, R)] = 1.0
        U[R, block(r, R)] = eye
        U[R, block(h, R)] = eye

        def decode(hs, t):
            return {"h": hs[:, t, S] - 1.0, "z": hs[:, t, Z], "r*h": hs[:, t, R] - 1.0}
    W = np.zeros((1, G * units), np.float32)
    return [W, U, b], units, decode


def _probe_model(kit, kind, mode, weights, units, input_dim, steps, **dropout):
    args = dict(activation="linear", consume_less=mode, return_sequences=True, output_dim=units,
                init="zero", inner_init="zero", **dropout)
    if kind != "SimpleRNN":
        args["inner_activation"] = "linear"
    if kind == "LSTM":
        args["forget_bias_init"] = "zero"
    model, layer = kit.single(kind, input_shape=(steps, input_dim), **args)
    layer.set_weights(weights)
    return model


def _assert_dropout_mask(mask: np.ndarray, what: str) -> None:
    """Inverted-dropout values, keep rate 1-p, and different across samples."""
    kept = np.isclose(mask, SCALE, atol=1e-5)
    assert np.all(kept | np.isclose(mask, 0.0, atol=1e-5)), f"{what}: values other than 0 and 1/(1-p)"
    assert abs(kept.mean() - (1 - P)) < 0.03, f"{what}: keep rate {kept.mean():.3f}, expected {1 - P}"
    assert len({row.tobytes() for row in kept}) > N // 10, f"{what}: the same mask for every sample"


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float((np.isclose(a, 0.0) == np.isclose(b, 0.0)).mean())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["SimpleRNN", "GRU", "LSTM"])
def test_input_dropout_masks(kit, kind, mode):
    weights, units = input_probe(kind)
    model = _probe_model(kit, kind, mode, weights, units, K, 4, dropout_W=P)
    x = np.zeros((N, 4, K), np.float32)
    x[:, 1::2] = 1.0
    rng = tf.random.Generator.from_seed(1)
    h = model(tf.constant(x), training=True, rng=rng)[0].numpy()
    masks = {}
    for q, gate in enumerate(GATE_NAMES[kind]):
        decoded = [h[:, t, q * K:(q + 1) * K] - OFFSET.get((kind, gate), 0.0) for t in (1, 3)]
        masks[gate] = decoded[0]
        _assert_dropout_mask(decoded[0], f"{kind} {mode} input mask of gate {gate}")
        if (kind, gate) != ("GRU", "z"):  # that block's step 4 also depends on step 2, see input_probe
            np.testing.assert_allclose(decoded[1], decoded[0], atol=1e-5,
                                       err_msg=f"gate {gate}: the input mask changed between timesteps")
    for (a, ma), (b, mb) in itertools.combinations(masks.items(), 2):
        if mode == "gpu":
            np.testing.assert_allclose(ma, mb, atol=1e-5, err_msg=f"gpu mode: gates {a} and {b} must share a mask")
        else:
            assert _agreement(ma, mb) < 0.75, f"{mode} mode: gates {a} and {b} share an input mask"
    again = model(tf.constant(x), training=True, rng=rng)[0].numpy()
    assert _agreement(again[:, 1, :K], h[:, 1, :K]) < 0.75, "the same mask was drawn for two forward passes"
    inference = model(tf.constant(x), training=False)[0].numpy()
    np.testing.assert_allclose(inference[:, 1], np.concatenate(
        [np.full((N, K), 1.0 + OFFSET.get((kind, g), 0.0)) for g in GATE_NAMES[kind]], axis=1), atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["SimpleRNN", "GRU", "LSTM"])
def test_recurrent_dropout_masks(kit, kind, mode):
    weights, units, decode = recurrent_probe(kind)
    model = _probe_model(kit, kind, mode, weights, units, 1, 4, dropout_U=P)
    x = tf.zeros((N, 4, 1))
    rng = tf.random.Generator.from_seed(2)
    h = model(x, training=True, rng=rng)[0].numpy()
    masks = decode(h, 1)
    if kind == "GRU":
        product = masks.pop("r*h")  # M_r * M_h on the same units
        kept = ~np.isclose(product, 0.0)
        np.testing.assert_allclose(product[kept], SCALE ** 2, rtol=1e-5)
        # one shared mask: M*M is kept with probability 1-p; two independent masks: (1-p)^2
        expected = (1 - P) if mode == "gpu" else (1 - P) ** 2
        assert abs(kept.mean() - expected) < 0.03, f"GRU {mode}: r/candidate masks keep {kept.mean():.3f}"
    for gate, mask in masks.items():
        _assert_dropout_mask(mask, f"{kind} {mode} recurrent mask of gate {gate}")
    for (a, ma), (b, mb) in itertools.combinations(masks.items(), 2):
        if mode == "gpu":
            np.testing.assert_allclose(ma, mb, atol=1e-5, err_msg=f"gpu mode: gates {a} and {b} must share a mask")
        else:
            assert _agreement(ma, mb) < 0.75, f"{mode} mode: gates {a} and {b} share a recurrent mask"
    if kind != "GRU":  # variational: the same recurrent mask at steps 2, 3, 4 (memoryless probe blocks)
        for t in (2, 3):
            later = decode(h, t)
            for gate in masks:
                if (kind, gate) != ("LSTM", "f"):
                    np.testing.assert_allclose(later[gate], masks[gate], atol=1e-5,
                                               err_msg=f"gate {gate}: the recurrent mask changed at step {t + 1}")
    inference = decode(model(x, training=False)[0].numpy(), 1)
    for gate, mask in inference.items():
        np.testing.assert_allclose(mask, 1.0, atol=1e-6, err_msg=f"inference applied a mask to gate {gate}")


@pytest.mark.parametrize("kind,mode", [("SimpleRNN", "gpu"), ("GRU", "cpu"), ("LSTM", "mem")])
def test_no_dropout_at_inference(kit, kind, mode):
    """training=False gives exactly the output of the same layer without dropout; training=True differs."""
    x = tf.constant(kit.inputs(shape=(6, 5, 4)))
    mask = kit.mask("holes")
    mask = tf.concat([mask, mask], axis=0)
    dropped, _ = kit.single(kind, consume_less=mode, dropout_W=0.5, dropout_U=0.5, return_sequences=True, seed=4)
    plain, _ = kit.single(kind, consume_less=mode, return_sequences=True, seed=4)
    expected = plain(x, mask=mask)[0].numpy()
    np.testing.assert_array_equal(dropped(x, mask=mask)[0].numpy(), expected)
    np.testing.assert_array_equal(dropped(x, training=False, rng=tf.random.Generator.from_seed(0),
                                          mask=mask)[0].numpy(), expected)
    training = dropped(x, training=True, rng=tf.random.Generator.from_seed(0), mask=mask)[0].numpy()
    assert not np.allclose(training, expected)


def test_same_seed_same_masks(kit):
    """Dropout draws come only from the generator passed in: equal seeds give equal training outputs."""
    model, _ = kit.single("LSTM", dropout_W=0.3, dropout_U=0.3, return_sequences=True)
    x = tf.constant(kit.inputs())
    first = model(x, training=True, rng=tf.random.Generator.from_seed(9))[0].numpy()
    second = model(x, training=True, rng=tf.random.Generator.from_seed(9))[0].numpy()
    np.testing.assert_array_equal(first, second)
