"""Every way TensorFlow 2.21 can run a bfloat16 recurrence on the CPU, measured side by side in one run.

Issue #31 asks ``mixed_bfloat16`` for more speed than float32. This benchmark measures where the speed of a bf16
matmul goes in each TensorFlow execution path, so the conclusion can be checked on any machine:

* ``dot``: GFLOP/s of a [N, N] @ [N, N] matmul (N = 1024), and the microseconds per matmul of a chain of T dependent
  [B, u] @ [u, 4u] products in one while loop (the recurrence's shape, medium LSTM: B 64, u 256, T 100), in the plain
  graph (oneDNN kernels) and under XLA, float32 and bf16, with each XLA:CPU library flag that could route a dot to
  oneDNN, XNNPACK or YNNPACK. For XLA it reads the optimized HLO and records the element type the dot is computed in
  (``xla_dot_dtype``): ``f32`` for a bf16 program means XLA:CPU converted the operands to float32 first.
* ``step``: the medium LSTM training step (forward, backward, RMSprop update) and inference pass:
  - ``rnncli_fp32``: ``Engine``'s compiled float32 step (XLA), what ``rnncli train`` runs;
  - ``rnncli_bf16``: ``Engine`` under ``precision: mixed_bfloat16`` (the plain graph, as rnncli runs it);
  - ``rnncli_bf16_xla``: the same bf16 step compiled with XLA, the path rnncli does not take;
  - ``graph_bf16_fp32_gates`` (train only): the recurrence with bf16 matmuls and float32 gate math, plain graph;
  - ``graph_bf16_fused_grad`` (train only): the same with a hand-written backward that keeps each step's gate inputs
    and forms dU in one [u, T*B] @ [T*B, 4u] matmul after the loop, as torch's backward does;
  - ``graph_bf16_static_unroll`` (train only): the same recurrence as T copies of the step (no while loop);
  - ``torch_fp32`` / ``torch_bf16``: ``torch.nn.LSTM`` eagerly, float32 and under ``torch.autocast`` bfloat16.
  The library-flag variants of ``rnncli_fp32`` run in their own processes (``onednn_bf16_fpmath``: XLA's oneDNN dot
  fusion with ``ONEDNN_DEFAULT_FPMATH_MODE=BF16``, which lets oneDNN compute float32 dots in bf16).

Each environment (``XLA_FLAGS``, ``ONEDNN_DEFAULT_FPMATH_MODE``) runs in its own subprocess, because TensorFlow reads
them once at start-up. Within a process the variants alternate rep by rep after warm-up; every figure is the median
of the reps. A failed variant is recorded with its error, not hidden (the oneDNN fusion aborts some programs).

    python benchmarks/bf16_paths.py                  # full run: table on stdout, JSON to results/bf16_paths.json
    python benchmarks/bf16_paths.py --quick --json   # smoke test: tiny shapes, one rep, no library flags
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "bf16_paths.json"
SCHEMA = 1
ONEDNN_DOT = "--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_fusion_type=dot"

# name: extra environment of the process the variants below run in
ENVIRONMENTS: dict[str, dict[str, str]] = {
    "default": {},
    "onednn_dot": {"XLA_FLAGS": ONEDNN_DOT},
    "onednn_custom_call": {"XLA_FLAGS": "--xla_cpu_experimental_onednn_custom_call=true"},
    "xnnpack_dot": {"XLA_FLAGS": "--xla_cpu_use_xnnpack=true --xla_cpu_experimental_xnn_fusion_type=dot"},
    "ynnpack_dot": {"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=dot"},
    "onednn_bf16_fpmath": {"XLA_FLAGS": ONEDNN_DOT, "ONEDNN_DEFAULT_FPMATH_MODE": "BF16"},
}
# (B, T, D, u) of the recurrence; "matmul" is N of the square matmul
SHAPES = {"full": {"recurrence": (64, 100, 64, 256), "matmul": 1024},
          "quick": {"recurrence": (4, 6, 3, 8), "matmul": 64}}
TIMEOUT_S = 900


def _rep_ms(fn: Callable[[], Any], min_rep_s: float) -> float:
    """One rep: ``fn`` repeated until ``min_rep_s`` has passed (at least once); ms per call."""
    count, start = 0, time.perf_counter()
    while True:
        fn()
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_rep_s:
            return elapsed / count * 1e3


def _alternate(cases: dict[str, Callable[[], Any]], reps: int, warmup: int, min_rep_s: float) -> dict[str, Any]:
    """Time every case rep by rep in turn (so machine noise hits all alike); a case that raises is reported."""
    results: dict[str, Any] = {}
    live = {}
    for name, fn in cases.items():
        try:
            for _ in range(warmup):
                fn()
            live[name] = fn
        except Exception as error:  # noqa: BLE001 - the benchmark records why a path does not run
            results[name] = {"error": f"{type(error).__name__}: {str(error).splitlines()[0][:300]}"}
    samples: dict[str, list[float]] = {name: [] for name in live}
    for _ in range(reps):
        for name, fn in live.items():
            samples[name].append(_rep_ms(fn, min_rep_s))
    for name, values in samples.items():
        results[name] = {"ms": statistics.median(values), "reps_ms": values}
    return results


# -- the dot worker ---------------------------------------------------------------------------------------------------

DOT_RESULT = re.compile(r"=\s*(\w+)\[[\d,]*\](?:\{[\d,]*\})?\s+dot\(")


def dot_dtype_in(hlo: str) -> str | None:
    """The element type of the first dot in an HLO text (``f32`` in ``%d = f32[4,4]{1,0} dot(%a, %b)``), or None."""
    match = DOT_RESULT.search(hlo)
    return match.group(1) if match else None


def _xla_dot_dtype(function, *args) -> str | None:
    """The element type XLA:CPU computes the first dot of ``function`` in, from its optimized HLO. TensorFlow asks
    for a global seed to compile under op determinism (which ``rnncli train`` switches on in its process), so
    determinism is off while the HLO is read, and restored after."""
    import tensorflow as tf
    from tensorflow.python.framework import config  # the switch's reading and its off side are not public API

    deterministic = config.is_op_determinism_enabled()
    if deterministic:
        config.disable_op_determinism()
    try:
        return dot_dtype_in(function.experimental_get_compiler_ir(*args)(stage="optimized_hlo"))
    finally:
        if deterministic:
            config.enable_op_determinism()


def dot_worker(spec: dict) -> dict:
    import tensorflow as tf

    n = SHAPES[spec["size"]]["matmul"]
    b, t, _, u = SHAPES[spec["size"]]["recurrence"]
    modes = ("graph", "xla") if spec["environment"] == "default" else ("xla",)
    cases, dtypes, flops = {}, {}, {}
    for dtype in (tf.float32, tf.bfloat16):
        square = [tf.cast(tf.random.stateless_normal([n, n], seed=[i, 0]), dtype) for i in (1, 2)]
        u_matrix = tf.cast(tf.random.stateless_normal([u, 4 * u], seed=[3, 0]) * 0.05, dtype)
        h0 = tf.cast(tf.random.stateless_normal([b, u], seed=[4, 0]), dtype)
        for mode in modes:
            jit = mode == "xla"
            matmul = tf.function(lambda x, y: tf.matmul(x, y), jit_compile=jit, autograph=False)

            def chain(h, u_matrix=u_matrix):
                body = lambda i, h: (i + 1, tf.matmul(h, u_matrix)[:, :u])  # noqa: E731
                return tf.while_loop(lambda i, h: i < t, body, (0, h), maximum_iterations=t)[1]

            chain_fn = tf.function(chain, jit_compile=jit, autograph=False)
            key = f"{mode}_{dtype.name}"
            cases[f"square_{key}"] = (lambda f=matmul, a=square: f(*a).numpy())
            cases[f"chain_{key}"] = (lambda f=chain_fn, h=h0: f(h).numpy())
            flops[f"square_{key}"] = 2.0 * n ** 3
            if jit:
                dtypes[key] = _xla_dot_dtype(matmul, *square)
    timed = _alternate(cases, spec["reps"], spec["warmup"], spec["min_rep_s"])
    report: dict[str, Any] = {}
    for name, result in timed.items():
        entry = dict(result)
        if "ms" in result and name in flops:
            entry["gflops"] = flops[name] / (result["ms"] * 1e-3) / 1e9
        if "ms" in result and name.startswith("chain_"):
            entry["us_per_matmul"] = result["ms"] * 1e3 / t
        key = name.split("_", 1)[1]
        if key in dtypes:
            entry["xla_dot_dtype"] = dtypes[key]
        report[name] = entry
    return report


# -- the step worker --------------------------------------------------------------------------------------------------

def _recurrence_variant(b: int, t: int, d: int, u: int, form: str) -> Callable[[], Any]:
    """A medium LSTM training step (sigmoid/tanh, mse on the last output, plain SGD) with bf16 matmuls and float32
    gate math in the plain graph. ``form``: ``loop`` (a while loop, autodiff), ``fused_grad`` (a hand-written
    backward that forms dU after the loop) or ``static`` (T copies of the step, no while loop)."""
    import tensorflow as tf

    x = tf.random.stateless_normal([t, b, d], seed=[5, 0])
    w = tf.Variable(tf.random.stateless_normal([d, 4 * u], seed=[6, 0]) * 0.05)
    rec = tf.Variable(tf.random.stateless_normal([u, 4 * u], seed=[7, 0]) * 0.05)
    bias = tf.Variable(tf.zeros([4 * u]))
    bf16, f32 = tf.bfloat16, tf.float32

    def cell(z, c):
        z_i, z_f, z_c, z_o = tf.split(z, 4, axis=1)
        c_new = tf.sigmoid(z_f) * c + tf.sigmoid(z_i) * tf.tanh(z_c)
        return tf.sigmoid(z_o) * tf.tanh(c_new), c_new

    def autodiff_recurrence(projected, u_bf16, h0, c0):
        inputs = tf.TensorArray(f32, size=t).unstack(projected)

        def body(i, h, c):
            z = inputs.read(i) + tf.cast(tf.matmul(tf.cast(h, bf16), u_bf16), f32)
            h, c = cell(z, c)
            return i + 1, h, c

        return tf.while_loop(lambda i, *_: i < t, body, (0, h0, c0), maximum_iterations=t)[1]

    def static_recurrence(projected, u_bf16, h0, c0):
        h, c = h0, c0
        for projected_t in tf.unstack(projected):
            h, c = cell(projected_t + tf.cast(tf.matmul(tf.cast(h, bf16), u_bf16), f32), c)
        return h

    @tf.custom_gradient
    def fused_recurrence(projected, u_bf16, h0, c0):
        inputs = tf.TensorArray(f32, size=t).unstack(projected)
        store = lambda dtype: tf.TensorArray(dtype, size=t)  # noqa: E731

        def body(i, h, c, zs, cs, hs):
            h_bf16 = tf.cast(h, bf16)
            z = inputs.read(i) + tf.cast(tf.matmul(h_bf16, u_bf16), f32)
            h_new, c_new = cell(z, c)
            return i + 1, h_new, c_new, zs.write(i, z), cs.write(i, c), hs.write(i, h_bf16)

        _, h_last, _, zs, cs, hs = tf.while_loop(lambda i, *_: i < t, body, (0, h0, c0, store(f32), store(f32),
                                                                              store(bf16)), maximum_iterations=t)
        zs, cs, hs = zs.stack(), cs.stack(), hs.stack()

        def grad(d_h_last):
            z_in, c_in = tf.TensorArray(f32, size=t).unstack(zs), tf.TensorArray(f32, size=t).unstack(cs)
            u_t = tf.transpose(u_bf16)

            def back(k, dh, dc, dzs):
                i = t - 1 - k
                z, c = z_in.read(i), c_in.read(i)
                with tf.GradientTape() as tape:
                    tape.watch([z, c])
                    h_new, c_new = cell(z, c)
                dz, dc_prev = tape.gradient([h_new, c_new], [z, c], output_gradients=[dh, dc])
                dh_prev = tf.cast(tf.matmul(tf.cast(dz, bf16), u_t), f32)
                return k + 1, dh_prev, dc_prev, dzs.write(i, dz)

            _, dh0, dc0, dzs = tf.while_loop(lambda k, *_: k < t, back, (0, d_h_last, tf.zeros_like(d_h_last),
                                                                         store(f32)), maximum_iterations=t)
            dz_all = dzs.stack()
            d_u = tf.matmul(tf.reshape(hs, [t * b, u]), tf.cast(tf.reshape(dz_all, [t * b, 4 * u]), bf16),
                            transpose_a=True)
            return dz_all, d_u, dh0, dc0

        return h_last, grad

    recurrence = {"loop": autodiff_recurrence, "fused_grad": fused_recurrence, "static": static_recurrence}[form]
    target = tf.random.stateless_normal([b, u], seed=[8, 0]) * 0.5

    @tf.function(autograph=False)
    def step():
        with tf.GradientTape() as tape:
            projected = tf.reshape(tf.matmul(tf.reshape(tf.cast(x, bf16), [t * b, d]), tf.cast(w, bf16)),
                                   [t, b, 4 * u])
            projected = tf.cast(projected, f32) + bias
            zeros = tf.zeros([b, u])
            h = recurrence(projected, tf.cast(rec, bf16), zeros, zeros)
            loss = tf.reduce_mean(tf.square(h - target))
        grads = tape.gradient(loss, [w, rec, bias])
        for variable, gradient in zip((w, rec, bias), grads):
            variable.assign_sub(1e-3 * tf.cast(gradient, f32))
        return loss

    return lambda: float(step())


def step_worker(spec: dict) -> dict:
    for path in (str(ROOT), str(HERE)):
        if path not in sys.path:
            sys.path.insert(0, path)
    import tensorflow as tf

    import bench

    shape = "medium" if spec["size"] == "full" else "tiny"  # bench.py's shapes of the same sizes
    b, t, d, u = SHAPES[spec["size"]]["recurrence"]
    assert bench.SHAPES[shape] == (b, t, d, u, False), (shape, bench.SHAPES[shape])
    cases: dict[str, Callable[[], Any]] = {}
    with tempfile.TemporaryDirectory(prefix="rnncli-bf16-paths-") as tmp:
        workdir = Path(tmp)
        if spec["environment"] == "default":
            fp32 = bench._rnncli_runner("LSTM", shape, "sigmoid", "cpu", workdir, None, "float32")
            bf16 = bench._rnncli_runner("LSTM", shape, "sigmoid", "cpu", workdir, None, "mixed_bfloat16")
            engine = bf16.engine
            xla_train = tf.function(engine._train_step_impl, jit_compile=True, autograph=False)
            xla_infer = tf.function(engine._predict_step_impl, jit_compile=True, autograph=False)
            x, y, w = _step_inputs(b, t, d, u)
            cases.update({
                "train_rnncli_fp32": fp32.train, "train_rnncli_bf16": bf16.train,
                "train_rnncli_bf16_xla": lambda: float(xla_train(x, y, w)[0]),
                "train_graph_bf16_fp32_gates": _recurrence_variant(b, t, d, u, "loop"),
                "train_graph_bf16_fused_grad": _recurrence_variant(b, t, d, u, "fused_grad"),
                "train_graph_bf16_static_unroll": _recurrence_variant(b, t, d, u, "static"),
                "infer_rnncli_fp32": fp32.infer, "infer_rnncli_bf16": bf16.infer,
                "infer_rnncli_bf16_xla": lambda: xla_infer(x).numpy(),
            })
            if not spec.get("no_torch"):
                for name, flag in (("torch_fp32", False), ("torch_bf16", True)):
                    runner = bench._torch_runner("LSTM", shape, flag)
                    cases[f"train_{name}"], cases[f"infer_{name}"] = runner.train, runner.infer
        else:
            fp32 = bench._rnncli_runner("LSTM", shape, "sigmoid", "cpu", workdir, None, "float32")
            cases.update({"train_rnncli_fp32": fp32.train})
        return _alternate(cases, spec["reps"], spec["warmup"], spec["min_rep_s"])


def _step_inputs(b: int, t: int, d: int, u: int):
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    return (tf.constant(rng.standard_normal((b, t, d)).astype(np.float32)),
            tf.constant(rng.standard_normal((b, u)).astype(np.float32) * 0.5), tf.constant(np.ones(b, np.float32)))


WORKERS = {"dot": dot_worker, "step": step_worker}


# -- the driver -------------------------------------------------------------------------------------------------------

def _run(worker: str, spec: dict, extra_env: dict[str, str]) -> dict:
    """One worker in a fresh process with ``extra_env``; a crash (the oneDNN fusion can abort) is recorded."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("XLA_FLAGS", None)
    env.pop("ONEDNN_DEFAULT_FPMATH_MODE", None)
    env.update(extra_env)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", worker, "--spec", json.dumps(spec)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    if out.returncode != 0:
        tail = [line for line in out.stderr.strip().splitlines() if line.strip()][-3:]
        return {"error": f"process exited {out.returncode}: {' | '.join(tail)[-400:]}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool, reps: int, no_torch: bool = False) -> dict:
    size = "quick" if quick else "full"
    spec = {"size": size, "reps": 1 if quick else reps, "warmup": 1 if quick else 2,
            "min_rep_s": 0.0 if quick else 0.3, "no_torch": no_torch}
    environments = ["default"] if quick else list(ENVIRONMENTS)
    report: dict[str, Any] = {
        "schema": SCHEMA, "quick": quick, "shapes": SHAPES[size],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "loadavg_start": os.getloadavg()},
        "environments": {name: ENVIRONMENTS[name] for name in environments}, "dot": {}, "step": {}}
    for name in environments:
        for worker in ("dot", "step"):
            report[worker][name] = _run(worker, dict(spec, environment=name), ENVIRONMENTS[name])
    report["machine"]["loadavg_end"] = os.getloadavg()
    return report


