"""The ``rnncli serve`` command: options only; the server (FastAPI, uvicorn, TensorFlow) loads when it runs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from rnncli.cli.common import check_device, handle_errors, precision_option, stderr


@click.command()
@click.argument("run_dir", metavar="RUN", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: all).")
@click.option("--port", type=click.IntRange(0, 65535), default=8500, show_default=True, help="0: any free port.")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep stream states here across restarts (see --durability; also saved on SIGTERM/SIGINT).")
@click.option("--max-batch", type=click.IntRange(1, 4096), default=64, show_default=True,
              help="Most streams batched into one compiled step.")
@click.option("--max-delay-ms", type=click.FloatRange(0, 1000), default=2.0, show_default=True,
              help="Longest wait for more streams before a step (only while other requests are arriving or streams "
                   "active in the last 0.1 s have not sent their next chunk yet).")
@click.option("--idle-timeout", type=click.FloatRange(0), default=3600.0, show_default=True,
              help="Seconds after which an unused stream is dropped (0: never).")
@click.option("--max-streams", type=click.IntRange(1), default=10000, show_default=True,
              help="Most live streams; new ones beyond get HTTP 429.")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Require `Authorization: Bearer TOKEN` (the file's content) on every route but /healthz and /docs.")
@click.option("--checkpoint", type=click.Choice(["latest", "best"]), default="latest", show_default=True,
              help="Serve the newest checkpoint, or the best one by training.checkpoint.monitor.")
@click.option("--max-body-bytes", type=click.IntRange(64), default=1 << 20, show_default=True,
              help="Larger request bodies get HTTP 413.")
@click.option("--save-every", type=click.FloatRange(0.1), default=30.0, show_default=True,
              help="Seconds between saves of changed stream states to --state-dir.")
@click.option("--durability", type=click.Choice(["always", "periodic"]), default="always", show_default=True,
              help="With --state-dir: `always` writes every answered chunk's states to a write-ahead log (fsync'ed, "
                   "one per batched step) before answering, so kill -9 loses nothing; `periodic` saves every "
                   "--save-every seconds and at SIGTERM (a client sees a rollback through the step counter).")
@click.option("--device", default="auto", show_default=True, metavar="auto|cpu|gpu|gpu:N", callback=check_device,
              help="Where to run: auto picks GPU 0 when TensorFlow can use one.")
@precision_option
def serve(run_dir: Path, host: str, port: int, state_dir: Path | None, max_batch: int, max_delay_ms: float,
          idle_timeout: float, max_streams: int, token_file: Path | None, checkpoint: str, max_body_bytes: int,
          save_every: float, durability: str, device: str, precision: str | None) -> None:
    """Serve a run over HTTP, keeping one state per stream; streams are batched into one compiled step.

    \b
    Example:
      rnncli serve runs/cosine --state-dir runs/cosine-streams
      curl -s localhost:8500/v1/streams/s1/predict -H 'Content-Type: application/json' -d '{"inputs": [[0.5]]}'
    Routes: /healthz, /v1/model, /v1/predict, /v1/streams/ID/predict, GET/DELETE /v1/streams/ID,
    GET/PUT /v1/streams/ID/state, /metrics, /docs.
    """
    from rnncli.serve.server import ServeOptions, serve as run_server

    options = ServeOptions(run_dir, host, port, state_dir, max_batch, max_delay_ms, idle_timeout, max_streams,
                           token_file, checkpoint, max_body_bytes, save_every, device, durability, precision)

    @handle_errors
    def run() -> int:
        try:
            run_server(options, lambda line: stderr.print(line, markup=False))
        except KeyboardInterrupt:
            stderr.print("interrupted" + (f"; stream states saved in {state_dir}" if state_dir else ""), markup=False)
            return 130
        return 0

    code = run()
    # Everything is saved and closed: skip TensorFlow's teardown at interpreter exit, which took 8-16 s on the
    # loaded 2-core host (more than `docker stop`'s 10 s grace before SIGKILL).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
