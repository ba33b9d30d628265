"""A long series trains without materializing its windows: peak memory and epoch time of ``data.series``.

Scenarios (each a fresh ``rnncli train`` process; peak RSS from ``wait4``'s ``ru_maxrss``, epoch time from the
run's ``history.csv``; ``jit_compile: false`` everywhere, so the numbers are about the data path):

* ``footprint``: the same model on a tiny npz (64 windows): the process' own footprint (Python, TensorFlow, the
  model, its optimizer): the "model's own footprint" of the target;
* ``long``: a ``--steps`` x 8-column float32 series (default 10 million steps: 320 MB as ``.npy``) with
  ``window: 100`` and ``stride: --stride`` (windows tiling the whole series, so every page of it is read); materialized,
  the stride-1 windows would take steps x 100 x 8 x 4 bytes (32 GB). Target: peak RSS < 1.5 x the series + the
  footprint;
* ``windowed`` vs ``series``: the same ``--small`` windows (1000 steps apart, small enough to materialize) as a
  pre-windowed ``npz`` and as ``data.series`` over the small series: epoch time (median of the epochs after the
  first) per window, so the lazy gathers cost what indexing an array costs.

    python benchmarks/series_bench.py                      # the full benchmark (a few minutes), JSON to results/
    python benchmarks/series_bench.py --steps 200000 --json # quick
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
COLUMNS, WINDOW = 8, 100
LAYERS = [{"type": "LSTM", "output_dim": 32, "input_shape": [WINDOW, COLUMNS]}, {"type": "Dense", "output_dim": 1}]


def _config(folder: Path, name: str, data: dict, epochs: int, batch: int) -> Path:
    path = folder / f"{name}.yaml"
    doc = {"seed": 1, "model": {"layers": LAYERS}, "data": data,
           "training": {"loss": "mse", "optimizer": "adam", "nb_epoch": epochs, "batch_size": batch,
                        "shuffle": True, "jit_compile": "false"}}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _train(config: Path, run: Path) -> dict:
    """One ``rnncli train`` process: wall time, peak RSS (MB) and per-epoch seconds."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true", "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "rnncli", "train", str(config), "-o", str(run), "--force",
                                "--no-progress"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(process.pid, 0)
    output = process.stdout.read().decode(errors="replace") if process.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{config.name}: rnncli train failed:\n{output[-3000:]}")
    rows = list(csvrows(run / "history.csv"))
    return {"wall_s": round(time.perf_counter() - started, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "epoch_s": [float(r["seconds"]) for r in rows]}


def csvrows(path: Path):
    lines = path.read_text().splitlines()
    head = lines[0].split(",")
    for line in lines[1:]:
        yield dict(zip(head, line.split(",")))


def _series(steps: int, seed: int = 0) -> np.ndarray:
    """[steps, 8] float32: a sine, its lags and noise, built in chunks (never two copies of the series)."""
    out = np.empty((steps, COLUMNS), np.float32)
    rng = np.random.default_rng(seed)
    for start in range(0, steps, 1 << 20):
        t = np.arange(start, min(steps, start + (1 << 20)), dtype=np.float64)
        block = np.stack([np.sin(t / (10 + 3 * c)) for c in range(COLUMNS)], axis=1)
        out[start:start + len(t)] = block + 0.05 * rng.standard_normal(block.shape)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000_000, help="length of the long series")
    parser.add_argument("--stride", type=int, default=WINDOW, help="steps between windows of the long series")
    parser.add_argument("--small", type=int, default=2000, help="windows of the windowed-vs-series comparison")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the windowed-vs-series comparison")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "series.json")
    args = parser.parse_args(argv)
    report: dict = {"steps": args.steps, "columns": COLUMNS, "window": WINDOW, "stride": args.stride,
                    "model": "LSTM(32) -> Dense(1), adam, batch %d" % args.batch}
    with tempfile.TemporaryDirectory(prefix="rnncli-series-bench-") as tmp:
        folder = Path(tmp)
        # footprint: the process and the model without data to speak of
        tiny = _series(WINDOW + 64)
        np.savez(folder / "tiny.npz", x=np.stack([tiny[i:i + WINDOW] for i in range(64)]),
                 y=tiny[WINDOW:WINDOW + 64, :1])
        report["footprint"] = _train(_config(folder, "tiny", {"train": "tiny.npz"}, 1, args.batch), folder / "r0")
        # the long series
        series = _series(args.steps)
        np.save(folder / "long.npy", series)
        report["series_mb"] = round(series.nbytes / 2**20, 1)
        report["materialized_stride1_gb"] = round((args.steps - WINDOW) * WINDOW * COLUMNS * 4 / 2**30, 1)
        del series
        long_cfg = _config(folder, "long", {"train": "long.npy", "series": {
            "targets": [0], "window": WINDOW, "stride": args.stride}}, 1, args.batch)
        report["long"] = _train(long_cfg, folder / "r1")
        report["long"]["windows"] = (args.steps - WINDOW - 1) // args.stride + 1
        limit = 1.5 * report["series_mb"] + report["footprint"]["peak_rss_mb"]
        report["target_mb"] = round(limit, 1)
        report["within_target"] = report["long"]["peak_rss_mb"] < limit
        # pre-windowed arrays vs data.series over the same windows
        stride = 1000
        small = _series(args.small * stride + WINDOW + 1, seed=1)
        np.save(folder / "small.npy", small)
        starts = np.arange(args.small) * stride
        x = small[starts[:, None] + np.arange(WINDOW)[None, :]]
        np.savez(folder / "small.npz", x=x, y=small[starts + WINDOW, :1])
        timings = {}
        for name, data in (("windowed", {"train": "small.npz"}),
                           ("series", {"train": "small.npy", "series": {"targets": [0], "window": WINDOW,
                                                                          "stride": stride}})):
            result = _train(_config(folder, name, data, args.epochs, args.batch), folder / f"r_{name}")
            steady = result["epoch_s"][1:] or result["epoch_s"]
            result["steady_epoch_s"] = round(statistics.median(steady), 3)
            result["us_per_window"] = round(1e6 * result["steady_epoch_s"] / args.small, 1)
            timings[name] = result
        report["windowed_vs_series"] = timings
        report["series_over_windowed"] = round(timings["series"]["steady_epoch_s"]
                                               / timings["windowed"]["steady_epoch_s"], 3)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=1) + "\n")
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"long series {args.steps} x {COLUMNS} ({report['series_mb']} MB; stride-1 windows would be "
              f"{report['materialized_stride1_gb']} GB): peak RSS {report['long']['peak_rss_mb']} MB "
              f"(target < {report['target_mb']} MB: {'ok' if report['within_target'] else 'MISSED'}), "
              f"epoch {report['long']['epoch_s'][0]:.1f} s for {report['long']['windows']} windows")
        print(f"footprint (tiny npz): {report['footprint']['peak_rss_mb']} MB")
        print(f"epoch of {args.small} windows: windowed npz {timings['windowed']['steady_epoch_s']} s, series "
              f"{timings['series']['steady_epoch_s']} s (x{report['series_over_windowed']})")
    return report


if __name__ == "__main__":
    main()
