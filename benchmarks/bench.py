"""Speed and memory of rnncli's recurrent layers against Keras 3 and torch.nn, in one run.

For every cell (LSTM, GRU, SimpleRNN) and shape it times a training step (forward, backward, optimizer update) and
an inference pass of one recurrent layer trained on mse against its last output:

* ``rnncli``: ``Engine``'s compiled train step and predict step (exactly what ``rnncli train``/``predict`` run);
* ``keras``: Keras 3 (TensorFlow backend) ``LSTM``/``GRU(reset_after=False)``/``SimpleRNN`` with the same
  ``recurrent_activation``, ``train_on_batch`` / ``predict_on_batch`` (Keras' own compile defaults);
* ``torch``: ``torch.nn.LSTM``/``RNN`` (same math with sigmoid gates) and ``torch.nn.GRU`` (a different function,
  reported as a reference only), eager autograd + ``torch.optim.RMSprop``.

Each thread setting runs in its own subprocess (threads must be set before TensorFlow and torch initialise). Within
a process the implementations of one case alternate rep by rep, after warm-up; each figure is the median of the
reps. Ratios are ``theirs / ours`` (> 1: rnncli is faster), the median of the per-rep paired ratios. GFLOP/s counts
the recurrence's matmuls only (forward 2·B·T·(D+u)·G·u, training 3x that) and is compared with the float32 matmul
peak measured in the same process. Peak memory is measured in a separate subprocess per case with glibc's mmap
threshold pinned, as the growth of the resident set's high-water mark during one warmed-up step.

    python benchmarks/bench.py                 # full run, table on stdout, JSON to benchmarks/results/latest.json
    python benchmarks/bench.py --quick --json  # smoke test: tiny shape, one rep, JSON on stdout
    python benchmarks/bench.py --bf16 --shapes small medium --cells LSTM   # + bf16 rows (rnncli, Keras, torch)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "latest.json"
SCHEMA = 1

# name: (batch, timesteps, input_dim, units, stateful)
SHAPES = {
    "small": (32, 50, 32, 128, False),
    "medium": (64, 100, 64, 256, False),
    "large": (128, 200, 128, 512, False),
    "stream": (25, 1, 1, 50, True),
    "tiny": (4, 6, 3, 8, False),
}
FULL_SHAPES = ("small", "medium", "large", "stream")
CELLS = ("LSTM", "GRU", "SimpleRNN")
IMPLS = ("rnncli", "keras", "torch")
# --bf16 adds: rnncli with training.precision mixed_bfloat16, Keras layers under the mixed_bfloat16 policy, torch under
# torch.autocast("cpu", dtype=torch.bfloat16); their rows are compared with rnncli_bf16 in a second table
BF16_IMPLS = ("rnncli_bf16", "keras_bf16", "torch_bf16")
GATES = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}
PHASES = ("train", "infer")


def forward_flops(cell: str, shape: str) -> float:
    b, t, d, u, _ = SHAPES[shape]
    return 2.0 * b * t * (d + u) * GATES[cell] * u


def same_math(cell: str, impl: str) -> bool:
    """torch.nn.GRU resets after the recurrent product: not Keras 1's GRU (spec §14.4)."""
    return not (impl.startswith("torch") and cell == "GRU")


# ---------------------------------------------------------------------------------------------------------------
# worker side: runs in a subprocess with its thread setting fixed before TensorFlow / torch start
# ---------------------------------------------------------------------------------------------------------------

def _set_threads(threads: int | None):
    sys.path.insert(0, str(ROOT))
    from rnncli.platform import tf_env

    tf_env.apply()  # the environment rnncli's CLI runs TensorFlow in (an exported value wins, e.g. --allocator)
    if threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = str(threads)
    import tensorflow as tf
    import torch

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        torch.set_num_threads(threads)
        torch.set_num_interop_threads(threads)
    return tf, torch


class Runner:
    """One implementation of one case: ``train()`` and ``infer()`` each run one step and block until done."""

    first_train_s: float = float("nan")


