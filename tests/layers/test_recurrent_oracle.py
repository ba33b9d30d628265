"""SimpleRNN, GRU and LSTM against Keras 3 and PyTorch configured to Keras 1 math (spec §14.4).

Forward: the full product layer x activations x consume_less x go_backwards x return_sequences x mask (288 cases);
``unroll`` and ``stateful`` rotate through it so that every layer meets each of their values with every mask kind
(``test_case_tables_cover_every_axis`` checks that). Each Keras oracle is built once per configuration and
cached: it always returns the whole sequence and the final states, and ``return_sequences=False`` compares with its
last step (masked steps repeat the previous output, so the last step is the last valid output).

Gradients with respect to the input and every weight are compared on a smaller table that still covers every axis
value with every layer and every mask kind.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf

keras = pytest.importorskip("keras")

B, T, D, U = 3, 5, 4, 5
MODES = ("cpu", "mem", "gpu")
MASK_KINDS = ("none", "pre", "post", "holes")
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


def _variant(layer_act) -> int:
    """0 or 1: which of the layer's two activation settings."""
    return [la for la in LAYER_ACTS if la[0] == layer_act[0]].index(layer_act)


def _forward_cases():
    for layer_act, mode, backwards, sequences, mask in itertools.product(
            LAYER_ACTS, MODES, (False, True), (False, True), MASK_KINDS):
        m = MODES.index(mode)
        unroll = (m + backwards) % 2 == 1
        stateful = (m + sequences + _variant(layer_act)) % 2 == 1
        yield pytest.param(*layer_act, mode, backwards, sequences, mask, unroll, stateful,
                           id=f"{layer_act[0]}-{layer_act[1]}-{layer_act[2]}-{mode}-{'back' if backwards else 'fwd'}-"
                              f"{'seq' if sequences else 'last'}-{mask}-{'unroll' if unroll else 'loop'}"
                              f"{'-stateful' if stateful else ''}")


