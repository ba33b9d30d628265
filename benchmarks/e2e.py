"""End-to-end timings as users feel them: whole processes of ``rnncli`` against Keras 3 and plain torch scripts.

Scenarios (each implementation runs in its own fresh process; within a round the implementations alternate, in an
order rotated every round; ratios are ``theirs / ours`` per round, so above 1 means rnncli is faster):

* ``epoch``: steady-state epoch time, medium LSTM (1024 samples × 100 steps × 64 features → 256 units, Dense(1),
  mse, SGD lr 0.01, batch 64, shuffled; ``--epoch-shape large``: 512 × 200 × 128 → 512, batch 128): ``rnncli
  train`` vs Keras 3 ``fit`` vs a plain torch loop (``nn.LSTM`` + ``nn.Linear``, same math with sigmoid gates).
  Each process trains ``--epochs`` epochs; its steady-state figure is the median of every epoch after the first.
* ``small``: whole-process wall time of the small job users run most: ``configs/sunspots_gru.yaml`` for 20
  epochs, with validation, a checkpoint per epoch and a best checkpoint, vs the same job as a Keras 3 script
  (``GRU(reset_after=False)``, ``ModelCheckpoint`` twice) and as a torch script (``nn.GRU``, a different function:
  reference only; ``torch.save`` of model and optimizer twice per epoch).
* ``predict``: ``rnncli predict`` of 60 rows with a trained small GRU run (written once, untimed) vs a bare
  ``python -c "import tensorflow"``.
* ``--bf16`` (epoch scenario): also ``rnncli train --precision mixed_bfloat16``, Keras 3 ``fit`` under the
  ``mixed_bfloat16`` policy and the torch loop under ``torch.autocast("cpu", dtype=torch.bfloat16)``, in the same
  rounds; a second table gives every ratio against ``rnncli_bf16``.
* time to first training step: from process start to the end of the first training step, measured in the
  ``epoch`` and ``small`` processes (rnncli's through a one-line hook on its reporter, the same CLI code).

Each process reports its wall time and its own CPU time (user + sys, from ``wait4``): on a shared host the CPU time
is the steadier of the two. ``--baseline DIR`` adds ``rnncli_base``, the same CLI from another checkout, to every
scenario (A/B of a change in one run); ``--skip IMPL`` leaves an implementation out. Unless ``RNNCLI_CACHE_DIR`` is
given, the run uses a fresh XLA compilation cache of its own: round 1 compiles, later rounds may load.

    python benchmarks/e2e.py                              # 3 rounds of everything, JSON to results/e2e.json
    python benchmarks/e2e.py --scenarios small predict --baseline /tmp/rnncli-before --env RNNCLI_NO_CACHE=1
    python benchmarks/e2e.py --quick --json               # smoke test: tiny shapes, one round
    python benchmarks/e2e.py --scenarios epoch --bf16 --rounds 2 --epochs 3   # float32 and bf16 side by side
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "e2e.json"
SCHEMA = 1
SCENARIOS = ("epoch", "small", "predict")
IMPLS = {"epoch": ("rnncli", "keras", "torch"), "small": ("rnncli", "keras", "torch"),
         "predict": ("rnncli", "import_tensorflow")}
# --bf16 adds these to the epoch scenario: rnncli --precision mixed_bfloat16, Keras 3 fit under the mixed_bfloat16
# policy, torch under torch.autocast("cpu", dtype=torch.bfloat16)
BF16_IMPLS = ("rnncli_bf16", "keras_bf16", "torch_bf16")
SAME_MATH = {("small", "torch"): False}  # torch.nn.GRU resets after the recurrent product (not Keras 1's GRU)
# epoch scenario shapes: samples, timesteps, features, units, batch
EPOCH_SHAPES = {"medium": (1024, 100, 64, 256, 64), "large": (512, 200, 128, 512, 128), "tiny": (64, 6, 3, 8, 16)}


# ---------------------------------------------------------------------------------------------------------------
# worker side: each runs as ``python e2e.py --worker NAME --spec JSON`` and writes its result to spec["result"]
# ---------------------------------------------------------------------------------------------------------------

def _write(spec: dict, result: dict) -> None:
    Path(spec["result"]).write_text(json.dumps(result))


def worker_rnncli(spec: dict) -> None:
    """The rnncli CLI itself (``rnncli.cli.main``, what the console script runs) with the first batch's end time
    recorded from its reporter; epoch times come from the run's history.csv afterwards."""
    sys.path.insert(0, spec.get("root", str(ROOT)))
    try:
        from rnncli.cli import reporting
    except ImportError:  # a --baseline checkout from before the layout of issue 24 (rnncli/reporting.py)
        from rnncli import reporting  # type: ignore[no-redef]

    marks: dict = {}
    original = reporting.ConsoleReporter.batch_end

    def batch_end(self, batch, logs):
        marks.setdefault("first_step_at", time.time())
        return original(self, batch, logs)

    reporting.ConsoleReporter.batch_end = batch_end
    try:
        from rnncli.cli.main import main
    except ImportError:  # before issue 24: rnncli/cli.py
        from rnncli.cli import main  # type: ignore[no-redef]

    try:
        main(spec["argv"], prog_name="rnncli", standalone_mode=False)
    finally:
        _write(spec, marks)