def _rnncli_runner(cell: str, shape: str, inner: str, mode: str, workdir: Path, jit: str | None,
                   precision: str = "float32"):
    import numpy as np
    import tensorflow as tf
    import yaml

    from rnncli.config.validate import load_config
    from rnncli.training.loop import Engine

    b, t, d, u, stateful = SHAPES[shape]
    layer = {"type": cell, "output_dim": u, "consume_less": mode}
    if cell != "SimpleRNN":
        layer["inner_activation"] = inner
    if stateful:
        layer.update(batch_input_shape=[b, t, d], stateful=True)
    else:
        layer["input_shape"] = [t, d]
    training = {"loss": "mse", "optimizer": "rmsprop", "batch_size": b, "shuffle": not stateful}
    if jit is not None:
        training["jit_compile"] = jit
    path = workdir / f"{cell}_{shape}.yaml"
    path.write_text(yaml.safe_dump({"seed": 0, "model": {"layers": [layer]}, "training": training}))
    engine = Engine(load_config(path), precision=precision)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((b, t, d)).astype(np.float32))
    y = tf.constant(rng.standard_normal((b, u)).astype(np.float32) * 0.5)
    w = tf.constant(np.ones(b, np.float32))
    runner = Runner()
    runner.train = lambda: float(engine._train_step(x, y, w)[0])
    runner.infer = lambda: engine._predict_step(x).numpy()
    runner.engine = engine
    return runner


def _keras_runner(cell: str, shape: str, inner: str, precision: str = "float32"):
    import keras
    import numpy as np

    b, t, d, u, stateful = SHAPES[shape]
    common = {"stateful": stateful, "dtype": precision}  # "mixed_bfloat16": the layer's dtype policy
    if cell == "LSTM":
        layer = keras.layers.LSTM(u, recurrent_activation=_keras_activation(inner), use_cudnn=False, **common)
    elif cell == "GRU":
        layer = keras.layers.GRU(u, recurrent_activation=_keras_activation(inner), reset_after=False,
                                 use_cudnn=False, **common)
    else:
        layer = keras.layers.SimpleRNN(u, **common)
    inputs = keras.Input(batch_shape=(b, t, d))
    model = keras.Model(inputs, layer(inputs))
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.001, epsilon=1e-8), loss="mse")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((b, t, d)).astype(np.float32)
    y = (rng.standard_normal((b, u)) * 0.5).astype(np.float32)
    runner = Runner()
    runner.train = lambda: float(model.train_on_batch(x, y))
    runner.infer = lambda: model.predict_on_batch(x)
    runner.jit_compile = model.jit_compile
    return runner


def _keras_activation(inner: str):
    if inner == "sigmoid":
        return "sigmoid"
    import keras

    return lambda v: keras.ops.clip(0.2 * v + 0.5, 0.0, 1.0)  # Keras 1's hard_sigmoid (spec §14.3)


def _torch_runner(cell: str, shape: str, bf16: bool = False):
    import numpy as np
    import torch

    b, t, d, u, stateful = SHAPES[shape]
    torch.manual_seed(0)
    module = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU, "SimpleRNN": torch.nn.RNN}[cell](d, u, batch_first=True)
    optimizer = torch.optim.RMSprop(module.parameters(), lr=0.001, alpha=0.9, eps=1e-8)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((b, t, d)).astype(np.float32))
    y = torch.from_numpy((rng.standard_normal((b, u)) * 0.5).astype(np.float32))
    state = {"h": None}

    def detach(h):
        return None if h is None else tuple(v.detach() for v in h) if isinstance(h, tuple) else h.detach()

    def train():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out, h = module(x, state["h"])
        loss = torch.nn.functional.mse_loss(out[:, -1].float(), y)
        loss.backward()
        optimizer.step()
        if stateful:
            state["h"] = detach(h)
        return loss.item()

    def infer():
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            # not inference_mode: a stateful run trains from the states this leaves
            out, h = module(x, state["h"])
            if stateful:
                state["h"] = h
            return out[:, -1].float().numpy()

    runner = Runner()
    runner.train, runner.infer = train, infer
    return runner