def format_tables(report: dict) -> str:
    lines = ["| environment | case | ms | GFLOP/s | us per matmul | XLA dot dtype |", "|---|---|---|---|---|---|"]
    for env, cases in report["dot"].items():
        if "error" in cases:
            lines.append(f"| {env} | (process) | {cases['error']} | | | |")
            continue
        for case, r in cases.items():
            if "error" in r:
                lines.append(f"| {env} | {case} | {r['error']} | | | |")
                continue
            lines.append(f"| {env} | {case} | {r['ms']:.3f} | {r.get('gflops', float('nan')):.0f} | "
                         f"{r.get('us_per_matmul', float('nan')):.1f} | {r.get('xla_dot_dtype', '')} |")
    lines += ["", "| environment | step | ms |", "|---|---|---|"]
    for env, cases in report["step"].items():
        if "error" in cases:
            lines.append(f"| {env} | (process) | {cases['error']} |")
            continue
        for case, r in cases.items():
            lines.append(f"| {env} | {case} | {r['error'] if 'error' in r else format(r['ms'], '.1f')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="tiny shapes, one rep, default environment only")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--no-torch", action="store_true", help="leave out the torch rows")
    parser.add_argument("--json", action="store_true", help="print the JSON report on stdout")
    parser.add_argument("--output", type=Path, default=None, help=f"JSON report (default {RESULTS}; --quick: none)")
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(WORKERS[args.worker](json.loads(args.spec))))
        return 0
    report = run(args.quick, args.reps, args.no_torch)
    output = args.output or (None if args.quick else RESULTS)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report) if args.json else format_tables(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
