"""Where rnncli's compiled training step spends its time, by kind of XLA:CPU operation.

Runs ``Engine``'s train step (the code ``rnncli train`` runs) for one recurrent layer under the TensorFlow
profiler with XLA:CPU's per-thunk trace events switched on, and sums the events by kind:

* ``matmul``: dot thunks (the recurrence's and the projections' matrix products);
* ``fusion``: XLA-fused elementwise work (gate activations, their derivatives, the optimizer update, ...);
* ``copy``: copies and dynamic-update-slices (loop-carried buffers, TensorArray reads and writes);
* ``other``: everything else that is an HLO thunk (concats, broadcasts, reductions, ...).

Times are summed over both worker threads, so the total can exceed the wall time; ``thunks/step`` counts how many
separately dispatched operations one training step runs. ``--json`` prints the numbers for machines.

    python benchmarks/xla_profile.py --cell LSTM --shape small --consume-less gpu
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

RUNTIME_PREFIXES = ("Eager", "TFE_", "__inference", "CpuExecutable", "ThunkExecutor", "BlockUntilReady", "while",
                    "call", "conditional")
HLO_NAME = re.compile(r"^[A-Za-z_][\w\-]*\.\d+$|^wrapped_[\w\-]+$")


def kind_of(name: str) -> str | None:
    """The category of one trace event, or None for runtime wrappers that contain other events."""
    if name.startswith(RUNTIME_PREFIXES) or not HLO_NAME.match(name):
        return None
    lowered = name.lower()
    if lowered.startswith(("matmul", "dot", "einsum")) or "dot" in lowered.split(".")[0].split("_"):
        return "matmul"
    if lowered.startswith(("copy", "dynamic-update-slice", "dynamic_update_slice", "wrapped_copy",
                           "dynamic-slice", "dynamic_slice")):
        return "copy"
    if "fusion" in lowered or lowered.startswith("wrapped_"):
        return "fusion"
    return "other"


def summarize(xplane_path: str, steps: int) -> dict:
    try:
        from tsl.profiler.protobuf import xplane_pb2
    except ImportError:  # older layouts
        from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    space.ParseFromString(Path(xplane_path).read_bytes())
    totals: collections.Counter = collections.Counter()
    counts: collections.Counter = collections.Counter()
    for plane in space.planes:
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                kind = kind_of(names.get(event.metadata_id, ""))
                if kind is not None:
                    totals[kind] += event.duration_ps
                    counts[kind] += 1
    per_step_ms = {kind: totals[kind] / 1e9 / steps for kind in ("matmul", "fusion", "copy", "other")}
    thunks = {kind: counts[kind] / steps for kind in per_step_ms}
    return {"thread_ms_per_step": per_step_ms, "thunks_per_step": thunks}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", choices=("LSTM", "GRU", "SimpleRNN"), default="LSTM")
    parser.add_argument("--shape", choices=("small", "medium", "large", "stream"), default="small")
    parser.add_argument("--consume-less", choices=("cpu", "mem", "gpu"), default="gpu")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_enable_xprof_traceme=true").strip()
    import bench

    tf, _ = bench._set_threads(None)
    with tempfile.TemporaryDirectory() as tmp:
        runner = bench._rnncli_runner(args.cell, args.shape, "sigmoid", args.consume_less, Path(tmp), None)
        for _ in range(3):
            runner.train()
        start = time.perf_counter()
        for _ in range(args.steps):
            runner.train()
        wall_ms = (time.perf_counter() - start) / args.steps * 1e3
        logdir = Path(tmp) / "profile"
        tf.profiler.experimental.start(str(logdir))
        for _ in range(args.steps):
            runner.train()
        tf.profiler.experimental.stop()
        path = sorted(glob.glob(str(logdir / "plugins" / "profile" / "*" / "*.xplane.pb")))[-1]
        report = summarize(path, args.steps)
    report.update(cell=args.cell, shape=args.shape, consume_less=args.consume_less, wall_ms_per_step=wall_ms,
                  threads=tf.config.threading.get_intra_op_parallelism_threads() or "default")
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    busy = sum(report["thread_ms_per_step"].values())
    print(f"{args.cell} {args.shape} consume_less={args.consume_less}: {wall_ms:.2f} ms per training step (wall), "
          f"{busy:.2f} ms of thunk time summed over threads")
    print("| kind | thread-ms / step | share | thunks / step |")
    print("|---|---|---|---|")
    for kind, value in report["thread_ms_per_step"].items():
        print(f"| {kind} | {value:.2f} | {value / busy:.0%} | {report['thunks_per_step'][kind]:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