def _build(impl: str, cell: str, shape: str, args, workdir: Path):
    bf16 = impl.endswith("_bf16")
    if impl.startswith("rnncli"):
        return _rnncli_runner(cell, shape, args.inner_activation, args.consume_less, workdir, args.jit,
                              "mixed_bfloat16" if bf16 else "float32")
    if impl.startswith("keras"):
        return _keras_runner(cell, shape, args.inner_activation, "mixed_bfloat16" if bf16 else "float32")
    return _torch_runner(cell, shape, bf16)


def _matmul_peak(tf, torch, sizes) -> dict:
    """Best float32 GFLOP/s of square matmuls in TensorFlow (oneDNN) and torch, in this process's thread setting."""
    import numpy as np

    result = {}
    for n in sizes:
        a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
        ta, pa = tf.constant(a), torch.from_numpy(a)
        flops = 2.0 * n ** 3
        for name, fn in (("tensorflow", lambda: tf.matmul(ta, ta).numpy()), ("torch", lambda: torch.mm(pa, pa))):
            fn()
            reps = max(2, int(2e9 / flops))
            best = math.inf
            for _ in range(3):
                start = time.perf_counter()
                for _ in range(reps):
                    fn()
                best = min(best, (time.perf_counter() - start) / reps)
            result[name] = max(result.get(name, 0.0), flops / best / 1e9)
    result["peak"] = max(result["tensorflow"], result["torch"])
    return result


def _timed(fn, inner: int) -> float:
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


def worker_time(args) -> dict:
    tf, torch = _set_threads(args.threads)
    from rnncli.platform.doctor import host_allocator, onednn_enabled
    cases, memory = [], []
    started = time.perf_counter()
    peak = _matmul_peak(tf, torch, (256, 512) if args.inline_memory else (512, 1024, 2048))
    with tempfile.TemporaryDirectory() as tmp:
        for shape in args.shapes:
            for cell in args.cells:
                runners = {}
                for impl in args.impls:
                    start = time.perf_counter()
                    runner = _build(impl, cell, shape, args, Path(tmp))
                    build_s = time.perf_counter() - start
                    first = {}
                    for phase in PHASES:
                        start = time.perf_counter()
                        getattr(runner, phase)()
                        first[phase] = time.perf_counter() - start
                    warm = {}
                    for phase in PHASES:
                        warm[phase] = min(_timed(getattr(runner, phase), 1) for _ in range(args.warmup))
                    runners[impl] = (runner, build_s, first, warm)
                times = {(impl, phase): [] for impl in runners for phase in PHASES}
                for rep in range(args.reps):
                    order = list(runners)
                    order = order[rep % len(order):] + order[:rep % len(order)]  # rotate who goes first
                    for impl in order:
                        runner, _, _, warm = runners[impl]
                        for phase in PHASES:
                            inner = max(1, math.ceil(args.min_rep_s / max(warm[phase], 1e-6)))
                            times[impl, phase].append(_timed(getattr(runner, phase), inner))
                if args.inline_memory:
                    memory.extend(_step_peaks(runner, cell, shape, impl) for impl, (runner, *_) in runners.items())
                for impl, (runner, build_s, first, _) in runners.items():
                    for phase in PHASES:
                        samples = times[impl, phase]
                        median = statistics.median(samples)
                        flops = forward_flops(cell, shape) * (3.0 if phase == "train" else 1.0)
                        cases.append({
                            "cell": cell, "shape": shape, "impl": impl, "phase": phase,
                            "same_math": same_math(cell, impl),
                            "median_s": median, "samples_s": samples,
                            "gflops": flops / median / 1e9, "peak_fraction": flops / median / 1e9 / peak["peak"],
                            "first_call_s": first[phase], "build_s": build_s,
                            "jit_compile": _jit_of(impl, runner),
                        })
                del runners
    return {"threads": args.threads or "default", "effective_threads": _effective_threads(tf, torch),
            "host_allocator": host_allocator(tf), "onednn": onednn_enabled(),
            "matmul_gflops": peak, "cases": cases, "wall_s": time.perf_counter() - started,
            "loadavg_end": _loadavg(), "memory": memory}


