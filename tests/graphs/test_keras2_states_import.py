"""Keras 2/3 encoder-decoders (``return_state`` feeding ``initial_state``) built, trained two steps and saved by Keras 3
and by tf-keras, imported with ``rnncli import``, against the Keras model's own ``predict``.

The model: ``LSTM|GRU(return_state=True)`` over a float sequence; an ``Embedding`` of decoder tokens into a second
layer of the same kind started from the encoder's states; a ``TimeDistributed(Dense)`` on top. Its outputs are the
decoder's and the encoder's last state (an LSTM's c, ``encoder:2``; a GRU's h, ``encoder:1``), so both the
``initial_state`` wiring and the state tensors as outputs are checked.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from rnncli.cli.main import main

B, T_ENC, T_DEC, D, U, VOCAB = 8, 5, 4, 3, 6, 7


def _framework(name: str):
    if name == "keras":
        import keras
        return keras
    return pytest.importorskip("tf_keras")


def _encoder_decoder(keras, cell: str):
    layers = keras.layers
    rnn = getattr(layers, cell)
    extra = {"use_cudnn": False} if keras.__name__ == "keras" else {}
    source = keras.Input(shape=(T_ENC, D), name="source")
    tokens = keras.Input(shape=(T_DEC,), dtype="int32", name="tokens")
    encoded = rnn(U, return_state=True, name="encoder", **extra)(source)
    embedded = layers.Embedding(VOCAB, D, name="embed")(tokens)
    decoded = rnn(U, return_sequences=True, name="decoder", **extra)(embedded, initial_state=list(encoded[1:]))
    out = layers.TimeDistributed(layers.Dense(2, name="dense"), name="out")(decoded)
    return keras.Model([source, tokens], [out, encoded[-1]])


def _inputs(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {"source": rng.normal(size=(B, T_ENC, D)).astype(np.float32),
            "tokens": rng.integers(0, VOCAB, (B, T_DEC)).astype(np.int32)}


CASES = [("keras", "LSTM"), ("keras", "GRU"), ("tf_keras", "LSTM"), ("tf_keras", "GRU")]
TF_KERAS = [case for case in CASES if case[0] == "tf_keras"]


@pytest.fixture(scope="module")
def trained(request, tmp_path_factory):
    """(framework, cell, directory with the saved files, predict's answer on ``_inputs(1)``)."""
    framework, cell = request.param
    keras = _framework(framework)
    keras.utils.set_random_seed(3)
    model = _encoder_decoder(keras, cell)
    model.compile(optimizer="adam", loss="mse")
    x = _inputs(0)
    rng = np.random.default_rng(2)
    y = [rng.normal(size=(B, T_DEC, 2)).astype(np.float32), rng.normal(size=(B, U)).astype(np.float32)]
    model.fit([x["source"], x["tokens"]], y, batch_size=4, epochs=1, verbose=0)   # two steps: weights move
    folder = tmp_path_factory.mktemp(f"{framework}_{cell}")
    model.save(folder / "model.h5")
    model.save(folder / "model.keras")
    (folder / "model.json").write_text(model.to_json())
    x = _inputs(1)
    return framework, cell, folder, model.predict([x["source"], x["tokens"]], verbose=0)


def _import_and_predict(tmp_path, source, *extra) -> dict:
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["import", str(source), *extra, "-o", str(run)])
    assert result.exit_code == 0, result.output
    np.savez(tmp_path / "x.npz", **_inputs(1))
    result = CliRunner().invoke(main, ["predict", str(run), "-i", str(tmp_path / "x.npz"),
                                       "-o", str(tmp_path / "y.npz")])
    assert result.exit_code == 0, result.output
    return dict(np.load(tmp_path / "y.npz"))


def _state_name(cell: str) -> str:
    return "encoder:2" if cell == "LSTM" else "encoder:1"


def _assert_close(got: dict, expected: list, cell: str) -> None:
    assert sorted(got) == sorted(["out", _state_name(cell)])
    for name, want in zip(["out", _state_name(cell)], expected):
        tolerance = 1e-5 * max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(got[name], want, rtol=0, atol=tolerance, err_msg=name)


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
@pytest.mark.parametrize("trained", CASES, ids="-".join, indirect=True)
def test_encoder_decoder_imports_and_matches_keras_predict(trained, tmp_path, suffix):
    framework, cell, folder, expected = trained
    _assert_close(_import_and_predict(tmp_path, folder / f"model{suffix}"), expected, cell)


@pytest.mark.parametrize("trained", TF_KERAS, ids="-".join, indirect=True)
def test_initial_state_as_a_call_argument(trained, tmp_path):
    """Keras 2 may write the states in the node's kwargs (``[layer, 0, 0, {initial_state: [...]}]``) instead of as
    extra inbound tensors: the same graph."""
    framework, cell, folder, expected = trained
    doc = json.loads((folder / "model.json").read_text())
    decoder = next(layer for layer in doc["config"]["layers"] if layer["name"] == "decoder")
    first, *states = decoder["inbound_nodes"][0]
    assert [ref[:3] for ref in states] == [["encoder", 0, k] for k in range(1, len(states) + 1)]
    decoder["inbound_nodes"] = [[first[:3] + [{"initial_state": [ref[:3] for ref in states]}]]]
    (tmp_path / "kwargs.json").write_text(json.dumps(doc))
    got = _import_and_predict(tmp_path, tmp_path / "kwargs.json", "--weights", str(folder / "model.h5"))
    _assert_close(got, expected, cell)


