"""SimpleRNN, GRU and LSTM against Keras 3 and PyTorch configured to Keras 1 math (spec §14.4).

Forward: the full product layer x activations x consume_less x go_backwards x return_sequences x mask (288
combinations): each case runs without a mask and with the three mask kinds (pre-padding, post-padding, holes)
stacked in one batch (samples never interact, and the mismatching mask kind is named on failure). ``unroll`` and
``stateful`` rotate through the table so that each meets both of its values with every value of every other axis,
for every layer (``test_case_tables_cover_every_axis`` checks that). Each Keras oracle is built and run once per
configuration and cached: it returns the whole sequence and the final states, and ``return_sequences=False``
compares with its last step (masked steps repeat the previous output, so that is the last valid output).

Gradients with respect to the input and every weight are compared on a smaller table that still gives every
layer every value of every axis, with every mask kind.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf

keras = pytest.importorskip("keras")

B, T, D, U = 3, 5, 4, 5
N = 3 * B  # one batch holds the three mask kinds
MODES = ("cpu", "mem", "gpu")
KINDS = ("SimpleRNN", "GRU", "LSTM")
# (layer, activation, inner_activation): relu only for SimpleRNN, sigmoid/hard_sigmoid gates for GRU and LSTM.
LAYER_ACTS = (
    ("SimpleRNN", "tanh", None),
    ("SimpleRNN", "relu", None),
    ("GRU", "tanh", "hard_sigmoid"),
    ("GRU", "tanh", "sigmoid"),
    ("LSTM", "tanh", "hard_sigmoid"),
    ("LSTM", "tanh", "sigmoid"),
)
TOL = dict(rtol=1e-5, atol=1e-5)
GRAD_TOL = dict(rtol=1e-4, atol=1e-4)
AXES = ("kind", "activation", "inner", "mode", "backwards", "sequences", "unroll", "stateful")


def _variant(layer_act) -> int:
    """0 or 1: which of the layer's two activation settings."""
    return [la for la in LAYER_ACTS if la[0] == layer_act[0]].index(layer_act)


def _case_id(kind, activation, inner, mode, backwards, sequences, unroll, stateful=False) -> str:
    return (f"{kind}-{inner or activation}-{mode}-{'back' if backwards else 'fwd'}-{'seq' if sequences else 'last'}-"
            f"{'unroll' if unroll else 'loop'}{'-stateful' if stateful else ''}")


def _forward_cases():
    for layer_act, mode, backwards, sequences in itertools.product(LAYER_ACTS, MODES, (False, True), (False, True)):
        m, v = MODES.index(mode), _variant(layer_act)
        unroll = (m + backwards + v) % 2 == 1
        stateful = (m + sequences) % 2 == 1
        values = (*layer_act, mode, backwards, sequences, unroll, stateful)
        yield pytest.param(*values, id=_case_id(*values))


def _gradient_cases():
    # three cases per layer, chosen so that each layer sees both values of every two-valued axis
    for kind, (m, mode) in itertools.product(KINDS, enumerate(MODES)):
        layer_act = [la for la in LAYER_ACTS if la[0] == kind][m % 2]
        values = (*layer_act, mode, m == 1, m != 2, m == 2)
        yield pytest.param(*values, id=_case_id(*values))


FORWARD_CASES = list(_forward_cases())
GRADIENT_CASES = list(_gradient_cases())


@pytest.mark.parametrize("table", ["forward", "gradient"])
def test_case_tables_cover_every_axis(table):
    cases = FORWARD_CASES if table == "forward" else GRADIENT_CASES
    rows = [dict(zip(AXES, case.values)) for case in cases]
    for kind in KINDS:
        mine = [r for r in rows if r["kind"] == kind]
        assert {(r["activation"], r["inner"]) for r in mine} == {la[1:] for la in LAYER_ACTS if la[0] == kind}
        assert {r["mode"] for r in mine} == set(MODES)
        for axis in ("backwards", "sequences", "unroll") + (("stateful",) if table == "forward" else ()):
            assert {r[axis] for r in mine} == {False, True}, (kind, axis)
    if table == "forward":
        full = {tuple(r[a] for a in AXES[:6]) for r in rows}
        assert len(full) == len(rows) == len(LAYER_ACTS) * len(MODES) * 4
        for kind, axis, rotated in itertools.product(KINDS, AXES[1:], ("unroll", "stateful")):
            for value in {r[axis] for r in rows} if axis != rotated else ():  # rotated axes meet every value
                seen = {r[rotated] for r in rows if r["kind"] == kind and r[axis] == value}
                assert seen in ({False, True}, set()), (kind, axis, value, rotated)
                assert seen or axis in ("activation", "inner"), (kind, axis, value, rotated)