def _jit_of(impl, runner):
    if impl.startswith("rnncli"):
        return {"train": runner.engine.jit_compile, "predict": getattr(runner.engine, "predict_jit_compile", False)}
    if impl.startswith("keras"):
        return runner.jit_compile
    return None


def _effective_threads(tf, torch) -> dict:
    return {"tf_intra_op": tf.config.threading.get_intra_op_parallelism_threads(), "torch": torch.get_num_threads()}


def _read_status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def _step_peaks(runner, cell: str, shape: str, impl: str) -> dict:
    """Transient peak of one warmed-up train and infer step: VmHWM growth over the resident set before it."""
    import gc

    result = {"cell": cell, "shape": shape, "impl": impl}
    for phase in PHASES:
        getattr(runner, phase)()
        gc.collect()
        try:
            before = _read_status("VmRSS")
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM (Linux >= 4.0)
            getattr(runner, phase)()
            result[f"{phase}_peak_bytes"] = max(0, _read_status("VmHWM") - before)
        except (OSError, KeyError):
            result[f"{phase}_peak_bytes"] = None
    return result


def worker_memory(args) -> dict:
    """Peak memory of every case, built one at a time in this process.

    The driver pins glibc's mmap threshold for this process so that freed tensors go back to the OS and the
    resident set follows live memory.
    """
    _set_threads(args.threads)
    import gc

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for shape in args.shapes:
            for cell in args.cells:
                for impl in args.impls:
                    runner = _build(impl, cell, shape, args, Path(tmp))
                    getattr(runner, "train")()
                    results.append(_step_peaks(runner, cell, shape, impl))
                    del runner
                    gc.collect()
    return {"cases": results}


# ---------------------------------------------------------------------------------------------------------------
# driver side: no TensorFlow import; spawns the workers, merges, prints
# ---------------------------------------------------------------------------------------------------------------

def _loadavg() -> list[float] | None:
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


def _worker_cmd(args, mode: str, threads: int | None, shapes, cells, impls) -> list[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", mode,
           "--shapes", *shapes, "--cells", *cells, "--impls", *impls,
           "--reps", str(args.reps), "--warmup", str(args.warmup), "--min-rep-s", str(args.min_rep_s),
           "--inner-activation", args.inner_activation, "--consume-less", args.consume_less]
    cmd += ["--threads", str(threads or "default")]
    if args.jit is not None:
        cmd += ["--jit", args.jit]
    if args.inline_memory:
        cmd += ["--inline-memory"]
    return cmd


def _run_worker(cmd: list[str], env: dict | None = None) -> dict:
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"worker failed ({out.returncode}): {' '.join(cmd)}\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _timed_cmd(cmd: list[str], cwd: Path, reps: int) -> float:
    best = math.inf
    for _ in range(reps):
        start = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
        elapsed = time.perf_counter() - start
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {out.stderr[-2000:]}")
        best = min(best, elapsed)
    return best


def measure_startup(reps: int) -> dict:
    """Wall time of whole CLI processes: --help and validate (no TensorFlow), and train/predict of a tiny LSTM.

    ``train`` runs one epoch of one batch, so its time is process start to the end of the first training step
    (imports, config, data, model, tracing/compiling the step) plus writing the run directory.
    """
    import numpy as np

    cli = str(Path(sys.executable).with_name("rnncli"))
    if not Path(cli).exists():
        cli_cmd = [sys.executable, "-m", "rnncli.cli.main"]
    else:
        cli_cmd = [cli]
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rng = np.random.default_rng(0)
        np.savez(tmp / "train.npz", x=rng.standard_normal((32, 20, 4)).astype(np.float32),
                 y=rng.standard_normal((32, 1)).astype(np.float32))
        np.save(tmp / "x.npy", rng.standard_normal((32, 20, 4)).astype(np.float32))
        (tmp / "model.yaml").write_text(
            "seed: 1\nmodel:\n  layers:\n    - {type: LSTM, output_dim: 16, input_shape: [20, 4]}\n"
            "    - {type: Dense, output_dim: 1}\ndata:\n  train: train.npz\n"
            "training: {loss: mse, optimizer: rmsprop, batch_size: 32, nb_epoch: 1}\n")
        result["python_s"] = _timed_cmd([sys.executable, "-c", "pass"], tmp, reps)
        result["import_tensorflow_s"] = _timed_cmd([sys.executable, "-c", "import tensorflow"], tmp, reps)
        result["help_s"] = _timed_cmd(cli_cmd + ["--help"], tmp, reps)
        result["validate_s"] = _timed_cmd(cli_cmd + ["validate", "model.yaml"], tmp, reps)
        best_train = math.inf
        for i in range(reps):
            start = time.perf_counter()
            subprocess.run(cli_cmd + ["train", "model.yaml", "-o", f"run{i}", "--force"], cwd=tmp, check=True,
                           capture_output=True)
            best_train = min(best_train, time.perf_counter() - start)
        result["train_1_step_s"] = best_train
        result["predict_s"] = _timed_cmd(cli_cmd + ["predict", "run0", "--input", "x.npy", "--output", "y.npy"],
                                         tmp, reps)
    return result


