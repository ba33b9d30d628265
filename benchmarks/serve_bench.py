"""Benchmark `rnncli serve`: latency and throughput of stream chunks, against `rnncli predict` per chunk and a plain
Keras 3 `predict_on_batch` loop that passes the states by hand.

Two stateful models (trained for one epoch on random data, sigmoid gates so Keras 3 computes the same function):

* ``stream``: bench.py's streaming shape, batch_input_shape 25x1x1 -> LSTM(50) -> Dense(1); a chunk is one step.
* ``medium``: batch_input_shape 64x10x64 -> LSTM(256) -> Dense(1); a chunk is 10 steps of 64 features.

For each: the server's p50/p99 latency of a one-chunk request (one client, keep-alive), its sequential throughput,
its throughput with 32 and 128 concurrent streams (one keep-alive connection each, asyncio client in this process),
the wall time of one `rnncli predict` process per chunk (it must take a whole trained batch of streams), and, in this
process on 1, 32 and 128 streams, Keras 3 (TensorFlow backend) `predict_on_batch([x, h, c])` with the run's weights
next to the server's own compiled step without HTTP (``rnncli_step``). The server's CPU time per chunk (from /proc)
and its mean streams per step (from /metrics) are recorded too: they depend less on other jobs than wall times. The
machine is shared and noisy: the load average is recorded with every run.

    python benchmarks/serve_bench.py                        # writes benchmarks/results/serve.json
    python benchmarks/serve_bench.py --models stream --requests 200 --output /tmp/s.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODELS = {
    "stream": {"batch": 25, "steps": 1, "features": 1, "units": 50},
    "medium": {"batch": 64, "steps": 10, "features": 64, "units": 256},
}


def loadavg() -> list[float]:
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def rnncli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true"}
    return subprocess.run([sys.executable, "-m", "rnncli.cli.main", *args], env=env, capture_output=True, text=True,
                          check=True, **kwargs)


def train(folder: Path, name: str, spec: dict) -> Path:
    rng = np.random.default_rng(0)
    n = spec["batch"] * 2
    x = rng.normal(size=(n, spec["steps"], spec["features"])).astype(np.float32)
    np.savez(folder / f"{name}.npz", x=x, y=x.mean(axis=(1, 2))[:, None])
    config = folder / f"{name}.yaml"
    config.write_text(textwrap.dedent(f"""\
        seed: 1
        model:
          layers:
            - {{type: LSTM, output_dim: {spec['units']}, inner_activation: sigmoid, stateful: true,
               batch_input_shape: [{spec['batch']}, {spec['steps']}, {spec['features']}]}}
            - {{type: Dense, output_dim: 1}}
        data: {{train: {name}.npz}}
        training: {{loss: mse, nb_epoch: 1, shuffle: false}}
        """))
    run = folder / f"{name}-run"
    rnncli("train", str(config), "-o", str(run), "--device", "cpu")
    return run


class ServerProcess:
    def __init__(self, run: Path, max_batch: int):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true", "CUDA_VISIBLE_DEVICES": ""}
        self.process = subprocess.Popen([sys.executable, "-m", "rnncli.cli.main", "serve", str(run), "--port", "0",
                                         "--max-batch", str(max_batch), "--device", "cpu"],
                                        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.port = 0
        found = threading.Event()

        def read() -> None:
            for line in self.process.stderr:
                if "listening on http://127.0.0.1:" in line:
                    self.port = int(line.split("127.0.0.1:")[1].split()[0])
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        self.started = time.perf_counter()
        if not found.wait(300):
            raise RuntimeError("the server did not start")
        import urllib.request

        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("the server never became healthy")
        self.ready_s = time.perf_counter() - self.started

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)


def request_bytes(port: int, stream: str, body: bytes) -> bytes:
    return (f"POST /v1/streams/{stream}/predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


async def one_client(port: int, stream: str, body: bytes, count: int, deadline: float,
                     latencies: list[float]) -> int:
    """Send up to ``count`` chunks of one stream over one keep-alive connection; returns how many were answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    message = request_bytes(port, stream, body)
    done = 0
    try:
        while done < count and time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(message)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.decode(errors="replace"))
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            done += 1
    finally:
        writer.close()
    return done


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (less sensitive to other jobs' load than wall time)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_batches(port: int) -> tuple[float, float, float]:
    """(steps, streams in all steps, seconds in all steps) from the server's /metrics."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    values = {s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples
              if s.name in ("rnncli_batch_streams_count", "rnncli_batch_streams_sum", "rnncli_step_seconds_sum")}
    return (values["rnncli_batch_streams_count"], values["rnncli_batch_streams_sum"],
            values["rnncli_step_seconds_sum"])


def measure_server(port: int, pid: int, chunk: np.ndarray, streams: int, per_stream: int, limit_s: float) -> dict:
    body = json.dumps({"inputs": chunk.tolist()}).encode()
    latencies: list[float] = []

    async def main() -> tuple[int, float]:
        deadline = time.perf_counter() + limit_s
        started = time.perf_counter()
        counts = await asyncio.gather(*(one_client(port, f"bench-{streams}-{i}", body, per_stream, deadline,
                                                   latencies) for i in range(streams)))
        return sum(counts), time.perf_counter() - started

    asyncio.run(main_warm(port, body))
    steps0, rows0, step_s0 = server_batches(port)
    cpu0 = process_cpu_seconds(pid)
    total, wall = asyncio.run(main())
    cpu = process_cpu_seconds(pid) - cpu0
    steps1, rows1, step_s1 = server_batches(port)
    ordered = sorted(latencies)
    return {"streams": streams, "chunks": total, "seconds": round(wall, 3),
            "chunks_per_s": round(total / wall, 1),
            "server_cpu_ms_per_chunk": round(1e3 * cpu / total, 3),
            "mean_streams_per_step": round((rows1 - rows0) / max(steps1 - steps0, 1), 2),
            "step_ms_mean": round(1e3 * (step_s1 - step_s0) / max(steps1 - steps0, 1), 3),
            "p50_ms": round(1e3 * ordered[len(ordered) // 2], 3),
            "p99_ms": round(1e3 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3)}


async def main_warm(port: int, body: bytes) -> None:
    await one_client(port, "warm-up", body, 20, time.perf_counter() + 30, [])


def median_row(rows: list[dict]) -> dict:
    """The per-key median of several rounds' rows (the numbers of one round do not mix with another's)."""
    return {key: statistics.median(row[key] for row in rows) for key in rows[0]}


def measure_predict_cli(run: Path, spec: dict, folder: Path, reps: int) -> dict:
    """One `rnncli predict` process per chunk: a whole trained batch of streams (the CLI cannot take fewer)."""
    x = np.zeros((spec["batch"], spec["steps"], spec["features"]), np.float32)
    np.save(folder / "chunk.npy", x)
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        rnncli("predict", str(run), "--input", str(folder / "chunk.npy"), "--output", str(folder / "out.npy"),
               "--no-save-states", "--device", "cpu")
        times.append(time.perf_counter() - started)
    return {"seconds_per_call": round(statistics.median(times), 3), "streams_per_call": spec["batch"],
            "reps": reps}


def measure_keras(run: Path, spec: dict, calls: int) -> dict:
    """A Keras 3 LSTM with the run's weights; the states go in and out of predict_on_batch by hand."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    from rnncli.serve.runner import load_runner

    runner = load_runner(run, "latest", "cpu", 128)
    runner.compile()
    lstm, dense = runner.model.layers
    units = spec["units"]
    x_in = keras.Input((spec["steps"], spec["features"]))
    h_in, c_in = keras.Input((units,)), keras.Input((units,))
    layer = keras.layers.LSTM(units, recurrent_activation="sigmoid", return_state=True)
    y, h, c = layer(x_in, initial_state=[h_in, c_in])
    out = keras.layers.Dense(1)
    model = keras.Model([x_in, h_in, c_in], [out(y), h, c])
    layer.set_weights([lstm.kernel.numpy(), lstm.recurrent_kernel.numpy(), lstm.bias.numpy()])
    out.set_weights([dense.kernel.numpy(), dense.bias.numpy()])
    rng = np.random.default_rng(0)
    result: dict = {}
    for streams in (1, 32, 128):
        x = rng.normal(size=(streams, spec["steps"], spec["features"])).astype(np.float32)
        h_state = np.zeros((streams, units), np.float32)
        c_state = np.zeros((streams, units), np.float32)
        ours, _ = runner.run(x, [h_state, c_state])
        theirs = model.predict_on_batch([x, h_state, c_state])
        result[f"max_abs_diff_vs_rnncli_{streams}"] = float(np.abs(ours - theirs[0]).max())
        def keras_call(state):
            _, h, c = model.predict_on_batch([x, *state])
            return [h, c]

        def rnncli_call(state):
            return runner.run(x, state)[1]

        for label, call in (("keras", keras_call), ("rnncli_step", rnncli_call)):
            state = [h_state, c_state]
            for _ in range(5):
                state = call(state)
            times = []
            for _ in range(calls):  # alternating would be fairer, but each keeps its own states
                started = time.perf_counter()
                state = call(state)
                times.append(time.perf_counter() - started)
            ordered = sorted(times)
            result.setdefault(label, {})[str(streams)] = {
                "p50_ms": round(1e3 * ordered[len(ordered) // 2], 3),
                "p99_ms": round(1e3 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3),
                "chunks_per_s": round(streams / statistics.mean(times), 1)}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--requests", type=int, default=400, help="Sequential one-chunk requests per model.")
    parser.add_argument("--per-stream", type=int, default=60, help="Chunks per stream in the concurrent runs.")
    parser.add_argument("--limit-s", type=float, default=60.0, help="Time limit of each measurement.")
    parser.add_argument("--predict-reps", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="Rounds of sequential, 32 and 128 streams, alternating.")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "serve.json")
    args = parser.parse_args()
    report: dict = {"host": {"cpus": os.cpu_count(), "platform": platform.platform(),
                             "python": platform.python_version(), "load_at_start": loadavg()},
                    "note": "shared 2-core machine under load from other jobs: absolute times are noisy; compare "
                            "columns of the same run", "models": {}}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for name in args.models:
            spec = MODELS[name]
            run = train(folder, name, spec)
            chunk = np.random.default_rng(1).normal(size=(spec["steps"], spec["features"])).astype(np.float32)
            server = ServerProcess(run, 128)
            try:
                entry: dict = {"shape": spec, "server_ready_s": round(server.ready_s, 1), "load_before": loadavg()}
                pid = server.process.pid
                rounds = []
                for _ in range(args.rounds):  # sequential and concurrent alternate, so each lift is a paired ratio
                    measured = {"sequential": measure_server(server.port, pid, chunk, 1, args.requests, args.limit_s)}
                    for streams in (32, 128):
                        measured[f"concurrent_{streams}"] = measure_server(server.port, pid, chunk, streams,
                                                                           args.per_stream, args.limit_s)
                    sequential = measured["sequential"]["chunks_per_s"]
                    measured["batching_lift"] = {str(s): round(measured[f"concurrent_{s}"]["chunks_per_s"] /
                                                               sequential, 2) for s in (32, 128)}
                    rounds.append(measured)
            finally:
                server.stop()
            for key in ("sequential", "concurrent_32", "concurrent_128"):
                entry[key] = median_row([r[key] for r in rounds])
            entry["batching_lift"] = {streams: statistics.median(r["batching_lift"][streams] for r in rounds)
                                      for streams in ("32", "128")}
            entry["batching_lift_per_round"] = [r["batching_lift"] for r in rounds]
            entry["rnncli_predict_per_chunk"] = measure_predict_cli(run, spec, folder, args.predict_reps)
            entry["in_process"] = measure_keras(run, spec, max(50, args.requests // 4))
            entry["load_after"] = loadavg()
            report["models"][name] = entry
            print(json.dumps({name: entry}, indent=1), file=sys.stderr)
    report["host"]["load_at_end"] = loadavg()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