@pytest.fixture(scope="module")
def oracle(kit):
    """Cached Keras 3 layers (one per kind/activations/direction, fixed weights) and their outputs."""
    layers: dict = {}
    results: dict = {}
    x = tf.constant(kit.inputs(shape=(N, T, D)))

    def layer(kind, activation, inner, backwards):
        key = (kind, activation, inner, backwards)
        if key not in layers:
            weights = kit.random_weights(kind)
            layers[key] = (kit.keras_recurrent(kind, weights, activation=activation, inner_activation=inner,
                                               go_backwards=backwards, batch_shape=(N, T, D)), weights)
        return layers[key]

    def reference(kind, activation, inner, backwards, masked: bool):
        """Keras outputs [N, T, u] (processing order) and final states ([h] or [h, c]) as numpy."""
        key = (kind, activation, inner, backwards, masked)
        if key not in results:
            keras_layer, _ = layer(kind, activation, inner, backwards)
            out = keras_layer(x, mask=tf.constant(kit.STACKED_MASK) if masked else None)
            results[key] = (np.asarray(out[0]), [np.asarray(s) for s in out[1:]])
        return results[key]

    reference.layer = layer
    reference.x = x
    return reference


def _ours(kit, kind, activation, inner, mode, backwards, sequences, unroll=False, stateful=False, weights=None,
          batch=N):
    args = dict(activation=activation, consume_less=mode, go_backwards=backwards, return_sequences=sequences,
                unroll=unroll, stateful=stateful)
    if inner is not None:
        args["inner_activation"] = inner
    model, layer = kit.single(kind, batch_size=batch if stateful else None, **args)
    layer.set_weights(weights if weights is not None else kit.random_weights(kind))
    return model, layer


def _assert_rows_close(actual, expected, kit, masked: bool, what: str, **tol):
    """Compare [N, ...] arrays, naming the mask kind whose rows differ."""
    if not masked:
        np.testing.assert_allclose(actual, expected, err_msg=f"{what}, mask=None", **tol)
        return
    for kind, rows in kit.MASK_ROWS.items():
        np.testing.assert_allclose(actual[rows], expected[rows], err_msg=f"{what}, mask={kind}", **tol)


@pytest.mark.parametrize("kind,activation,inner,mode,backwards,sequences,unroll,stateful", FORWARD_CASES)
def test_forward_and_final_states_match_keras3(kit, oracle, kind, activation, inner, mode, backwards, sequences,
                                                unroll, stateful):
    model, layer = _ours(kit, kind, activation, inner, mode, backwards, sequences, unroll, stateful)
    for masked in (False, True):
        expected_seq, expected_states = oracle(kind, activation, inner, backwards, masked)
        mask = tf.constant(kit.STACKED_MASK) if masked else None
        model.reset_states()
        y, out_mask = model(oracle.x, mask=mask)
        y = y.numpy()
        _assert_rows_close(y, expected_seq if sequences else expected_seq[:, -1], kit, masked, "output", **TOL)
        _assert_rows_close(y[:, -1] if sequences else y, expected_states[0], kit, masked, "output vs h", **TOL)
        if stateful:
            assert len(layer.state_variables) == len(expected_states)
            for i, (ours, theirs) in enumerate(zip(layer.state_variables, expected_states)):
                _assert_rows_close(ours.numpy(), theirs, kit, masked, f"state {i}", **TOL)
        if sequences and masked:  # §15.5: the mask passed on lines up with the (processing-order) outputs
            expected_mask = kit.STACKED_MASK[:, ::-1] if backwards else kit.STACKED_MASK
            np.testing.assert_array_equal(out_mask.numpy(), expected_mask)
        else:
            assert out_mask is None


@pytest.mark.parametrize("kind,activation,inner,mode,backwards,sequences,unroll", GRADIENT_CASES)
def test_gradients_match_keras3(kit, oracle, kind, activation, inner, mode, backwards, sequences, unroll):
    keras_layer, weights = oracle.layer(kind, activation, inner, backwards)
    _, layer = _ours(kit, kind, activation, inner, mode, backwards, sequences, unroll)
    x = oracle.x
    cotangent = tf.constant(np.random.default_rng(7).normal(size=(N, T, U) if sequences else (N, U)),
                            dtype=tf.float32)
    keras_vars = list(keras_layer.trainable_variables)
    assert [tuple(v.shape) for v in keras_vars] == [w.shape for w in weights]
    for masked in (False, True):
        mask = tf.constant(kit.STACKED_MASK) if masked else None
        with tf.GradientTape() as tape:
            tape.watch(x)
            y, _ = layer(x, mask)
            loss = tf.reduce_sum(y * cotangent)
        ours = tape.gradient(loss, [x] + layer.weight_variables())
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = keras_layer(x, mask=mask)[0]
            loss = tf.reduce_sum((out if sequences else out[:, -1]) * cotangent)
        theirs = tape.gradient(loss, [x] + [v.value for v in keras_vars])
        _assert_rows_close(np.asarray(ours[0]), np.asarray(theirs[0]), kit, masked, "d/dx", **GRAD_TOL)
        for name, a, b in zip(("kernel", "recurrent_kernel", "bias"), ours[1:], theirs[1:]):
            assert a is not None, name
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), err_msg=f"d/d{name}, masked={masked}",
                                       **GRAD_TOL)
            assert np.abs(np.asarray(b)).max() > 1e-3, f"degenerate test: the {name} gradient is ~0"


