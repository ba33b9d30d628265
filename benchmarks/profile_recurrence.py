"""Where an LSTM step's time goes: rnncli's layer against the floors of XLA:CPU and torch, in one process.

The full comparison lives in ``bench.py``; this script answers the narrower question "how close is the forward
recurrence to the fastest loop each framework can run?" by timing, alternately and after warm-up:

* ``xla_matmul_chain``: T dependent [B, u] @ [u, G*u] matmuls in an XLA ``tf.while_loop`` - the recurrent matmuls
  alone, no input projection, no gate math. No XLA recurrence can be faster than this.
* ``xla_matmul_chain_unrolled``: the same chain as straight-line code (no loop).
* ``rnncli_gpu`` / ``rnncli_cpu``: the rnncli LSTM layer's forward pass (``consume_less: gpu`` / ``cpu``), compiled
  with XLA as ``rnncli predict`` compiles it.
* ``torch_matmul_chain``: the same T dependent matmuls in torch (eager, ``torch.mm``).
* ``torch_lstm``: ``torch.nn.LSTM`` under ``no_grad`` (oneDNN's fused RNN primitive on CPU).

Each figure is a median over rounds in which the cases alternate. Threads are fixed per process (``--threads``);
run it once per setting. ``--json`` prints the numbers for machines.

    python benchmarks/profile_recurrence.py --threads 2
    python benchmarks/profile_recurrence.py --threads 1 --shape large
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import bench  # noqa: E402  (the shapes, and the thread and environment setup, are bench.py's)

SHAPES = {name: bench.SHAPES[name][:4] for name in ("small", "medium", "large")}  # batch, timesteps, input, units
GATES = bench.GATES["LSTM"]


def _rnncli_forward(tf, mode: str, shape: tuple[int, int, int, int], workdir: Path):
    """The rnncli LSTM layer's forward, compiled with XLA. Returns a zero-argument callable."""
    import numpy as np
    import yaml

    from rnncli.config.validate import load_config
    from rnncli.model import Sequential

    b, t, d, u = shape
    path = workdir / f"lstm_{mode}.yaml"
    layer = {"type": "LSTM", "output_dim": u, "inner_activation": "sigmoid", "consume_less": mode,
             "input_shape": [t, d]}
    path.write_text(yaml.safe_dump({"model": {"layers": [layer]}, "training": {"loss": "mse"}}))
    model = Sequential(load_config(path).model, 0)
    x = tf.constant(np.random.default_rng(0).standard_normal((b, t, d)).astype(np.float32))

    @tf.function(jit_compile=True)
    def forward(inputs):
        return model(inputs)[0]

    return lambda: forward(x).numpy()


def _xla_chain(tf, shape, unrolled: bool):
    """T dependent [B, u] @ [u, G*u] matmuls; only a [B, u] slice feeds the next step, as in an LSTM."""
    b, t, _, u = shape
    weights = tf.random.normal([u, GATES * u], stddev=0.05)

    @tf.function(jit_compile=True)
    def chain(h):
        if unrolled:
            for _ in range(t):
                h = tf.matmul(h, weights)[:, :u]
            return h

        def body(step, h):
            return step + 1, tf.matmul(h, weights)[:, :u]

        return tf.while_loop(lambda step, _: step < t, body, (0, h), maximum_iterations=t)[1]

    h0 = tf.random.normal([b, u])
    return lambda: chain(h0).numpy()


def _torch_cases(torch, shape):
    b, t, d, u = shape
    lstm = torch.nn.LSTM(d, u, batch_first=True)
    x = torch.randn(b, t, d)
    weights = torch.randn(u, GATES * u) * 0.05
    h0 = torch.randn(b, u)

    def torch_lstm():
        with torch.no_grad():
            return lstm(x)[0]

    def torch_chain():
        with torch.no_grad():
            h = h0
            for _ in range(t):
                h = torch.mm(h, weights)[:, :u]
            return h

    return torch_lstm, torch_chain


def profile(shape_name: str, threads: int, rounds: int) -> dict:
    tf, torch = bench._set_threads(threads)
    shape = SHAPES[shape_name]
    with tempfile.TemporaryDirectory() as tmp:
        torch_lstm, torch_chain = _torch_cases(torch, shape)
        cases = {
            "xla_matmul_chain": _xla_chain(tf, shape, unrolled=False),
            "xla_matmul_chain_unrolled": _xla_chain(tf, shape, unrolled=True),
            "rnncli_gpu": _rnncli_forward(tf, "gpu", shape, Path(tmp)),
            "rnncli_cpu": _rnncli_forward(tf, "cpu", shape, Path(tmp)),
            "torch_matmul_chain": torch_chain,
            "torch_lstm": torch_lstm,
        }
        for run in cases.values():  # compile and warm up
            run()
            run()
        samples: dict[str, list[float]] = {name: [] for name in cases}
        names = list(cases)
        for index in range(rounds):
            for name in names[index % len(names):] + names[:index % len(names)]:
                start = time.perf_counter()
                cases[name]()
                samples[name].append(time.perf_counter() - start)
    b, t, d, u = shape
    chain_flops = 2.0 * b * t * u * GATES * u
    medians = {name: statistics.median(values) for name, values in samples.items()}
    return {"shape": shape_name, "dims": shape, "threads": threads, "rounds": rounds,
            "median_ms": {name: value * 1e3 for name, value in medians.items()},
            "chain_gflops": {name: chain_flops / medians[name] / 1e9
                             for name in ("xla_matmul_chain", "xla_matmul_chain_unrolled", "torch_matmul_chain")}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="medium")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report = profile(args.shape, args.threads, args.rounds)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    torch_ms = report["median_ms"]["torch_lstm"]
    print(f"LSTM forward, {args.shape} {report['dims']}, threads={args.threads}, {args.rounds} rounds")
    print("| case | median ms | torch_lstm / case |")
    print("|---|---|---|")
    for name, ms in report["median_ms"].items():
        print(f"| {name} | {ms:.2f} | {torch_ms / ms:.2f} |")
    print("matmul chain GFLOP/s: " + ", ".join(f"{k} {v:.1f}" for k, v in report["chain_gflops"].items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
