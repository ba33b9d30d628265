"""Real `rnncli serve` processes killed with SIGKILL: `--durability always` continues every answered chunk;
`periodic` rolls back, and the step counter tells the client (409 with the actual step) so it can replay; GET/PUT
state moves a stream from one server to another."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def chunk_request(server, stream: str, chunk: np.ndarray, expect: int | None = None, connection=None):
    body = {"inputs": chunk.tolist()} if expect is None else {"inputs": chunk.tolist(), "expect_step": expect}
    status, answer = server.request("POST", f"/v1/streams/{stream}/predict", body, connection=connection)
    return status, json.loads(answer)


def test_kill_9_with_durability_always_continues_every_stream(stream_run: Path, start_server, offline,
                                                              tmp_path: Path) -> None:
    chunks = np.random.default_rng(7).normal(size=(12, 7, 1, 1)).astype(np.float32)   # 12 streams x 7 chunks
    expected = offline(stream_run, chunks, 2, tmp_path)                               # trained with batch 2
    options = ("--state-dir", str(tmp_path / "states"), "--durability", "always", "--max-batch", "16",
               "--save-every", "3600")

    def send(server, first: int, last: int) -> np.ndarray:
        def follow(stream: int) -> np.ndarray:
            connection = server.connection()
            outputs = []
            try:
                for k in range(first, last):
                    status, answer = chunk_request(server, f"s{stream}", chunks[stream, k], k, connection)
                    assert status == 200 and answer["step"] == k + 1, answer
                    outputs.append(answer["outputs"])
            finally:
                connection.close()
            return np.asarray(outputs, np.float32)

        with ThreadPoolExecutor(12) as pool:
            return np.stack(list(pool.map(follow, range(12))))

    server = start_server(stream_run, *options)
    before = send(server, 0, 3)
    server.stop(signal.SIGKILL)                               # no shutdown save: only the write-ahead log has them

    restarted = start_server(stream_run, *options)
    assert any("restored 12 stream(s)" in line and "logged update(s)" in line for line in restarted.lines), \
        restarted.lines
    status, body = restarted.request("GET", "/v1/streams/s5")
    info = json.loads(body)
    assert status == 200 and info["step"] == 3 and info["restored_from_disk"] is True
    after = send(restarted, 3, 7)
    np.testing.assert_allclose(np.concatenate([before, after], axis=1), expected, rtol=1e-5, atol=1e-5)
    restarted.stop(signal.SIGKILL)
    third = start_server(stream_run, *options)                # the log of the compacted restart replays too
    assert json.loads(third.request("GET", "/v1/streams/s11")[1])["step"] == 7


def test_periodic_rollback_is_a_409_and_replay_or_a_moved_state_continues(stream_run: Path, start_server, offline,
                                                                          tmp_path: Path) -> None:
    """Server A saves at SIGTERM after 3 chunks of streams p and r. Server B restores them, applies 2 more chunks,
    hands out p's state (GET .../state), and dies by SIGKILL before any periodic save. Server C has the older save:
    a chunk expecting step 5 gets 409 with step 3; r is replayed from step 3, and p is moved from B by PUT; both
    continue exactly as `rnncli predict` of the whole sequences."""
    chunks = np.random.default_rng(8).normal(size=(2, 8, 1, 1)).astype(np.float32)
    expected = offline(stream_run, chunks, 2, tmp_path)                      # [2, 8, 1]
    p, r = 0, 1
    options = ("--state-dir", str(tmp_path / "states"), "--durability", "periodic", "--save-every", "3600")
    outputs: dict[int, list] = {p: [], r: []}

    a = start_server(stream_run, *options)
    for k in range(3):
        for stream, name in ((p, "p"), (r, "r")):
            status, answer = chunk_request(a, name, chunks[stream, k])
            assert status == 200 and answer["step"] == k + 1
            outputs[stream].append(answer["outputs"])
    assert a.stop(signal.SIGTERM) == 0

    b = start_server(stream_run, *options)
    assert json.loads(b.request("GET", "/v1/streams/p")[1])["restored_from_disk"] is True
    for k in range(3, 5):
        for stream, name in ((p, "p"), (r, "r")):
            status, answer = chunk_request(b, name, chunks[stream, k], expect=k)
            assert status == 200 and answer["step"] == k + 1
            outputs[stream].append(answer["outputs"])
    status, body = b.request("GET", "/v1/streams/p/state")
    moved = json.loads(body)
    assert status == 200 and moved["step"] == 5
    b.stop(signal.SIGKILL)

    c = start_server(stream_run, *options)
    status, answer = chunk_request(c, "r", chunks[r, 5], expect=5)
    assert status == 409 and answer["step"] == 3 and "replay from step 3" in answer["error"]
    replayed = []
    for k in range(3, 8):                                                    # replay from the step the server has
        status, answer = chunk_request(c, "r", chunks[r, k], expect=k)
        assert status == 200 and answer["step"] == k + 1
        replayed.append(answer["outputs"])
    np.testing.assert_allclose(np.asarray(outputs[r][:3] + replayed, np.float32), expected[r], rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(np.asarray(outputs[r], np.float32), expected[r, :5], rtol=1e-5, atol=1e-5)

    status, body = c.request("PUT", "/v1/streams/p/state", moved)
    assert status == 200 and json.loads(body)["step"] == 5, body
    for k in range(5, 8):
        status, answer = chunk_request(c, "p", chunks[p, k], expect=k)
        assert status == 200, answer
        outputs[p].append(answer["outputs"])
    np.testing.assert_allclose(np.asarray(outputs[p], np.float32), expected[p], rtol=1e-5, atol=1e-5)


def serve_exits(run: Path, state_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "CI": "true", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run([sys.executable, "-m", "rnncli.cli.main", "serve", str(run), "--port", "0", "--device",
                           "cpu", "--state-dir", str(state_dir)], env=env, capture_output=True, text=True,
                          timeout=300)


def test_a_busy_or_foreign_state_dir_is_refused_with_both_sides(masked_run: Path, tmp_path: Path) -> None:
    """A state folder locked by a live process: exit 2 naming --state-dir (before the model loads). A folder of
    another model's states: exit 2 showing the run, checkpoint and weights fingerprint of both sides."""
    from rnncli.serve.store import StreamStore

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "run.lock").write_text(str(os.getpid()))
    done = serve_exits(masked_run, busy)
    assert done.returncode == 2, done.stderr
    assert f"--state-dir {busy} is in use by another rnncli serve (pid {os.getpid()})" in done.stderr
    assert "another --state-dir" in done.stderr and "Traceback" not in done.stderr

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    identity = {"states": [["lstm_1", "h", 5], ["lstm_1", "c", 5], ["gru_1", "h", 4]], "weights_sha256": "0" * 64,
                "run": "/elsewhere/run", "checkpoint": "/elsewhere/run/checkpoints/ckpt-1"}
    (foreign / "streams.npz").write_bytes(StreamStore([5, 5, 4], identity, 10, None).snapshot())
    done = serve_exits(masked_run, foreign)
    assert done.returncode == 2, done.stderr
    message = done.stderr.strip().splitlines()[-1]
    assert "saved by run /elsewhere/run, checkpoint /elsewhere/run/checkpoints/ckpt-1, weights sha256 000000000000" \
        in message
    assert f"this server runs run {masked_run.resolve()}, checkpoint " in message and "weights sha256 0000" not in \
        message.split("this server runs")[1]