def _keras_first_step_callback(keras, marks: dict):
    class FirstStep(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            marks.setdefault("first_step_at", time.time())

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):  # Keras runs validation before on_epoch_end
            marks.setdefault("epoch_s", []).append(time.perf_counter() - self.started)

    return FirstStep()


def worker_keras_epoch(spec: dict) -> None:
    sys.path.insert(0, str(ROOT))
    from rnncli.platform import tf_env

    tf_env.apply()  # the same allocator and logging settings rnncli runs TensorFlow with
    import numpy as np
    import keras

    marks: dict = {}
    data = np.load(spec["data"])
    x, y = data["x"], data["y"]
    keras.utils.set_random_seed(1)
    if spec.get("precision") == "mixed_bfloat16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = keras.Sequential([keras.Input(x.shape[1:]), keras.layers.LSTM(spec["units"],
                              recurrent_activation="sigmoid"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    model.fit(x, y, batch_size=spec["batch"], epochs=spec["epochs"], shuffle=True, verbose=0,
              callbacks=[_keras_first_step_callback(keras, marks)])
    _write(spec, marks)


def worker_torch_epoch(spec: dict) -> None:
    import numpy as np
    import torch

    marks: dict = {}
    data = np.load(spec["data"])
    x, y = torch.from_numpy(data["x"]), torch.from_numpy(data["y"])
    torch.manual_seed(1)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(x.shape[2], spec["units"], batch_first=True)
            self.out = torch.nn.Linear(spec["units"], 1)

        def forward(self, inputs):
            return self.out(self.rnn(inputs)[0][:, -1])

    net = Net()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    loss_fn = torch.nn.MSELoss()
    batch = spec["batch"]
    bf16 = spec.get("precision") == "mixed_bfloat16"
    for _ in range(spec["epochs"]):
        started = time.perf_counter()
        order = torch.randperm(len(x))
        total = 0.0
        for start in range(0, len(x), batch):
            index = order[start:start + batch]
            optimizer.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                prediction = net(x[index])
            loss = loss_fn(prediction.float(), y[index])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)  # the per-epoch running mean every framework reports
            marks.setdefault("first_step_at", time.time())
        marks.setdefault("epoch_s", []).append(time.perf_counter() - started)
    _write(spec, marks)


