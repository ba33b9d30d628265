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

With ``wrk`` (a C HTTP load generator, installed here with ``apt-get install -y wrk`` when missing and allowed) and
a Lua script posting one-step chunks, the ``stream`` model is also measured per ``--durability`` mode (``periodic``
and ``always``, each a server with its own ``--state-dir``): one connection on one stream, one connection cycling
over 4096 streams, and 32 and 128 connections (each thread cycling over its own 4096 streams, so the requests in
flight are of different streams). Targets: one connection over many streams within 1.5x of the one-stream p50, and
32 connections >= 3x the one-stream throughput, in both modes.

    python benchmarks/serve_bench.py                        # writes benchmarks/results/serve.json and serve_wrk.json
    python benchmarks/serve_bench.py --models stream --requests 200 --output /tmp/s.json
    python benchmarks/serve_bench.py --wrk-only --wrk-seconds 5 --wrk-output /tmp/w.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
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
    def __init__(self, run: Path, max_batch: int, *options: str):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true", "CUDA_VISIBLE_DEVICES": ""}
        self.process = subprocess.Popen([sys.executable, "-m", "rnncli.cli.main", "serve", str(run), "--port", "0",
                                         "--max-batch", str(max_batch), "--device", "cpu", *options],
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


WRK_SCRIPT = r"""
-- one-step chunks; each wrk thread cycles over its own STREAMS stream ids (a prefix per thread)
local streams = tonumber(os.getenv("STREAMS") or "1")
local body = os.getenv("BODY")
local headers = {["Content-Type"] = "application/json"}
local counter = 0
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("prefix", os.getenv("PREFIX") .. "-t" .. next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  return wrk.format("POST", "/v1/streams/" .. prefix .. "-" .. (counter % streams) .. "/predict", headers, body)
end

function done(summary, latency, requests)
  io.write(string.format('WRK {"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "mean_us": %.1f}\n', summary.requests, summary.duration,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end
"""

WRK_CASES = [("one_connection_one_stream", 1, 1, 1), ("one_connection_4096_streams", 1, 1, 4096),
             ("connections_32", 2, 32, 4096), ("connections_128", 2, 128, 4096)]


def ensure_wrk() -> str:
    """The wrk binary; installed with apt-get when missing (needs root and a package mirror)."""
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, capture_output=True)
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit("serve_bench: wrk is not installed (apt-get install -y wrk, or brew install wrk)")


def run_wrk(wrk: str, script: Path, port: int, threads: int, connections: int, streams: int, seconds: float,
            prefix: str, body: str) -> dict:
    env = {**os.environ, "STREAMS": str(streams), "BODY": body, "PREFIX": prefix}
    done = subprocess.run([wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout",
                           "10s", "-s", str(script), f"http://127.0.0.1:{port}/"], env=env, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    line = next(line for line in done.stdout.splitlines() if line.startswith("WRK "))
    result = json.loads(line[4:])
    if result["non_2xx"] or result["socket_errors"]:
        raise RuntimeError(f"wrk saw errors: {result}\n{done.stdout}")
    return {"requests_per_s": round(result["requests"] / (result["duration_us"] / 1e6), 1),
            "p50_ms": result["p50_us"] / 1e3, "p90_ms": result["p90_us"] / 1e3, "p99_ms": result["p99_us"] / 1e3,
            "mean_ms": round(result["mean_us"] / 1e3, 3), "requests": result["requests"],
            "connections": connections, "streams_per_thread": streams, "threads": threads}


def measure_wrk(run: Path, folder: Path, seconds: float, rounds: int) -> dict:
    """wrk against one server per durability mode; rounds alternate the modes so each ratio is paired."""
    wrk = ensure_wrk()
    script = folder / "chunks.lua"
    script.write_text(WRK_SCRIPT)
    version = subprocess.run([wrk, "--version"], capture_output=True, text=True).stdout.splitlines()
    body = json.dumps({"inputs": [[0.25]]})
    result: dict = {"wrk": version[0] if version else "wrk", "seconds_per_case": seconds, "modes": {}}
    per_mode: dict[str, list[dict]] = {"periodic": [], "always": []}
    for round_index in range(rounds):
        for mode in per_mode:
            state_dir = folder / f"states-{mode}-{round_index}"
            server = ServerProcess(run, 128, "--state-dir", str(state_dir), "--durability", mode,
                                   "--max-streams", "50000")  # every case uses new streams
            try:
                run_wrk(wrk, script, server.port, 1, 4, 64, 2.0, f"warm-{mode}", body)  # compile + warm caches
                measured = {"server_ready_s": round(server.ready_s, 1)}
                for name, threads, connections, streams in WRK_CASES:
                    measured[name] = run_wrk(wrk, script, server.port, threads, connections, streams, seconds,
                                             f"{name}-{round_index}", body)
                measured["load"] = loadavg()
            finally:
                server.stop()
            per_mode[mode].append(measured)
    for mode, rounds_measured in per_mode.items():
        entry: dict = {"rounds": rounds_measured}
        for name, *_ in WRK_CASES:
            entry[name] = median_row([{k: v for k, v in r[name].items()} for r in rounds_measured])
        one = entry["one_connection_one_stream"]
        entry["many_streams_p50_over_one_stream_p50"] = round(
            entry["one_connection_4096_streams"]["p50_ms"] / one["p50_ms"], 2)
        entry["lift_32_connections"] = round(entry["connections_32"]["requests_per_s"] / one["requests_per_s"], 2)
        entry["lift_128_connections"] = round(entry["connections_128"]["requests_per_s"] / one["requests_per_s"], 2)
        entry["targets_met"] = (entry["many_streams_p50_over_one_stream_p50"] <= 1.5 and
                                entry["lift_32_connections"] >= 3.0)
        result["modes"][mode] = entry
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
    parser.add_argument("--wrk-only", action="store_true", help="Only the wrk measurements of the stream model.")
    parser.add_argument("--no-wrk", action="store_true", help="Skip the wrk measurements.")
    parser.add_argument("--wrk-seconds", type=int, default=8, help="Duration of each wrk case (whole seconds).")
    parser.add_argument("--wrk-rounds", type=int, default=1, help="Rounds of both durability modes, alternating.")
    parser.add_argument("--wrk-output", type=Path, default=ROOT / "benchmarks" / "results" / "serve_wrk.json")
    args = parser.parse_args()
    if not args.no_wrk:
        ensure_wrk()  # fail before minutes of other measurements
    if args.wrk_only:
        with tempfile.TemporaryDirectory() as scratch:
            report_wrk(Path(scratch), args)
        return
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
    if not args.no_wrk:
        with tempfile.TemporaryDirectory() as scratch:
            report_wrk(Path(scratch), args)


def report_wrk(folder: Path, args: argparse.Namespace) -> None:
    run = train(folder, "stream", MODELS["stream"])
    report = {"host": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_at_start": loadavg()},
              "model": MODELS["stream"], "note": "wrk and the server share the machine's cores",
              **measure_wrk(run, folder, args.wrk_seconds, args.wrk_rounds)}
    report["host"]["load_at_end"] = loadavg()
    args.wrk_output.parent.mkdir(parents=True, exist_ok=True)
    args.wrk_output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({mode: {k: v for k, v in entry.items() if k != "rounds"} for mode, entry in
                      report["modes"].items()}, indent=1), file=sys.stderr)
    print(f"wrote {args.wrk_output}", file=sys.stderr)


if __name__ == "__main__":
    main()