def _pct(x):
    return "-" if x is None else f"{100 * x:.0f}%"


def _mb(x):
    return "-" if x is None else f"{x / 2**20:.0f}"


def summarize(report: dict) -> list[dict]:
    """One row per (threads, cell, shape, phase): times, ratios (theirs / ours), GFLOP/s, peak fraction, memory."""
    rows = []
    memory = {}
    for m in report.get("memory", []):  # inline measurements repeat per thread setting: keep the largest
        key = (m["cell"], m["shape"], m["impl"])
        memory[key] = {k: max(v, memory.get(key, {}).get(k) or 0) if isinstance(v, int) else v
                       for k, v in m.items()}
    for run in report["runs"]:
        by_key = {}
        for case in run["cases"]:
            by_key.setdefault((case["cell"], case["shape"], case["phase"]), {})[case["impl"]] = case
        for (cell, shape, phase), impls in by_key.items():
            ours = impls.get("rnncli")
            ours_bf16 = impls.get("rnncli_bf16")
            row = {"threads": run["threads"], "cell": cell, "shape": shape, "phase": phase}
            for impl, case in impls.items():
                row[f"{impl}_ms"] = 1e3 * case["median_s"]
                row[f"{impl}_gflops"] = case["gflops"]
                row[f"{impl}_peak_fraction"] = case["peak_fraction"]
                row[f"{impl}_first_call_s"] = case["first_call_s"]
                mem = memory.get((cell, shape, impl))
                row[f"{impl}_peak_bytes"] = None if mem is None else mem.get(f"{phase}_peak_bytes")
                if ours is not None and impl != "rnncli":
                    pairs = [t / o for t, o in zip(case["samples_s"], ours["samples_s"])]
                    row[f"speedup_vs_{impl}"] = statistics.median(pairs)
                    row[f"{impl}_same_math"] = case["same_math"]
                if ours_bf16 is not None and impl != "rnncli_bf16":  # theirs / rnncli_bf16
                    pairs = [t / o for t, o in zip(case["samples_s"], ours_bf16["samples_s"])]
                    row[f"bf16_speedup_vs_{impl}"] = statistics.median(pairs)
            rows.append(row)
    return rows