def test_a_failed_save_at_shutdown_is_one_line_saying_what_a_restart_gets(stream_run: Path, start_server,
                                                                          tmp_path: Path) -> None:
    """The shutdown save cannot replace streams.npz (a folder stands in its place, which any user and file system
    reproduce): `serve` exits 1 with one line that names the file and says what a restart gets, no traceback."""
    states = tmp_path / "states"
    server = start_server(stream_run, "--state-dir", str(states), "--durability", "periodic", "--save-every", "3600")
    status, _ = chunk_request(server, "s1", np.zeros((1, 1), np.float32))
    assert status == 200
    (states / "streams.npz").mkdir()  # the atomic rename onto it fails (EISDIR)
    assert server.stop(signal.SIGTERM) == 1, server.lines
    text = "\n".join(server.lines)
    assert f"cannot save the stream states to {states / 'streams.npz'}" in text, text
    assert "a restart continues every stream from the last save" in text and "Traceback" not in text, text


def test_shutdown_save_errors_name_the_storage_fault_and_the_write_ahead_log() -> None:
    import errno
    from types import SimpleNamespace

    from rnncli.runs.faults import StorageError
    from rnncli.serve.app import shutdown_save_error

    state = SimpleNamespace(state_dir=SimpleNamespace(file=Path("/srv/states/streams.npz")), log=object(), saved_at=0)
    error = shutdown_save_error(OSError(errno.ENOSPC, "No space left on device"), state)  # type: ignore[arg-type]
    assert isinstance(error, StorageError) and error.kind == "disk_full"
    assert str(error) == ("cannot write /srv/states/streams.npz: No space left on device (the disk is full: free "
                          "some space, then run the command again; the write-ahead log still holds every answered "
                          "chunk: a restart on this --state-dir replays it)")
