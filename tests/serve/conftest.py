"""Trained stateful runs, a real `rnncli serve` process on 127.0.0.1, and the offline reference (`rnncli predict`)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rnncli.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def invoke(*args: str):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def train_run(folder: Path, model_yaml: str, x: np.ndarray, y: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "data.npz", x=x, y=y)
    config = folder / "config.yaml"
    layers = textwrap.indent(textwrap.dedent(model_yaml).strip(), "    ")
    config.write_text("seed: 5\nmodel:\n  layers:\n" + layers + "\n" + textwrap.dedent("""\
        data: {train: data.npz}
        training:
          loss: mse
          optimizer: rmsprop
          nb_epoch: 1
          shuffle: false
          reset_states: epoch
          jit_compile: "false"
        """))
    invoke("train", str(config), "-o", str(folder / "run"))
    return folder / "run"


@pytest.fixture(scope="session")
def masked_run(tmp_path_factory) -> Path:
    """Masking -> stateful LSTM and GRU returning sequences -> TimeDistributed Dense; 3 streams of [4, 2] chunks.
    Training resets the states after the epoch, so the run's own states are zeros (like a new stream's)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 4, 2)).astype(np.float32)
    return train_run(tmp_path_factory.mktemp("masked"), """\
        - {type: Masking, mask_value: 0.0, batch_input_shape: [3, 4, 2]}
        - {type: LSTM, output_dim: 5, return_sequences: true, stateful: true}
        - {type: GRU, output_dim: 4, return_sequences: true, stateful: true}
        - {type: TimeDistributed, layer: {type: Dense, output_dim: 2}}
        """, x, np.tanh(x))


@pytest.fixture(scope="session")
def stream_run(tmp_path_factory) -> Path:
    """Keras 1 stateful_lstm.py in miniature: 2 stacked stateful LSTMs over 1-step chunks, the last output only."""
    t = np.arange(40, dtype=np.float32)
    x = np.cos(t / 5.0).reshape(20, 2).T.reshape(40, 1, 1)
    return train_run(tmp_path_factory.mktemp("stream"), """\
        - {type: LSTM, output_dim: 6, batch_input_shape: [2, 1, 1], return_sequences: true, stateful: true}
        - {type: LSTM, output_dim: 6, stateful: true}
        - {type: Dense, output_dim: 1}
        """, x, x[:, 0, :])


def offline_streams(run: Path, chunks: np.ndarray, batch_size: int, tmp_path: Path) -> np.ndarray:
    """`rnncli predict` of whole streams from zero states: ``chunks`` [S, K, ...] (S streams of K chunks) laid out
    as Keras 1 stateful batches, ``batch_size`` streams at a time (row i of batch k+1 continues row i of batch k).
    Returns outputs [S, K, ...]."""
    streams, count = chunks.shape[:2]
    assert streams % batch_size == 0
    outputs = []
    for group in range(streams // batch_size):
        rows = chunks[group * batch_size:(group + 1) * batch_size]            # [B, K, ...]
        layout = np.swapaxes(rows, 0, 1).reshape((count * batch_size,) + rows.shape[2:])
        np.save(tmp_path / "offline_in.npy", layout)
        invoke("predict", str(run), "--input", str(tmp_path / "offline_in.npy"), "--output",
               str(tmp_path / "offline_out.npy"), "--no-save-states", "--device", "cpu")
        result = np.load(tmp_path / "offline_out.npy")
        outputs.append(np.swapaxes(result.reshape((count, batch_size) + result.shape[1:]), 0, 1))
    return np.concatenate(outputs)


class Server:
    """A `rnncli serve` subprocess on 127.0.0.1 and a free port; ``request`` speaks HTTP/1.1 to it."""

    def __init__(self, run: Path, *options: str, token: str | None = None):
        self.run = run
        self.options = list(options)
        self.token = token
        self.lines: list[str] = []
        self.url_found = threading.Event()
        self.port = 0
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               "CI": "true", "CUDA_VISIBLE_DEVICES": ""}
        self.process = subprocess.Popen([sys.executable, "-m", "rnncli.cli.main", "serve", str(run), "--host",
                                         "127.0.0.1", "--port", "0", "--device", "cpu", *self.options],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))
            if "listening on http://127.0.0.1:" in line:
                self.port = int(line.split("127.0.0.1:")[1].split()[0])
                self.url_found.set()

    def wait_healthy(self, timeout: float = 240.0) -> "Server":
        deadline = time.monotonic() + timeout
        assert self.url_found.wait(timeout), f"no `listening on` line: {self.lines} rc={self.process.poll()}"
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"server exited: {self.lines}"
            try:
                status, _ = self.request("GET", "/healthz")
            except OSError:
                status = 0
            if status == 200:
                return self
            time.sleep(0.2)
        raise AssertionError(f"the server never became healthy: {self.lines}")

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def request(self, method: str, path: str, body: bytes | str | dict | None = None,
                headers: dict | None = None, connection: http.client.HTTPConnection | None = None,
                authorize: bool = True) -> tuple[int, bytes]:
        own = connection is None
        connection = connection or self.connection()
        sent = dict(headers or {})
        if self.token and authorize:
            sent.setdefault("Authorization", f"Bearer {self.token}")
        if isinstance(body, dict):
            body = json.dumps(body)
        if body is not None:
            sent.setdefault("Content-Type", "application/json")
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            if own:
                connection.close()

    def predict_chunk(self, stream: str, chunk: np.ndarray, connection=None) -> np.ndarray:
        status, body = self.request("POST", f"/v1/streams/{stream}/predict", {"inputs": chunk.tolist()},
                                    connection=connection)
        assert status == 200, (status, body)
        return np.asarray(json.loads(body)["outputs"], np.float32)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(f"the server did not stop on signal {sig}: {self.lines}")


@pytest.fixture(scope="session")
def server_class() -> type[Server]:
    return Server


@pytest.fixture(scope="session")
def offline():
    return offline_streams


@pytest.fixture
def start_server():
    """Start servers with ``start_server(run, *options)``; every one is stopped at the end of the test."""
    started: list[Server] = []

    def start(run: Path, *options: str, token: str | None = None) -> Server:
        server = Server(run, *options, token=token)
        started.append(server)
        return server.wait_healthy()

    yield start
    for server in started:
        if server.process.poll() is None:
            server.stop(signal.SIGKILL)