def format_table(report: dict) -> str:
    lines = []
    for run in report["runs"]:
        peak = run["matmul_gflops"]
        lines.append(f"threads={run['threads']}  matmul peak {peak['peak']:.1f} GFLOP/s "
                     f"(tf {peak['tensorflow']:.1f}, torch {peak['torch']:.1f})  TF host allocator "
                     f"{run.get('host_allocator', '?')}  load at end {run['loadavg_end']}")
        header = ("| cell | shape | phase | rnncli ms | keras ms | torch ms | x keras | x torch | rnncli GFLOP/s "
                  "(% peak) | peak MB rnncli/keras/torch |")
        lines += [header, "|" + "---|" * 10]
        for row in report["summary"]:
            if row["threads"] != run["threads"]:
                continue
            torch_ratio = row.get("speedup_vs_torch")
            torch_text = "-" if torch_ratio is None else f"{torch_ratio:.2f}" + ("" if row.get("torch_same_math")
                                                                                 else " (ref)")
            keras_ratio = row.get("speedup_vs_keras")
            lines.append(
                f"| {row['cell']} | {row['shape']} | {row['phase']} | {row.get('rnncli_ms', math.nan):.2f} | "
                f"{row.get('keras_ms', math.nan):.2f} | {row.get('torch_ms', math.nan):.2f} | "
                f"{'-' if keras_ratio is None else f'{keras_ratio:.2f}'} | {torch_text} | "
                f"{row.get('rnncli_gflops', math.nan):.1f} ({_pct(row.get('rnncli_peak_fraction'))}) | "
                f"{_mb(row.get('rnncli_peak_bytes'))}/{_mb(row.get('keras_peak_bytes'))}/"
                f"{_mb(row.get('torch_peak_bytes'))} |")
        lines.append("")
    lines += _bf16_table(report)
    startup = report.get("startup")
    if startup:
        lines.append("startup (best of runs, s): " + ", ".join(f"{k} {v:.2f}" for k, v in startup.items()))
    return "\n".join(lines)


