"""``rnncli serve`` as a library function: load the run and the saved stream states, bind, run uvicorn until a signal.

SIGTERM or SIGINT stops the server gracefully: no new connections, requests in progress (and the chunks waiting for a
batch) are answered, then the stream states are written to ``--state-dir`` before the process exits.
"""

from __future__ import annotations

import hashlib
import signal
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rnncli.errors import UserInputError


@dataclass
class ServeOptions:
    run: Path
    host: str = "127.0.0.1"
    port: int = 8500
    state_dir: Path | None = None
    max_batch: int = 64
    max_delay_ms: float = 2.0
    idle_timeout: float = 3600.0      # seconds; 0 keeps idle streams forever
    max_streams: int = 10000
    token_file: Path | None = None
    checkpoint: str = "latest"
    max_body_bytes: int = 1 << 20
    save_every: float = 30.0          # seconds between saves of changed states (and always at shutdown)
    device: str = "auto"
    durability: str = "always"        # "always": write-ahead log fsync'ed before each answer; "periodic"
    precision: str | None = None      # None: the run's training.precision


class Terminated(Exception):
    """SIGTERM arrived and the server shut down cleanly (states saved)."""


def read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(f"--token-file {path}: cannot read ({exc})") from None
    if not token or any(c.isspace() for c in token):
        raise UserInputError(f"--token-file {path}: must hold one token (no spaces), found "
                             f"{'nothing' if not token else 'whitespace inside'}")
    return token


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0: any free port), bound before the model loads so clients see 503s."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        raise UserInputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def weights_fingerprint(model) -> str:
    """sha256 of every trainable weight: states saved by other weights are never continued."""
    digest = hashlib.sha256()
    for path, variable in sorted(model.trainable_by_path().items()):
        digest.update(path.encode())
        digest.update(variable.numpy().tobytes())
    return digest.hexdigest()


def restore_streams(state_dir, store, durability: str, announce: Callable[[str], None]):
    """Read ``streams.npz`` and replay the write-ahead log newer than it; fold both into a fresh ``streams.npz``
    when there was a log (or the log is about to start); returns the open log for ``--durability always``."""
    count = store.load(state_dir.file) if state_dir.file.exists() else None
    replayed = state_dir.replay(store)
    if count is not None or replayed:
        logged = f" and {replayed} logged update(s)" if replayed else ""
        announce(f"restored {len(store)} stream(s) from {state_dir.file}{logged}")
    newest = state_dir.newest_generation(store)
    if replayed or durability == "always" or newest > store.wal_generation:
        try:
            state_dir.compact(store, newest)
        except OSError as exc:
            raise UserInputError(f"--state-dir {state_dir.path}: cannot write {state_dir.file.name} "
                                 f"({exc.strerror or exc})") from None
    return state_dir.open_log(newest + 1) if durability == "always" else None


def serve(options: ServeOptions, announce: Callable[[str], None]) -> None:
    """Serve ``options.run`` until SIGTERM (returns) or SIGINT (``KeyboardInterrupt``); ``announce`` gets the
    progress lines the CLI prints (one of them ``listening on http://HOST:PORT``)."""
    import uvicorn

    from rnncli.serve.app import Limits, ServerState, create_app
    from rnncli.serve.runner import load_runner
    from rnncli.serve.store import StateDir, StreamStore

    token = read_token(options.token_file) if options.token_file else None
    sock = bind(options.host, options.port)
    state_dir = StateDir(options.state_dir) if options.state_dir else None
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    state = None
    try:
        if state_dir:
            state_dir.open()
        runner = load_runner(options.run, options.checkpoint, options.device, options.max_batch,
                             options.precision)
        for note in runner.info.notes:
            announce(f"note: {note}")
        identity = {"states": [[s.layer, s.name, s.units] for s in runner.state_specs],
                    "weights_sha256": weights_fingerprint(runner.model),
                    "run": runner.info.run, "checkpoint": runner.info.checkpoint}
        store = StreamStore([s.units for s in runner.state_specs], identity, options.max_streams,
                            options.idle_timeout or None)
        log = None
        if state_dir:
            log = restore_streams(state_dir, store, options.durability, announce)
        limits = Limits(options.max_batch, options.max_delay_ms / 1000.0, options.max_body_bytes,
                        options.save_every, token, options.durability)
        state = ServerState(runner, store, state_dir, limits)
        state.log = log
        app = create_app(state)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                                timeout_graceful_shutdown=15, server_header=False,
                                proxy_headers=False)
        server = uvicorn.Server(config)
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        announce(f"listening on http://{shown}:{port} (compiling the step for batches of "
                 f"{', '.join(map(str, runner.buckets))}; /healthz answers 200 once batch size 1 is ready)")
        server.run(sockets=[sock])
        if state.shutdown_error is not None:
            raise state.shutdown_error
        if server.started:
            announce("stopped" + (f"; stream states saved in {state_dir.file}" if state_dir else ""))
    except Terminated:
        if state is not None and state.shutdown_error is not None:
            raise state.shutdown_error from None
        announce("stopped (SIGTERM)" + (f"; stream states saved in {state_dir.file}" if state_dir else ""))
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
        if state_dir:
            state_dir.close()


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()