def worker_keras_small(spec: dict) -> None:
    sys.path.insert(0, str(ROOT))
    from rnncli.platform import tf_env

    tf_env.apply()
    import numpy as np
    import keras

    marks: dict = {}
    train, val = np.load(spec["train"]), np.load(spec["validation"])
    keras.utils.set_random_seed(1337)
    model = keras.Sequential([keras.Input(train["x"].shape[1:]),
                              keras.layers.GRU(16, reset_after=False, recurrent_activation="hard_sigmoid"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    out = Path(spec["workdir"])
    checkpoints = [keras.callbacks.ModelCheckpoint(str(out / "latest.keras")),
                   keras.callbacks.ModelCheckpoint(str(out / "best.keras"), monitor="val_loss", save_best_only=True)]
    model.fit(train["x"], train["y"], batch_size=16, epochs=spec["epochs"], shuffle=True, verbose=0,
              validation_data=(val["x"], val["y"]), callbacks=checkpoints + [_keras_first_step_callback(keras, marks)])
    _write(spec, marks)


def worker_torch_small(spec: dict) -> None:
    import numpy as np
    import torch

    marks: dict = {}
    train, val = np.load(spec["train"]), np.load(spec["validation"])
    x, y = torch.from_numpy(train["x"]), torch.from_numpy(train["y"])
    vx, vy = torch.from_numpy(val["x"]), torch.from_numpy(val["y"])
    torch.manual_seed(1337)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.GRU(x.shape[2], 16, batch_first=True)
            self.out = torch.nn.Linear(16, 1)

        def forward(self, inputs):
            return self.out(self.rnn(inputs)[0][:, -1])

    net = Net()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    out = Path(spec["workdir"])
    best = float("inf")
    for _ in range(spec["epochs"]):
        started = time.perf_counter()
        order = torch.randperm(len(x))
        net.train()
        for start in range(0, len(x), 16):
            index = order[start:start + 16]
            optimizer.zero_grad()
            pred = net(x[index])
            loss = torch.nn.functional.mse_loss(pred, y[index])
            loss.backward()
            optimizer.step()
            loss.item(), torch.nn.functional.l1_loss(pred.detach(), y[index]).item()  # loss and the mae metric
            marks.setdefault("first_step_at", time.time())
        net.eval()
        with torch.no_grad():
            pred = net(vx)
            val_loss = float(torch.nn.functional.mse_loss(pred, vy))
            float(torch.nn.functional.l1_loss(pred, vy))
        state = {"model": net.state_dict(), "optimizer": optimizer.state_dict()}
        torch.save(state, out / "latest.pt")
        if val_loss < best:
            best = val_loss
            torch.save(state, out / "best.pt")
        marks.setdefault("epoch_s", []).append(time.perf_counter() - started)
    _write(spec, marks)


def worker_import_tensorflow(spec: dict) -> None:
    import tensorflow  # noqa: F401  the floor under any TensorFlow command

    _write(spec, {})


WORKERS = {"rnncli": worker_rnncli, "keras_epoch": worker_keras_epoch, "torch_epoch": worker_torch_epoch,
           "keras_small": worker_keras_small, "torch_small": worker_torch_small,
           "import_tensorflow": worker_import_tensorflow}


# ---------------------------------------------------------------------------------------------------------------
# parent side
# ---------------------------------------------------------------------------------------------------------------

def _loadavg() -> list[float] | None:
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


def run_worker(name: str, spec: dict, workdir: Path, env: dict) -> dict:
    """Start one worker process; returns its wall time, time to first step and whatever it reported."""
    spec = dict(spec, result=str(workdir / f"result-{name}-{time.monotonic_ns()}.json"))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--spec", json.dumps(spec)]
    with tempfile.TemporaryFile() as err:
        started = time.time()
        process = subprocess.Popen(cmd, cwd=spec.get("cwd", ROOT), env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)  # the child's own CPU time: steadier than wall on a busy host
        wall = time.time() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"worker {name} failed ({process.returncode}):\n{err.read().decode()[-4000:]}")
    marks = json.loads(Path(spec["result"]).read_text())
    result = {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime}
    if "first_step_at" in marks:
        result["first_step_s"] = marks["first_step_at"] - started
    if "epoch_s" in marks:
        result["epoch_s"] = marks["epoch_s"]
    return result


def _history_seconds(run_dir: Path) -> list[float]:
    import csv

    with (run_dir / "history.csv").open() as handle:
        return [float(row["seconds"]) for row in csv.DictReader(handle)]


def setup_epoch(workdir: Path, quick: bool, epochs: int, shape: str = "medium") -> dict:
    import numpy as np

    n, t, d, units, batch = EPOCH_SHAPES["tiny" if quick else shape]
    rng = np.random.default_rng(0)
    data = workdir / "epoch_data.npz"
    np.savez(data, x=rng.standard_normal((n, t, d)).astype(np.float32),
             y=rng.standard_normal((n, 1)).astype(np.float32))
    config = workdir / "epoch_lstm.yaml"
    config.write_text(
        "seed: 1\nmodel:\n  layers:\n"
        f"    - {{type: LSTM, output_dim: {units}, input_shape: [{t}, {d}], inner_activation: sigmoid}}\n"
        "    - {type: Dense, output_dim: 1}\n"
        f"data: {{train: {data.name}}}\n"
        f"training: {{loss: mse, optimizer: {{name: sgd, lr: 0.01}}, batch_size: {batch}, nb_epoch: {epochs}}}\n")
    return {"data": str(data), "config": str(config), "units": units, "batch": batch, "epochs": epochs,
            "shape": {"samples": n, "timesteps": t, "features": d, "units": units, "batch": batch}}


def setup_small(workdir: Path, quick: bool) -> dict:
    epochs = 2 if quick else 20
    return {"config": str(ROOT / "configs" / "sunspots_gru.yaml"), "epochs": epochs,
            "train": str(ROOT / "datasets" / "sunspots.npz"), "validation": str(ROOT / "datasets" / "sunspots_val.npz")}


def setup_predict(workdir: Path, env: dict) -> dict:
    import numpy as np

    run_dir = workdir / "predict_run"
    subprocess.run([sys.executable, "-m", "rnncli.cli.main", "train", str(ROOT / "configs" / "sunspots_gru.yaml"), "-o",
                    str(run_dir), "--epochs", "1", "--no-progress"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=900)
    rows = workdir / "predict_x.npy"
    np.save(rows, np.load(ROOT / "datasets" / "sunspots_val.npz")["x"][:60])
    return {"run": str(run_dir), "input": str(rows), "output": str(workdir / "predict_y.npy")}


def one_run(scenario: str, impl: str, setup: dict, workdir: Path, env: dict) -> dict:
    if impl == "rnncli_base":  # the same CLI from another checkout (--baseline), for A/B of a change
        env = dict(env, PYTHONPATH=setup["baseline"] + os.pathsep + os.environ.get("PYTHONPATH", ""))
        spec_root = {"root": setup["baseline"]}
        impl = "rnncli"
    else:
        spec_root = {}
    precision = "float32"
    if impl.endswith("_bf16"):
        impl, precision = impl[:-len("_bf16")], "mixed_bfloat16"
    if scenario == "epoch":
        if impl == "rnncli":
            run_dir = workdir / f"epoch_run_{time.monotonic_ns()}"
            flags = ["--precision", precision] if precision != "float32" else []  # a --baseline may predate it
            result = run_worker("rnncli", {"argv": ["train", setup["config"], "-o", str(run_dir), "--no-progress",
                                                    *flags],
                                           "cwd": str(workdir), **spec_root}, workdir, env)
            result["epoch_s"] = _history_seconds(run_dir)
            shutil.rmtree(run_dir, ignore_errors=True)
            return result
        return run_worker(f"{impl}_epoch", dict(setup, precision=precision), workdir, env)
    if scenario == "small":
        out = workdir / f"small_{impl}_{time.monotonic_ns()}"
        out.mkdir()
        try:
            if impl == "rnncli":
                return run_worker("rnncli", {"argv": ["train", setup["config"], "-o", str(out / "run"), "--epochs",
                                                      str(setup["epochs"]), "--no-progress"], **spec_root},
                                  workdir, env)
            return run_worker(f"{impl}_small", dict(setup, workdir=str(out)), workdir, env)
        finally:
            shutil.rmtree(out, ignore_errors=True)
    if impl == "rnncli":
        return run_worker("rnncli", {"argv": ["predict", setup["run"], "--input", setup["input"], "--output",
                                              setup["output"]], **spec_root}, workdir, env)
    return run_worker("import_tensorflow", {}, workdir, env)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def steady_epoch(result: dict) -> float | None:
    return _median(result.get("epoch_s", [])[1:])


METRICS = {  # scenario: what each process contributes
    "epoch": {"steady_epoch_s": steady_epoch, "first_epoch_s": lambda r: r["epoch_s"][0],
              "first_step_s": lambda r: r.get("first_step_s"), "wall_s": lambda r: r["wall_s"],
              "cpu_s": lambda r: r["cpu_s"]},
    "small": {"wall_s": lambda r: r["wall_s"], "cpu_s": lambda r: r["cpu_s"],
              "first_step_s": lambda r: r.get("first_step_s")},
    "predict": {"wall_s": lambda r: r["wall_s"], "cpu_s": lambda r: r["cpu_s"]},
}


def summarize(scenario: str, rounds: list[dict], reference: str = "rnncli") -> dict:
    """Medians per implementation and metric, and the median of the per-round paired ratios theirs / ``reference``
    (rnncli; ``rnncli_bf16`` for the bf16 block)."""
    impls = tuple(rounds[0])
    impls = (reference,) + tuple(i for i in impls if i != reference)
    summary: dict = {"medians": {}, "ratios": {}}
    for metric, read in METRICS[scenario].items():
        values = {impl: [read(r[impl]) for r in rounds] for impl in impls}
        summary["medians"][metric] = {impl: _median([v for v in vs if v is not None]) for impl, vs in values.items()}
        for impl in impls[1:]:
            paired = [theirs / ours for ours, theirs in zip(values[reference], values[impl])
                      if ours is not None and theirs is not None and ours > 0]
            if paired:
                summary["ratios"].setdefault(metric, {})[impl] = {
                    "median": statistics.median(paired), "min": min(paired), "max": max(paired), "rounds": paired}
    return summary


def format_table(report: dict, key: str = "summary", reference: str = "rnncli") -> str:
    """The markdown table of the ``key`` summaries (``bf16_summary``: ratios against ``rnncli_bf16``)."""
    lines = [f"| scenario | metric | {reference} s | other | other s | other / {reference} (median, range) |",
             "|---|---|---|---|---|---|"]
    for scenario, block in report["scenarios"].items():
        if key not in block:
            continue
        for metric, medians in block[key]["medians"].items():
            ours = medians.get(reference)
            for impl, ratio in block[key]["ratios"].get(metric, {}).items():
                ref = "" if SAME_MATH.get((scenario, impl), True) else " (ref)"
                lines.append(f"| {scenario} | {metric} | {ours:.3f} | {impl}{ref} | {medians[impl]:.3f} | "
                             f"{ratio['median']:.2f}x ({ratio['min']:.2f}-{ratio['max']:.2f}) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4, help="epochs per process in the epoch scenario")
    parser.add_argument("--epoch-shape", choices=["medium", "large"], default="medium",
                        help="the epoch scenario's LSTM: medium 1024x100x64->256 batch 64, large 512x200x128->512 "
                             "batch 128 (the step benchmark's large shape)")
    parser.add_argument("--quick", action="store_true", help="tiny shapes, 2 epochs, one round (smoke test)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="environment for every process (e.g. RNNCLI_NO_CACHE=1)")
    parser.add_argument("--skip", nargs="*", default=[], metavar="IMPL",
                        help="implementations to leave out (e.g. torch on a host where its threads starve)")
    parser.add_argument("--baseline", type=Path, default=None, metavar="DIR",
                        help="also time rnncli from another checkout (column rnncli_base) in every scenario")
    parser.add_argument("--bf16", action="store_true",
                        help="epoch scenario: add rnncli --precision mixed_bfloat16, Keras fit under mixed_bfloat16 and "
                             "torch under bfloat16 autocast (needs a CPU with native bfloat16)")
    parser.add_argument("--json", action="store_true", help="print the JSON report on stdout")
    parser.add_argument("--output", type=Path, default=None, help=f"JSON report (default {RESULTS}; --quick: none)")
    args = parser.parse_args(argv)
    if args.worker:
        WORKERS[args.worker](json.loads(args.spec))
        return 0
    rounds = 1 if args.quick else args.rounds
    epochs = 2 if args.quick else args.epochs
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update(item.split("=", 1) for item in args.env)
    with_cache_dir = "RNNCLI_CACHE_DIR" not in env
    report = {"schema": SCHEMA, "quick": args.quick, "rounds": rounds, "env": dict(i.split("=", 1) for i in args.env),
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
              "loadavg_start": _loadavg(), "scenarios": {}}
    with tempfile.TemporaryDirectory(prefix="rnncli-e2e-") as tmp:
        workdir = Path(tmp)
        if with_cache_dir:  # a fresh XLA cache per benchmark run: round 1 compiles, later rounds may load
            env["RNNCLI_CACHE_DIR"] = str(workdir / "rnncli-cache")
        setups = {"epoch": lambda: setup_epoch(workdir, args.quick, epochs, args.epoch_shape),
                  "small": lambda: setup_small(workdir, args.quick), "predict": lambda: setup_predict(workdir, env)}
        for scenario in args.scenarios:
            setup = setups[scenario]()
            impls = tuple(i for i in IMPLS[scenario] if i not in args.skip)
            impls += tuple(i for i in BF16_IMPLS if i not in args.skip) if args.bf16 and scenario == "epoch" else ()
            impls += ("rnncli_base",) if args.baseline else ()
            if args.baseline:
                setup["baseline"] = str(args.baseline.resolve())
            results = []
            for index in range(rounds):
                order = impls[index % len(impls):] + impls[:index % len(impls)]
                row = {impl: one_run(scenario, impl, setup, workdir, env) for impl in order}
                results.append(row)
                print(f"{scenario} round {index + 1}: " + ", ".join(
                    f"{impl} {row[impl]['wall_s']:.2f}s" for impl in impls), file=sys.stderr, flush=True)
            report["scenarios"][scenario] = {
                "setup": {k: v for k, v in setup.items() if k in ("shape", "epochs", "batch")},
                "same_math": {impl: SAME_MATH.get((scenario, impl), True) for impl in impls}, "impls": list(impls),
                "rounds": results, "summary": summarize(scenario, results)}
            if "rnncli_bf16" in impls:
                report["scenarios"][scenario]["bf16_summary"] = summarize(scenario, results, "rnncli_bf16")
    report["loadavg_end"] = _loadavg()
    output = args.output or (None if args.quick else RESULTS)
    text = json.dumps(report, indent=1)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text + "\n")
    tables = format_table(report)
    if any("bf16_summary" in block for block in report["scenarios"].values()):
        tables += "\n\n" + format_table(report, "bf16_summary", "rnncli_bf16")
    print(text if args.json else tables)
    return 0


if __name__ == "__main__":
    sys.exit(main())
