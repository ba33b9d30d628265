"""A real `rnncli serve` process on graph runs (named inputs and outputs): stateless `/v1/predict` with
``{"inputs": {"history": ..., "static": ...}}`` equals `rnncli predict` of the same inputs, `/v1/model` names the
inputs and outputs, a wrong input name or shape is a one-line 422; a graph with a stateful LSTM streams through
`/v1/streams/ID/predict` as `rnncli predict` does chunk after chunk."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from rnncli.cli.main import main

N, T, D, U, B = 16, 5, 3, 4, 2


def invoke(*args: str):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def _data(seed: int, n: int) -> dict:
    rng = np.random.default_rng(seed)
    return {"history": rng.normal(size=(n, T, D)).astype(np.float32),
            "static": rng.normal(size=(n, 2)).astype(np.float32)}


def _train(folder: Path, model: dict, outputs: dict, **training) -> Path:
    np.savez(folder / "train.npz", **_data(3, N), **outputs)
    config = folder / "graph.yaml"
    config.write_text(yaml.safe_dump({"seed": 4, "model": model, "data": {"train": "train.npz"},
                                      "training": {"loss": "mse", "nb_epoch": 1, "batch_size": B,
                                                   "shuffle": False, "jit_compile": "false", **training}},
                                     sort_keys=False))
    invoke("train", str(config), "-o", str(folder / "run"), "--no-progress")
    return folder / "run"


@pytest.fixture(scope="module")
def graph_run(tmp_path_factory) -> Path:
    """Two inputs, two outputs: an LSTM over `history` (its h state an output too) joined with a Dense of
    `static`."""
    rng = np.random.default_rng(1)
    model = {"inputs": {"history": {"shape": [T, D]}, "static": {"shape": [2]}},
             "layers": [{"type": "LSTM", "name": "enc", "output_dim": U, "return_state": True, "input": "history"},
                        {"type": "Dense", "name": "feat", "output_dim": 3, "activation": "tanh", "input": "static"},
                        {"type": "Concatenate", "name": "both", "inputs": ["enc", "feat"]},
                        {"type": "Dense", "name": "score", "output_dim": 2}],
             "outputs": ["score", "enc:1"]}
    return _train(tmp_path_factory.mktemp("graph"), model,
                  {"score": rng.normal(size=(N, 2)).astype(np.float32),
                   "enc:1": rng.normal(size=(N, U)).astype(np.float32)})


@pytest.fixture(scope="module")
def stateful_graph_run(tmp_path_factory) -> Path:
    """The same two inputs into a stateful LSTM (batch 2 declared on every input), one output `score`; the states
    are reset after the epoch, so the run's own states are zeros like a new stream's."""
    rng = np.random.default_rng(2)
    model = {"inputs": {"history": {"batch_shape": [B, T, D]}, "static": {"batch_shape": [B, 2]}},
             "layers": [{"type": "LSTM", "name": "enc", "output_dim": U, "stateful": True, "input": "history"},
                        {"type": "Dense", "name": "feat", "output_dim": 3, "activation": "tanh", "input": "static"},
                        {"type": "Concatenate", "name": "both", "inputs": ["enc", "feat"]},
                        {"type": "Dense", "name": "score", "output_dim": 2}],
             "outputs": ["score"]}
    return _train(tmp_path_factory.mktemp("stateful_graph"), model,
                  {"score": rng.normal(size=(N, 2)).astype(np.float32)}, reset_states="epoch")


def _predict(run: Path, x: dict, folder: Path, *options: str) -> dict:
    np.savez(folder / "x.npz", **x)
    invoke("predict", str(run), "-i", str(folder / "x.npz"), "-o", str(folder / "y.npz"), "--device", "cpu",
           *options)
    with np.load(folder / "y.npz") as y:
        return {name: y[name] for name in y.files}


def _one_line_422(status: int, body: bytes, *needles: str) -> str:
    assert status == 422, (status, body)
    assert body.count(b"\n") == 0 and b"Traceback" not in body, body
    message = json.loads(body)["error"]
    for needle in needles:
        assert needle in message, message
    return message


def test_stateless_graph_answers_by_name_as_rnncli_predict(graph_run: Path, start_server, tmp_path: Path) -> None:
    server = start_server(graph_run, "--max-batch", "4")
    status, body = server.request("GET", "/v1/model")
    info = json.loads(body)
    assert status == 200 and info["stateful"] is False and info["states"] == []
    assert info["inputs"] == [{"name": "history", "shape": [T, D], "dtype": "float32"},
                              {"name": "static", "shape": [2], "dtype": "float32"}]
    assert info["outputs"] == [{"name": "score", "shape": [2]}, {"name": "enc:1", "shape": [U]}]

    x = _data(7, 7)  # more samples than --max-batch: the request runs as pieces of the compiled sizes
    expected = _predict(graph_run, x, tmp_path)
    status, body = server.request("POST", "/v1/predict", {"inputs": {k: v.tolist() for k, v in x.items()}})
    assert status == 200, body
    outputs = json.loads(body)["outputs"]
    assert sorted(outputs) == ["enc:1", "score"]
    for name in ("score", "enc:1"):
        np.testing.assert_allclose(np.asarray(outputs[name], np.float32), expected[name], rtol=1e-5, atol=1e-5)
    assert np.abs(expected["score"]).max() > 0.01

    one = {k: v[:1].tolist() for k, v in x.items()}
    status, body = server.request("POST", "/v1/predict", {"inputs": one})
    assert status == 200
    np.testing.assert_allclose(np.asarray(json.loads(body)["outputs"]["score"], np.float32), expected["score"][:1],
                               rtol=1e-5, atol=1e-5)

    history, static = x["history"][:2].tolist(), x["static"][:2].tolist()
    _one_line_422(*server.request("POST", "/v1/predict", {"inputs": {"history": history, "statc": static}}),
                  "unknown input(s) `statc`", "missing input(s) `static`", '"static": [N][2]')
    _one_line_422(*server.request("POST", "/v1/predict", {"inputs": {"history": history,
                                                                     "static": x["static"][:2, :1].tolist()}}),
                  "`inputs.static` has shape [2, 1], expected [N][2]")
    _one_line_422(*server.request("POST", "/v1/predict", {"inputs": {"history": x["history"][:2, :, :2].tolist(),
                                                                     "static": static}}),
                  "`inputs.history` has shape [2, 5, 2], expected [N][5][3]")
    _one_line_422(*server.request("POST", "/v1/predict", {"inputs": {"history": history,
                                                                     "static": x["static"][:3].tolist()}}),
                  "same number of samples N", "history: 2, static: 3")
    _one_line_422(*server.request("POST", "/v1/predict", {"inputs": history}), "one array per model input")
    _one_line_422(*server.request("POST", "/v1/predict", {"inputs": {"history": history, "static": [[1, "a"]] * 2}}),
                  "`inputs.static` must hold numbers only")
    status, body = server.request("POST", "/v1/streams/s1/predict", {"inputs": {"history": history[0],
                                                                                "static": static[0]}})
    assert status == 409 and b"keeps no states" in body
    assert server.request("GET", "/healthz")[0] == 200


def test_stateful_graph_streams_equal_rnncli_predict(stateful_graph_run: Path, start_server,
                                                     tmp_path: Path) -> None:
    """Two streams of 3 chunks each; offline, `rnncli predict` runs them as Keras 1 stateful batches of 2 (row i
    of batch k+1 continues row i of batch k) from the run's zero states."""
    streams, count = 2, 3
    chunks = [_data(20 + s, count) for s in range(streams)]  # per stream: history [K, T, D], static [K, 2]
    offline = {name: np.stack([chunks[s][name] for s in range(streams)], 1).reshape((count * streams,) +
                                                                                    chunks[0][name].shape[1:])
               for name in ("history", "static")}
    expected = _predict(stateful_graph_run, offline, tmp_path, "--no-save-states")["score"].reshape(count, streams, 2)

    server = start_server(stateful_graph_run, "--max-batch", "4")
    info = json.loads(server.request("GET", "/v1/model")[1])
    assert info["stateful"] is True and info["states"] == [{"layer": "enc", "name": "h", "units": U},
                                                           {"layer": "enc", "name": "c", "units": U}]
    for k in range(count):
        for s in range(streams):
            chunk = {name: chunks[s][name][k].tolist() for name in ("history", "static")}
            status, body = server.request("POST", f"/v1/streams/g{s}/predict", {"inputs": chunk, "expect_step": k})
            assert status == 200, body
            answer = json.loads(body)
            assert answer["step"] == k + 1
            np.testing.assert_allclose(np.asarray(answer["outputs"], np.float32), expected[k, s], rtol=1e-5,
                                       atol=1e-5)
    _one_line_422(*server.request("POST", "/v1/streams/g0/predict",
                                  {"inputs": {"history": chunks[0]["history"][0].tolist(), "static": [1.0]}}),
                  "`inputs.static` has shape [1], expected [2]")
    status, body = server.request("GET", "/v1/streams/g0")
    assert status == 200 and json.loads(body)["step"] == count