@pytest.mark.parametrize("kind,mode", [("SimpleRNN", "cpu"), ("GRU", "mem"), ("LSTM", "gpu")])
def test_unrolled_and_while_loop_agree(kit, kind, mode):
    """Same weights, both loops, both directions, with and without masks: identical outputs and gradients."""
    x = tf.constant(kit.inputs(seed=3, shape=(N, T, D)))
    for backwards, masked in itertools.product((False, True), (False, True)):
        mask = tf.constant(kit.STACKED_MASK) if masked else None
        results = []
        for unroll in (False, True):
            _, layer = _ours(kit, kind, "tanh", None if kind == "SimpleRNN" else "hard_sigmoid", mode, backwards,
                             True, unroll)
            with tf.GradientTape() as tape:
                tape.watch(x)
                y, _ = layer(x, mask)
                loss = tf.reduce_sum(y * y)
            grads = tape.gradient(loss, [x] + layer.weight_variables())
            results.append([y.numpy()] + [g.numpy() for g in grads])
        for name, a, b in zip(("output", "d/dx", "d/dkernel", "d/drecurrent", "d/dbias"), *results):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"{name} backwards={backwards} "
                                                                            f"masked={masked}")


# ---------------------------------------------------------------------------------------------------------------
# tf.function: no retracing for a second batch of the same shape, same numbers as eager
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,mode,unroll,training", [("SimpleRNN", "cpu", False, False), ("GRU", "mem", True, False),
                                                       ("LSTM", "gpu", False, True)])
def test_forward_in_tf_function_does_not_retrace(kit, kind, mode, unroll, training):
    model, layer = kit.single(kind, consume_less=mode, unroll=unroll, return_sequences=True, dropout_W=0.3,
                              dropout_U=0.3)
    mask = kit.mask("holes")
    rng = tf.random.Generator.from_seed(1)

    @tf.function
    def forward(x, m):
        return model(x, training=training, rng=rng, mask=m)[0]

    x1, x2 = tf.constant(kit.inputs(seed=1)), tf.constant(kit.inputs(seed=2))
    if training:
        first, second = forward(x1, mask), forward(x1, mask)
        # dropout masks are drawn when the function runs, not frozen at trace time
        assert not np.allclose(first.numpy(), second.numpy())
        forward(x2, mask)
    else:
        for x in (x1, x2):
            np.testing.assert_allclose(forward(x, mask).numpy(), model(x, mask=mask)[0].numpy(), rtol=1e-6,
                                       atol=1e-6)
    assert forward.experimental_get_tracing_count() == 1


def test_stateful_forward_in_tf_function_does_not_retrace(kit):
    model, layer = kit.single("LSTM", batch_size=B, stateful=True, return_sequences=True)
    eager_model, eager_layer = kit.single("LSTM", batch_size=B, stateful=True, return_sequences=True)
    eager_layer.set_weights(layer.get_weights())
    step = tf.function(lambda x: model(x)[0])
    for seed in (1, 2, 3):
        x = tf.constant(kit.inputs(seed=seed))
        np.testing.assert_allclose(step(x).numpy(), eager_model(x)[0].numpy(), rtol=1e-5, atol=1e-6)
    assert step.experimental_get_tracing_count() == 1
    for ours, theirs in zip(layer.state_variables, eager_layer.state_variables):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# PyTorch oracles (sigmoid gates only; masks with the §14.4 recipes)
# ---------------------------------------------------------------------------------------------------------------

TORCH_LAYERS = (("SimpleRNN", "tanh", None), ("SimpleRNN", "relu", None), ("LSTM", "tanh", "sigmoid"))


