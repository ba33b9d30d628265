"""GRU ``reset_after: true`` (beyond Keras 1) against Keras 3 ``GRU(reset_after=True)`` and torch ``nn.GRU``.

Same weights in all three: Keras' ``[W [D, 3u], U [u, 3u], b [2, 3u]]`` (blocks z, r, h; bias row 0 input, row 1
recurrent); torch's gate order is r, z, n with transposed matrices. Forward outputs, final states and gradients
(input and every weight) in every ``consume_less`` mode, both directions, both output kinds, with and without the
three mask kinds, unrolled or not, stateful or not. Dropout is checked against a NumPy recurrence fed the very masks
the layer drew (per gate in cpu/mem, one shared in gpu, as for the Keras 1 GRU).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

B, T, D, U = 3, 5, 4, 5
N = 3 * B
MODES = ("cpu", "mem", "gpu")
TOL = dict(rtol=1e-5, atol=1e-5)
GRAD_TOL = dict(rtol=1e-4, atol=1e-4)


def weights(seed: int = 0, scale: float = 0.6) -> list[np.ndarray]:
    rng = np.random.default_rng([seed, 33])
    return [rng.uniform(-scale, scale, (D, 3 * U)).astype(np.float32),
            rng.uniform(-scale, scale, (U, 3 * U)).astype(np.float32),
            rng.uniform(-scale, scale, (2, 3 * U)).astype(np.float32)]


def keras_gru(kit, w, inner: str, backwards: bool):
    recurrent = kit.keras_hard_sigmoid() if inner == "hard_sigmoid" else inner
    layer = keras.layers.GRU(U, recurrent_activation=recurrent, reset_after=True, use_cudnn=False,
                             go_backwards=backwards, return_sequences=True, return_state=True)
    layer.build((N, T, D))
    layer.set_weights(w)
    return layer


def ours(kit, w, inner="sigmoid", mode="cpu", backwards=False, sequences=True, unroll=False, stateful=False,
         **extra):
    model, layer = kit.single("GRU", batch_size=N if stateful else None, reset_after=True, inner_activation=inner,
                              consume_less=mode, go_backwards=backwards, return_sequences=sequences, unroll=unroll,
                              stateful=stateful, **extra)
    layer.set_weights(w)
    return model, layer


def _cases():
    for inner, mode, backwards, sequences in itertools.product(("sigmoid", "hard_sigmoid"), MODES, (False, True),
                                                               (False, True)):
        m = MODES.index(mode)
        unroll = (m + backwards) % 2 == 1
        stateful = (m + sequences) % 2 == 1
        yield pytest.param(inner, mode, backwards, sequences, unroll, stateful,
                           id=f"{inner}-{mode}-{'back' if backwards else 'fwd'}-{'seq' if sequences else 'last'}-"
                              f"{'unroll' if unroll else 'loop'}{'-stateful' if stateful else ''}")


CASES = list(_cases())


def test_case_table_meets_every_value_of_every_axis():
    rows = [case.values for case in CASES]
    for axis in range(6):
        assert len({row[axis] for row in rows}) >= 2, axis
    for mode in MODES:
        for axis in (4, 5):  # unroll and stateful meet every mode with both values
            assert {row[axis] for row in rows if row[1] == mode} == {False, True}


@pytest.mark.parametrize("inner,mode,backwards,sequences,unroll,stateful", CASES)
def test_forward_and_final_states_match_keras3(kit, inner, mode, backwards, sequences, unroll, stateful):
    w = weights()
    x = tf.constant(kit.inputs(shape=(N, T, D)))
    reference = keras_gru(kit, w, inner, backwards)
    model, layer = ours(kit, w, inner, mode, backwards, sequences, unroll, stateful)
    for masked in (False, True):
        mask = tf.constant(kit.STACKED_MASK) if masked else None
        out = reference(x, mask=mask)
        expected_seq, expected_h = np.asarray(out[0]), np.asarray(out[1])
        model.reset_states()
        y, _ = model(x, mask=mask)
        y = y.numpy()
        np.testing.assert_allclose(y, expected_seq if sequences else expected_seq[:, -1], err_msg=f"masked={masked}",
                                   **TOL)
        np.testing.assert_allclose(y[:, -1] if sequences else y, expected_h, **TOL)
        if stateful:
            np.testing.assert_allclose(layer.state_variables[0].numpy(), expected_h, **TOL)


def test_reset_after_is_not_keras1_math(kit):
    """The argument changes the function (else the comparisons above could not tell the two GRUs apart)."""
    w = weights()
    x = tf.constant(kit.inputs(shape=(N, T, D)))
    after = ours(kit, w)[0](x)[0].numpy()
    before_layer = keras.layers.GRU(U, reset_after=False, use_cudnn=False, return_sequences=True)
    before_layer.build((N, T, D))
    before_layer.set_weights([w[0], w[1], w[2][0]])
    assert np.abs(after - before_layer(x).numpy()).max() > 1e-2


@pytest.mark.parametrize("mode,backwards,sequences,unroll", [("cpu", False, True, False), ("mem", True, False, True),
                                                            ("gpu", True, True, False), ("cpu", True, False, True)])
def test_gradients_match_keras3(kit, mode, backwards, sequences, unroll):
    w = weights(1)
    x = tf.constant(kit.inputs(seed=2, shape=(N, T, D)))
    reference = keras_gru(kit, w, "sigmoid", backwards)
    _, layer = ours(kit, w, "sigmoid", mode, backwards, sequences, unroll)
    cotangent = tf.constant(np.random.default_rng(7).normal(size=(N, T, U) if sequences else (N, U)), tf.float32)
    keras_vars = list(reference.trainable_variables)
    assert [tuple(v.shape) for v in keras_vars] == [a.shape for a in w]
    for masked in (False, True):
        mask = tf.constant(kit.STACKED_MASK) if masked else None
        with tf.GradientTape() as tape:
            tape.watch(x)
            y, _ = layer(x, mask, True)
            loss = tf.reduce_sum(y * cotangent)
        mine = tape.gradient(loss, [x] + layer.weight_variables())
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = reference(x, mask=mask)[0]
            loss = tf.reduce_sum((out if sequences else out[:, -1]) * cotangent)
        theirs = tape.gradient(loss, [x] + [v.value for v in keras_vars])
        for name, a, b in zip(("x", "kernel", "recurrent_kernel", "bias"), mine, theirs):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), err_msg=f"d/d{name}, masked={masked}",
                                       **GRAD_TOL)
            assert np.abs(np.asarray(b)).max() > 1e-3, f"degenerate test: the {name} gradient is ~0"


def torch_gru(w, x: np.ndarray, backwards: bool) -> tuple[np.ndarray, np.ndarray]:
    """torch ``nn.GRU`` (float64) with the Keras weights: gate blocks z, r, h -> r, z, n, matrices transposed."""
    W, Uk, b = (np.asarray(a, np.float64) for a in w)

    def reorder(m):  # [..., 3u] blocks z, r, h -> r, z, n along the last axis
        z, r, h = np.split(m, 3, axis=-1)
        return np.concatenate([r, z, h], axis=-1)

    net = torch.nn.GRU(D, U, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        net.weight_ih_l0.copy_(torch.tensor(reorder(W).T))
        net.weight_hh_l0.copy_(torch.tensor(reorder(Uk).T))
        net.bias_ih_l0.copy_(torch.tensor(reorder(b[0])))
        net.bias_hh_l0.copy_(torch.tensor(reorder(b[1])))
        xt = torch.tensor(x[:, ::-1].copy() if backwards else x, dtype=torch.float64)
        out, h = net(xt)
    return out.numpy(), h[0].numpy()


@pytest.mark.parametrize("mode,backwards", [("cpu", False), ("mem", True), ("gpu", False), ("gpu", True)])
def test_forward_and_final_state_match_torch(kit, mode, backwards):
    w = weights(3)
    x = kit.inputs(seed=4, shape=(N, T, D))
    expected_seq, expected_h = torch_gru(w, x, backwards)
    model, layer = ours(kit, w, "sigmoid", mode, backwards, sequences=True, stateful=True)
    model.reset_states()
    y, _ = model(tf.constant(x))
    np.testing.assert_allclose(y.numpy(), expected_seq, **TOL)
    np.testing.assert_allclose(layer.state_variables[0].numpy(), expected_h, **TOL)


def _numpy_reset_after(w, x, input_masks, recurrent_masks, per_gate: bool) -> np.ndarray:
    """The reset-after GRU with given dropout masks ([B, D] / [B, u], one per gate or one shared); sigmoid gates."""
    W, Uk, b = (np.asarray(a, np.float64) for a in w)
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    h = np.zeros((x.shape[0], U))
    outs = []
    for t in range(x.shape[1]):
        parts = []
        for g in range(3):
            xm = x[:, t] * (input_masks[g if per_gate else 0] if input_masks is not None else 1.0)
            hm = h * (recurrent_masks[g if per_gate else 0] if recurrent_masks is not None else 1.0)
            cols = slice(g * U, (g + 1) * U)
            parts.append((xm @ W[:, cols] + b[0, cols], hm @ Uk[:, cols] + b[1, cols]))
        z = sig(parts[0][0] + parts[0][1])
        r = sig(parts[1][0] + parts[1][1])
        h = z * h + (1 - z) * np.tanh(parts[2][0] + r * parts[2][1])
        outs.append(h)
    return np.stack(outs, 1)


@pytest.mark.parametrize("mode", MODES)
def test_dropout_uses_the_drawn_masks(kit, mode):
    """Training mode with dropout_W and dropout_U: the output is the reset-after recurrence fed exactly the masks
    ``prepare`` draws from the same generator state (per gate in cpu/mem, one shared mask in gpu)."""
    w = weights(5)
    x = kit.inputs(seed=6, shape=(N, T + 2, D))
    _, layer = ours(kit, w, "sigmoid", mode, dropout_W=0.3, dropout_U=0.4)
    execution = layer.prepare(N, True, tf.random.Generator.from_seed(11))
    per_gate = execution.plan.per_gate_masks
    assert per_gate == (mode != "gpu")
    assert len(execution.input_masks) == len(execution.recurrent_masks) == (3 if per_gate else 1)
    y, _, _ = layer.call_with_states(tf.constant(x), None, True, tf.random.Generator.from_seed(11))
    expected = _numpy_reset_after(w, x.astype(np.float64), [m.numpy() for m in execution.input_masks],
                                  [m.numpy() for m in execution.recurrent_masks], per_gate)
    np.testing.assert_allclose(y.numpy(), expected, **TOL)
    no_dropout = _numpy_reset_after(w, x.astype(np.float64), None, None, per_gate)
    assert np.abs(y.numpy() - no_dropout).max() > 1e-2  # the masks did something


def test_bias_shape_params_and_weight_file(kit, tmp_path):
    """The bias is [2, 3u]; the plan counts 3u more parameters; a `weights:` file with b [3u] is refused."""
    from rnncli.config.validate import ConfigError, load_config

    model, layer = ours(kit, weights())
    assert tuple(layer.bias.shape) == (2, 3 * U)
    assert [tuple(v.shape) for v in layer.weight_variables()] == [(D, 3 * U), (U, 3 * U), (2, 3 * U)]
    path = kit.write_config([kit.layer_config("GRU", output_dim=U, reset_after=True)])
    plan = load_config(path).model
    assert plan.params == 3 * (D * U + U * U + 2 * U)
    bad = kit.save_weights([weights()[0], weights()[1], weights()[2][0]])
    bad_path = kit.write_config([kit.layer_config("GRU", output_dim=U, reset_after=True, weights=bad)])
    with pytest.raises(ConfigError, match=r"\(2, 15\)"):
        load_config(bad_path)
    good = kit.save_weights(weights(9))
    loaded = kit.model([kit.layer_config("GRU", output_dim=U, reset_after=True, weights=good)])
    np.testing.assert_array_equal(loaded.layers[0].bias.numpy(), weights(9)[2])


def test_reset_after_is_refused_on_other_layers(kit):
    from rnncli.config.validate import ConfigError, load_config

    path = kit.write_config([kit.layer_config("LSTM", output_dim=U, reset_after=True)])
    with pytest.raises(ConfigError, match="reset_after"):
        load_config(path)