@pytest.mark.parametrize("trained", CASES[:1], ids="-".join, indirect=True)
def test_the_imported_plan_names_the_state_tensors(trained):
    _, _, folder, _ = trained
    from rnncli.commands.keras_import import build_imported_model

    config, _ = build_imported_model(folder / "model.keras")
    plan = config.model
    decoder = next(node for node in plan.nodes if node.name == "decoder")
    encoder = next(node for node in plan.nodes if node.name == "encoder")
    assert encoder.return_state and decoder.initial_state == ["encoder:1", "encoder:2"]
    assert list(plan.outputs) == ["out", "encoder:2"]


def test_return_state_inside_bidirectional_is_refused_in_one_line(tmp_path):
    import keras

    source = keras.Input(shape=(T_ENC, D), name="source")
    outs = keras.layers.Bidirectional(keras.layers.LSTM(U, return_state=True, use_cudnn=False), name="bi")(source)
    keras.Model(source, outs[0]).save(tmp_path / "bi.keras")
    result = CliRunner().invoke(main, ["import", str(tmp_path / "bi.keras"), "-o", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "`bi` (Bidirectional) wraps a layer with `return_state: true`" in lines[0], lines


@pytest.mark.parametrize("outputs, names", [(lambda o: o[0], ["enc"]), (lambda o: [o[1], o[2]], ["enc:1", "enc:2"])],
                         ids=["output-only", "states-only"])
def test_one_recurrent_layer_with_return_state(tmp_path, outputs, names):
    """A single output (Keras 3 writes `output_layers: [name, 0, 0]`, not a list of them) and states as the only
    outputs."""
    import keras

    source = keras.Input(shape=(T_ENC, D), name="source")
    layer = keras.layers.LSTM(U, return_state=True, use_cudnn=False, name="enc")
    model = keras.Model(source, outputs(layer(source)))
    x = _inputs(1)["source"]
    expected = model.predict(x, verbose=0)
    expected = expected if isinstance(expected, list) else [expected]
    model.save(tmp_path / "m.keras")
    run = tmp_path / "run"
    assert CliRunner().invoke(main, ["import", str(tmp_path / "m.keras"), "-o", str(run)]).exit_code == 0
    np.savez(tmp_path / "x.npz", **{"x" if len(names) == 1 else "source": x})   # one in, one out: read as a chain
    suffix = ".npz" if len(names) > 1 else ".npy"
    result = CliRunner().invoke(main, ["predict", str(run), "-i", str(tmp_path / "x.npz"),
                                       "-o", str(tmp_path / f"y{suffix}")])
    assert result.exit_code == 0, result.output
    got = np.load(tmp_path / f"y{suffix}")
    got = [got[name] for name in names] if len(names) > 1 else [got]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=0, atol=1e-5 * max(1.0, float(np.abs(e).max())))


def test_stateful_two_input_tf_keras_graph_imports_and_streams(tmp_path):
    """A tf-keras functional model with a stateful LSTM (fixed batch on both inputs) and a Concatenate (whose
    `dtype` tf-keras writes): ``rnncli predict`` chunk after chunk equals Keras' stateful ``predict``."""
    keras = pytest.importorskip("tf_keras")
    layers = keras.layers
    history = keras.Input(batch_shape=(2, T_ENC, D), name="history")
    static = keras.Input(batch_shape=(2, 2), name="static")
    encoded = layers.LSTM(U, stateful=True, name="enc")(history)
    both = layers.Concatenate(name="both")([encoded, layers.Dense(3, name="feat")(static)])
    model = keras.Model([history, static], layers.Dense(2, name="out")(both))
    model.save(tmp_path / "stateful.h5")
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["import", str(tmp_path / "stateful.h5"), "-o", str(run)])
    assert result.exit_code == 0, result.output
    rng = np.random.default_rng(4)
    for chunk in range(2):
        x = {"history": rng.normal(size=(4, T_ENC, D)).astype(np.float32),
             "static": rng.normal(size=(4, 2)).astype(np.float32)}
        want = model.predict([x["history"], x["static"]], batch_size=2, verbose=0)
        np.savez(tmp_path / "x.npz", **x)
        result = CliRunner().invoke(main, ["predict", str(run), "-i", str(tmp_path / "x.npz"),
                                           "-o", str(tmp_path / "y.npy")])
        assert result.exit_code == 0 and "saved the final states of enc" in result.output, result.output
        np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, rtol=0, atol=1e-5, err_msg=f"chunk {chunk}")