def _gradient_cases():
    for kind, mode, mask in itertools.product(("SimpleRNN", "GRU", "LSTM"), MODES, MASK_KINDS):
        m, k = MODES.index(mode), MASK_KINDS.index(mask)
        layer_act = [la for la in LAYER_ACTS if la[0] == kind][(m + k) % 2]
        backwards = (m + k // 2) % 2 == 1
        sequences = (m + k + 1) % 2 == 1
        unroll = (k + m) % 3 == 0
        yield pytest.param(*layer_act, mode, backwards, sequences, mask, unroll,
                           id=f"{kind}-{layer_act[2] or layer_act[1]}-{mode}-{'back' if backwards else 'fwd'}-"
                              f"{'seq' if sequences else 'last'}-{mask}-{'unroll' if unroll else 'loop'}")


FORWARD_CASES = list(_forward_cases())
GRADIENT_CASES = list(_gradient_cases())


def test_case_tables_cover_every_axis():
    """Every value of every axis meets every layer, and every mask kind, in both tables."""
    names = ("kind", "activation", "inner", "mode", "backwards", "sequences", "mask", "unroll", "stateful")
    for table in (FORWARD_CASES, GRADIENT_CASES):
        rows = [dict(zip(names, case.values)) for case in table]
        for axis in names[1:]:
            if axis == "mask" or (axis == "stateful" and table is GRADIENT_CASES):
                continue
            for kind in ("SimpleRNN", "GRU", "LSTM"):
                wanted = {r[axis] for r in rows if r["kind"] == kind}
                assert len(wanted) == (1 if (axis, kind) == ("inner", "SimpleRNN") or axis == "activation"
                                       and kind != "SimpleRNN" else len(MODES) if axis == "mode" else 2), (axis, kind)
                for mask in MASK_KINDS:
                    seen = {r[axis] for r in rows if r["kind"] == kind and r["mask"] == mask}
                    assert seen == wanted, (axis, kind, mask, seen, wanted)
    assert len(FORWARD_CASES) == 288


@pytest.fixture(scope="module")
def oracle(kit):
    """(kind, activation, inner, go_backwards) -> (cached Keras layer, fixed fused weights); and references."""
    layers: dict = {}
    results: dict = {}

    def layer(kind, activation, inner, backwards):
        key = (kind, activation, inner, backwards)
        if key not in layers:
            weights = kit.random_weights(kind)
            layers[key] = (kit.keras_recurrent(kind, weights, activation=activation, inner_activation=inner,
                                               go_backwards=backwards), weights)
        return layers[key]

    def reference(kind, activation, inner, backwards, mask_kind):
        """Keras outputs [B, T, u] (processing order) and final states ([h] or [h, c]) as numpy."""
        key = (kind, activation, inner, backwards, mask_kind)
        if key not in results:
            keras_layer, _ = layer(kind, activation, inner, backwards)
            out = keras_layer(kit.inputs(), mask=kit.mask(mask_kind))
            results[key] = (np.asarray(out[0]), [np.asarray(s) for s in out[1:]])
        return results[key]

    reference.layer = layer
    return reference


def _ours(kit, kind, activation, inner, mode, backwards, sequences, unroll=False, stateful=False, weights=None):
    args = dict(activation=activation, consume_less=mode, go_backwards=backwards, return_sequences=sequences,
                unroll=unroll, stateful=stateful)
    if inner is not None:
        args["inner_activation"] = inner
    model, layer = kit.single(kind, batch_size=B if stateful else None, **args)
    layer.set_weights(weights if weights is not None else kit.random_weights(kind))
    return model, layer


@pytest.mark.parametrize("kind,activation,inner,mode,backwards,sequences,mask,unroll,stateful", FORWARD_CASES)
def test_forward_and_final_states_match_keras3(kit, oracle, kind, activation, inner, mode, backwards, sequences,
                                                mask, unroll, stateful):
    expected_seq, expected_states = oracle(kind, activation, inner, backwards, mask)
    model, layer = _ours(kit, kind, activation, inner, mode, backwards, sequences, unroll, stateful)
    y, out_mask = model(tf.constant(kit.inputs()), mask=kit.mask(mask))
    expected = expected_seq if sequences else expected_seq[:, -1]
    np.testing.assert_allclose(y.numpy(), expected, **TOL)
    last = y.numpy()[:, -1] if sequences else y.numpy()
    np.testing.assert_allclose(last, expected_states[0], **TOL)  # the output is h
    if stateful:
        assert len(layer.state_variables) == len(expected_states)
        for ours, theirs in zip(layer.state_variables, expected_states):
            np.testing.assert_allclose(ours.numpy(), theirs, **TOL)
    if not sequences or mask == "none":
        assert out_mask is None


@pytest.mark.parametrize("kind,activation,inner,mode,backwards,sequences,mask,unroll", GRADIENT_CASES)
def test_gradients_match_keras3(kit, oracle, kind, activation, inner, mode, backwards, sequences, mask, unroll):
    keras_layer, weights = oracle.layer(kind, activation, inner, backwards)
    _, layer = _ours(kit, kind, activation, inner, mode, backwards, sequences, unroll)
    x = tf.constant(kit.inputs())
    rng = np.random.default_rng(7)
    cotangent = tf.constant(rng.normal(size=(B, T, U) if sequences else (B, U)).astype(np.float32))
    keras_vars = list(keras_layer.trainable_variables)
    assert [tuple(v.shape) for v in keras_vars] == [w.shape for w in weights]

    with tf.GradientTape() as tape:
        tape.watch(x)
        y, _ = layer(x, kit.mask(mask))
        loss = tf.reduce_sum(y * cotangent)
    ours = tape.gradient(loss, [x] + layer.weight_variables())

    with tf.GradientTape() as tape:
        tape.watch(x)
        out = keras_layer(x, mask=kit.mask(mask))[0]
        loss = tf.reduce_sum((out if sequences else out[:, -1]) * cotangent)
    theirs = tape.gradient(loss, [x] + [v.value for v in keras_vars])

    for name, a, b in zip(("x", "kernel", "recurrent_kernel", "bias"), ours, theirs):
        assert a is not None, name
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), err_msg=name, **GRAD_TOL)
        assert np.abs(np.asarray(b)).max() > 1e-3, f"degenerate test: the {name} gradient is ~0"


