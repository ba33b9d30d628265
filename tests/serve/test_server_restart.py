"""SIGTERM in the middle of 12 streams and a restart on the same --state-dir: every stream continues identically."""

from __future__ import annotations

import json
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np


def test_sigterm_and_restart_continue_every_stream(stream_run: Path, start_server, offline, tmp_path: Path) -> None:
    chunks = np.random.default_rng(3).normal(size=(12, 8, 1, 1)).astype(np.float32)   # 12 streams x 8 chunks
    expected = offline(stream_run, chunks, 2, tmp_path)                               # trained with batch 2
    options = ("--state-dir", str(tmp_path / "states"), "--max-streams", "12", "--max-batch", "16",
               "--save-every", "3600")

    def send(server, first: int, last: int) -> np.ndarray:
        def follow(stream: int) -> np.ndarray:
            connection = server.connection()
            try:
                return np.stack([server.predict_chunk(f"s{stream}", chunks[stream, k], connection)
                                 for k in range(first, last)])
            finally:
                connection.close()

        with ThreadPoolExecutor(12) as pool:
            return np.stack(list(pool.map(follow, range(12))))

    server = start_server(stream_run, *options)
    before = send(server, 0, 3)
    status, body = server.request("POST", "/v1/streams/one-too-many/predict", {"inputs": [[0.5]]})
    assert status == 429 and "at most 12 streams" in json.loads(body)["error"]
    assert server.stop(signal.SIGTERM) == 0
    assert any("stopped" in line and "streams.npz" in line for line in server.lines), server.lines

    restarted = start_server(stream_run, *options)
    assert any("restored 12 stream(s)" in line for line in restarted.lines), restarted.lines
    after = send(restarted, 3, 8)
    np.testing.assert_allclose(np.concatenate([before, after], axis=1), expected, rtol=1e-5, atol=1e-5)
    assert restarted.stop(signal.SIGINT) in (0, 130)
    saved = np.load(tmp_path / "states" / "streams.npz")
    assert sorted(saved["ids"]) == sorted(f"s{i}" for i in range(12)) and set(saved["steps"]) == {8}