def _bf16_table(report: dict) -> list[str]:
    """With --bf16: rnncli_bf16 against float32 rnncli, Keras (mixed_bfloat16) and torch (float32 and autocast)."""
    rows = [row for row in report["summary"] if "rnncli_bf16_ms" in row]
    if not rows:
        return []
    others = ("rnncli", "keras_bf16", "torch", "torch_bf16")
    lines = ["bfloat16 (x IMPL = IMPL time / rnncli_bf16 time, > 1: rnncli_bf16 is faster)",
             "| threads | cell | shape | phase | rnncli_bf16 ms | " + " | ".join(f"{o} ms" for o in others) + " | "
             + " | ".join(f"x {o}" for o in others) + " |", "|" + "---|" * (5 + 2 * len(others))]
    for row in rows:
        times = " | ".join(f"{row.get(f'{o}_ms', math.nan):.2f}" for o in others)
        ratios = " | ".join("-" if row.get(f"bf16_speedup_vs_{o}") is None else f"{row[f'bf16_speedup_vs_{o}']:.2f}"
                            for o in others)
        lines.append(f"| {row['threads']} | {row['cell']} | {row['shape']} | {row['phase']} | "
                     f"{row['rnncli_bf16_ms']:.2f} | {times} | {ratios} |")
    return lines + [""]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny shape, 1 rep, default threads only")
    parser.add_argument("--json", action="store_true", help="print the JSON report instead of the table")
    parser.add_argument("--output", type=Path, default=None,
                        help=f"write the JSON report here (default {RESULTS.relative_to(ROOT)} for full runs)")
    parser.add_argument("--shapes", nargs="+", default=None, choices=list(SHAPES))
    parser.add_argument("--cells", nargs="+", default=list(CELLS), choices=list(CELLS))
    parser.add_argument("--impls", nargs="+", default=list(IMPLS), choices=list(IMPLS + BF16_IMPLS))
    parser.add_argument("--bf16", action="store_true",
                        help="also time " + ", ".join(BF16_IMPLS) + " (bfloat16 compute; a CPU with native bf16)")
    parser.add_argument("--threads", nargs="+", default=["1", "default"],
                        help="thread settings, each in its own process: integers and/or `default`")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--min-rep-s", type=float, default=0.2, help="repeat a step within a rep up to this time")
    parser.add_argument("--inner-activation", choices=("sigmoid", "hard_sigmoid"), default="sigmoid")
    parser.add_argument("--consume-less", choices=("cpu", "mem", "gpu"), default="cpu")
    parser.add_argument("--jit", choices=("auto", "true", "false"), default=None,
                        help="rnncli's training.jit_compile (default: the config default)")
    parser.add_argument("--allocator", choices=("bfc", "malloc"), default=None,
                        help="TensorFlow's host allocator in the timing workers (TF_CPU_ALLOCATOR_USE_BFC; default: "
                             "an exported value, else bfc as rnncli sets it in rnncli/platform/tf_env.py); applies to the "
                             "Keras cases too. --inline-memory (and --quick) times on malloc")
    parser.add_argument("--no-memory", action="store_true", help="skip the per-case peak memory subprocesses")
    parser.add_argument("--no-startup", action="store_true", help="skip the CLI start-up timings")
    parser.add_argument("--inline-memory", action="store_true",
                        help="measure peak memory in the timing process (approximate; implied by --quick)")
    parser.add_argument("--worker", choices=("time", "memory"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        args.threads = None if args.threads[0] == "default" else int(args.threads[0])
        args.shapes = args.shapes or list(FULL_SHAPES)
        result = worker_time(args) if args.worker == "time" else worker_memory(args)
        print(json.dumps(result))
        return 0
    if args.bf16:
        args.impls = list(args.impls) + [impl for impl in BF16_IMPLS if impl not in args.impls]
    if args.quick:
        args.shapes = args.shapes or ["tiny"]
        args.threads = ["default"]
        args.reps, args.warmup, args.min_rep_s = 1, 1, 0.0
        args.inline_memory, args.no_memory = True, True
    args.shapes = args.shapes or list(FULL_SHAPES)
    if args.allocator is None:  # an exported TF_CPU_ALLOCATOR_USE_BFC wins, as it does for rnncli itself
        exported = os.environ.get("TF_CPU_ALLOCATOR_USE_BFC", "true").lower()
        args.allocator = "bfc" if exported in ("1", "true") else "malloc"
    if args.inline_memory:
        # memory is read from the resident set in the timing worker, which a pool allocator would hide (where oneDNN
        # is on, TensorFlow pools through oneDNN's allocator anyway: the report's host_allocator says `onednn`)
        args.allocator = "malloc"
    report = {"schema": SCHEMA, "quick": args.quick, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "settings": {"shapes": {s: dict(zip(("batch", "timesteps", "input_dim", "units", "stateful"),
                                                  SHAPES[s])) for s in args.shapes},
                           "cells": args.cells, "impls": args.impls, "reps": args.reps, "warmup": args.warmup,
                           "min_rep_s": args.min_rep_s, "inner_activation": args.inner_activation,
                           "consume_less": args.consume_less, "jit": args.jit, "allocator": args.allocator},
              "machine": _machine(), "loadavg_start": _loadavg(), "runs": [], "memory": []}
    started = time.perf_counter()
    for setting in args.threads:
        threads = None if setting == "default" else int(setting)
        print(f"[bench] timing threads={setting} ...", file=sys.stderr, flush=True)
        # the allocator is a process-wide TensorFlow setting: Keras in the same worker gets the same one
        env = {**os.environ, "TF_CPU_ALLOCATOR_USE_BFC": "true" if args.allocator == "bfc" else "false"}
        run = _run_worker(_worker_cmd(args, "time", threads, args.shapes, args.cells, args.impls), env)
        report["memory"].extend(run.pop("memory"))
        report["runs"].append(run)
    if not args.no_memory and not args.inline_memory:
        print("[bench] peak memory ...", file=sys.stderr, flush=True)
        # malloc with a pinned mmap threshold, whatever --allocator says: a pool allocator keeps its high-water
        # mark, so the resident set would no longer follow one step's live memory
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0",
               "TF_CPU_ALLOCATOR_USE_BFC": "false"}
        report["memory"] = _run_worker(_worker_cmd(args, "memory", None, args.shapes, args.cells, args.impls),
                                       env)["cases"]
    if not args.no_startup and not args.quick:
        print("[bench] start-up ...", file=sys.stderr, flush=True)
        report["startup"] = measure_startup(reps=3)
    report["loadavg_end"] = _loadavg()
    report["wall_s"] = time.perf_counter() - started
    report["summary"] = summarize(report)
    output = args.output or (None if args.quick else RESULTS)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1) if args.json else format_table(report))
    return 0


def _machine() -> dict:
    from importlib.metadata import version

    info = {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    for package in ("tensorflow", "keras", "torch", "numpy"):
        try:
            info[package] = version(package)
        except Exception:  # noqa: BLE001 - a missing package is reported, not fatal
            info[package] = None
    return info


if __name__ == "__main__":
    sys.exit(main())