@pytest.mark.parametrize("kind", ["SimpleRNN", "GRU", "LSTM"])
@pytest.mark.parametrize("mask", ["none", "holes"])
def test_unrolled_and_while_loop_agree_in_every_mode(kit, kind, mask):
    """Same weights, every consume_less, both loops, both directions: identical outputs and gradients."""
    x = tf.constant(kit.inputs(seed=3))
    results = []
    for mode, unroll, backwards in itertools.product(MODES, (False, True), (False, True)):
        _, layer = _ours(kit, kind, "tanh", "hard_sigmoid" if kind != "SimpleRNN" else None, mode, backwards,
                         True, unroll)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y, _ = layer(x, kit.mask(mask))
            loss = tf.reduce_sum(y * y)
        grads = tape.gradient(loss, [x] + layer.weight_variables())
        results.append(((backwards,), [y.numpy()] + [g.numpy() for g in grads]))
    for backwards in (False, True):
        group = [r for key, r in results if key == (backwards,)]
        for other in group[1:]:
            for a, b in zip(group[0], other):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# tf.function: no retracing for a second batch of the same shape, same numbers as eager
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,mode", [("SimpleRNN", "cpu"), ("GRU", "mem"), ("LSTM", "gpu"), ("LSTM", "cpu")])
def test_forward_in_tf_function_does_not_retrace(kit, kind, mode):
    model, layer = kit.single(kind, consume_less=mode, return_sequences=True, dropout_W=0.3, dropout_U=0.3)
    mask = kit.mask("holes")
    rng = tf.random.Generator.from_seed(1)

    @tf.function
    def infer(x, m):
        return model(x, mask=m)[0]

    @tf.function
    def train(x, m):
        return model(x, training=True, rng=rng, mask=m)[0]

    x1, x2 = tf.constant(kit.inputs(seed=1)), tf.constant(kit.inputs(seed=2))
    for x in (x1, x2):
        np.testing.assert_allclose(infer(x, mask).numpy(), model(x, mask=mask)[0].numpy(), rtol=1e-6, atol=1e-6)
    assert infer.experimental_get_tracing_count() == 1
    first, second = train(x1, mask), train(x1, mask)
    train(x2, mask)
    assert train.experimental_get_tracing_count() == 1
    # dropout masks are drawn when the function runs, not frozen at trace time
    assert not np.allclose(first.numpy(), second.numpy())


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
    for i, (layer_act, mask, backwards) in enumerate(itertools.product(TORCH_LAYERS, MASK_KINDS, (False, True))):
        mode = MODES[i % 3]
        yield pytest.param(*layer_act, mode, backwards, mask,
                           id=f"{layer_act[0]}-{layer_act[1]}-{mode}-{'back' if backwards else 'fwd'}-{mask}")


@pytest.mark.parametrize("kind,activation,inner,mode,backwards,mask", list(_torch_cases()))
def test_forward_and_final_states_match_torch(kit, kind, activation, inner, mode, backwards, mask):
    weights = kit.random_weights(kind)
    x = kit.inputs()
    expected_seq, expected_states = _torch_reference(kind, activation, weights, x, kit.MASKS[mask], backwards)
    _, layer = _ours(kit, kind, activation, inner, mode, backwards, True, stateful=True, weights=weights)
    y, _ = layer(tf.constant(x), kit.mask(mask))
    np.testing.assert_allclose(y.numpy(), expected_seq, **TOL)
    for ours, theirs in zip(layer.state_variables, expected_states):
        np.testing.assert_allclose(ours.numpy(), theirs, **TOL)