def _torch_reference(kind, activation, weights, x, mask, backwards):
    """Outputs [B, T, u] in processing order and final states, in float64, per spec §14.4."""
    torch = pytest.importorskip("torch")
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    W, Uw, b = (torch.tensor(np.asarray(w), dtype=torch.float64) for w in weights)
    units = Uw.shape[0]
    xt = torch.tensor(x, dtype=torch.float64)
    m = None if mask is None else torch.tensor(np.array(mask, dtype=bool))
    if backwards:  # feed the reversed sequence and do not flip the outputs back
        xt = torch.flip(xt, [1])
        m = None if m is None else torch.flip(m, [1])
    if kind == "LSTM":
        net = torch.nn.LSTM(D, units, batch_first=True, dtype=torch.float64)
        cell = torch.nn.LSTMCell(D, units, dtype=torch.float64)
    else:
        net = torch.nn.RNN(D, units, nonlinearity=activation, batch_first=True, dtype=torch.float64)
        cell = torch.nn.RNNCell(D, units, nonlinearity=activation, dtype=torch.float64)
    with torch.no_grad():
        for module, suffix in ((net, "_l0"), (cell, "")):
            getattr(module, "weight_ih" + suffix).copy_(W.T)
            getattr(module, "weight_hh" + suffix).copy_(Uw.T)
            getattr(module, "bias_ih" + suffix).copy_(b)
            getattr(module, "bias_hh" + suffix).zero_()

    def finish(out, *states):
        return out.detach().numpy(), [s.detach().numpy() for s in states]

    def run(seq):
        out, state = net(seq)
        states = state if kind == "LSTM" else (state,)
        return out, [s[0] for s in states]

    with torch.no_grad():
        if m is None:
            out, states = run(xt)
            return finish(out, *states)
        rows = m.numpy().astype(int)
        lengths = torch.tensor(rows.sum(1))
        if (np.diff(rows, axis=1) <= 0).all():  # post-padding: pack, unpack, forward-fill
            packed = pack_padded_sequence(xt, lengths, batch_first=True, enforce_sorted=False)
            out_packed, state = net(packed)
            out, _ = pad_packed_sequence(out_packed, batch_first=True, total_length=T)
            for i, n in enumerate(lengths.tolist()):
                out[i, n:] = out[i, n - 1]
            states = state if kind == "LSTM" else (state,)
            return finish(out, *[s[0] for s in states])
        if (np.diff(rows, axis=1) >= 0).all():  # pre-padding: run on the valid suffix, left-fill with zeros
            outs, finals = [], []
            for i, n in enumerate(lengths.tolist()):
                out_i, states_i = run(xt[i:i + 1, T - n:])
                outs.append(torch.cat([torch.zeros(1, T - n, units, dtype=torch.float64), out_i], dim=1))
                finals.append(states_i)
            return finish(torch.cat(outs), *[torch.cat([f[k] for f in finals]) for k in range(len(finals[0]))])
        # holes: step a cell, keep old states and repeat the previous output where masked
        h = torch.zeros(xt.shape[0], units, dtype=torch.float64)
        c = torch.zeros_like(h)
        previous = torch.zeros_like(h)
        outs = []
        for t in range(T):
            keep = m[:, t:t + 1]
            if kind == "LSTM":
                h_new, c_new = cell(xt[:, t], (h, c))
                c = torch.where(keep, c_new, c)
            else:
                h_new = cell(xt[:, t], h)
            h = torch.where(keep, h_new, h)
            previous = torch.where(keep, h_new, previous)
            outs.append(previous)
        return finish(torch.stack(outs, dim=1), *([h, c] if kind == "LSTM" else [h]))


def _torch_cases():
    for i, (layer_act, backwards) in enumerate(itertools.product(TORCH_LAYERS, (False, True))):
        values = (*layer_act, MODES[i % 3], backwards)
        yield pytest.param(*values, id=_case_id(*values, sequences=True, unroll=False))


@pytest.mark.parametrize("kind,activation,inner,mode,backwards", list(_torch_cases()))
def test_forward_and_final_states_match_torch(kit, kind, activation, inner, mode, backwards):
    weights = kit.random_weights(kind)
    x = kit.inputs(shape=(N, T, D))
    _, layer = _ours(kit, kind, activation, inner, mode, backwards, True, stateful=True, weights=weights)
    for masked in (False, True):
        layer.reset_states()
        y, _ = layer(tf.constant(x), tf.constant(kit.STACKED_MASK) if masked else None)
        for mask_kind, rows in (kit.MASK_ROWS.items() if masked else [("none", slice(None))]):
            mask = kit.MASKS[mask_kind] if masked else None
            expected_seq, expected_states = _torch_reference(kind, activation, weights, x[rows], mask, backwards)
            np.testing.assert_allclose(y.numpy()[rows], expected_seq, err_msg=f"output, mask={mask_kind}", **TOL)
            for i, (ours, theirs) in enumerate(zip(layer.state_variables, expected_states)):
                np.testing.assert_allclose(ours.numpy()[rows], theirs, err_msg=f"state {i}, mask={mask_kind}",
                                           **TOL)
