"""What the commands do, as library functions: train, resume, predict, evaluate, reset states, export.

The CLI only parses options, builds a reporter and calls these. They raise ``RnncliError``s for every user-facing
failure and return plain data for the CLI to show.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import difflib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from rnncli import __version__, tf_env
from rnncli.config.validate import Config, load_config
from rnncli.data import Dataset, check_dataset, fit_to_batches, load_arrays, load_text_windows, split_validation
from rnncli.errors import DataError, RunError, UserInputError
from rnncli.run_dir import RunDir, RunLock, atomic_write_bytes, atomic_write_text


@dataclass
class TrainResult:
    run_dir: Path
    rows: list[dict]
    device: str
    resumed_from_epoch: int = 0
    notes: list[str] = field(default_factory=list)


@contextlib.contextmanager
def deferred_interrupts():
    """Hold SIGINT/SIGTERM until the block (a checkpoint write) is complete, then deliver them.

    Python handlers are swapped for ones that only record the signal (blocking the signal mask would not help:
    TensorFlow's threads would still take it); after the block the old handlers are back and the signal is raised.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {sig: signal.signal(sig, lambda number, frame: received.append(number))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in received[:1]:
            signal.raise_signal(sig)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _git_commit(directory: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(directory), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def prepare_tensorflow(deterministic: bool = True, distribute: str = "none", devices: list[str] | None = None
                       ) -> Any:
    """Import TensorFlow quietly (its C++ start-up lines go to /dev/null), create the distribution strategy
    before the first op runs (TensorFlow requires that), and set determinism. Returns the ``tensorflow`` module;
    the strategy is ``rnncli.distribute.current()``."""
    from rnncli import compile_cache
    from rnncli import distribute as dist

    compile_cache.apply()
    tf_env.apply()
    tf_env.skip_keras()
    saved = os.dup(2)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        import tensorflow as tf

        dist.activate(distribute, devices)
        tf.constant(0.0) + 1.0
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    return tf


def _load_data(config: Config) -> tuple[Dataset, Dataset | None]:
    data_cfg = config.data
    assert data_cfg is not None and config.training is not None
    loss = config.training["loss"]
    if data_cfg.get("window"):
        raw = load_text_windows(data_cfg["train"], data_cfg["window"], data_cfg["step"], data_cfg["lowercase"],
                                data_cfg.get("vocab"))
    else:
        raw = load_arrays(data_cfg["train"], data_cfg.get("y_train"))
    train = check_dataset(raw, config.model, loss)
    validation = None
    if data_cfg.get("validation"):
        validation = check_dataset(load_arrays(data_cfg["validation"], data_cfg.get("y_validation")), config.model,
                                   loss)
    elif data_cfg.get("validation_split"):
        train, validation = split_validation(train, data_cfg["validation_split"],
                                             config.model.batch_size if config.model.stateful else 1)
    if config.model.stateful:
        batch = config.model.batch_size
        train = fit_to_batches(train, batch, data_cfg["remainder"], "training")
        if validation is not None:
            validation = fit_to_batches(validation, batch, data_cfg["remainder"], "validation")
    return train, validation


def _comparable(resolved: dict) -> dict:
    copy = json.loads(json.dumps(resolved))
    (copy.get("training") or {}).pop("nb_epoch", None)
    return copy


def config_difference(old: dict, new: dict) -> str:
    """A unified diff of two resolved configs, ignoring ``training.nb_epoch`` (extending a run is allowed)."""
    a = yaml.safe_dump(_comparable(old), sort_keys=True).splitlines()
    b = yaml.safe_dump(_comparable(new), sort_keys=True).splitlines()
    return "\n".join(difflib.unified_diff(a, b, "run config", "new config", lineterm="", n=1))


def train(config_path: Path, run_path: Path, *, overrides: list[str] | None = None, resume: bool = False,
          force: bool = False, device_spec: str = "auto", reporter: Any = None, argv: list[str] | None = None,
          mixed_precision: bool = False) -> TrainResult:
    """Train ``config_path`` into ``run_path`` (a new run, or ``resume`` one)."""
    from rnncli.device import describe_device, resolve_device

    from rnncli import distribute as dist

    config = load_config(config_path, require_training=True, overrides=overrides)
    distribute = config.training["distribute"]
    chief = dist.is_chief() if distribute == "multi_worker" else True
    source_run = RunDir(run_path)
    if chief and source_run.exists() and not (resume or force):
        raise UserInputError(f"{source_run.path} is not empty; use --resume to continue that run or --force to start "
                             f"over in it (its checkpoints will be replaced)")
    if resume and not source_run.config_path.exists():
        raise UserInputError(f"{source_run.path}: nothing to resume (not a run directory); drop --resume to start "
                             f"a new run")
    train_data, validation = _load_data(config)
    tf = prepare_tensorflow(config.training["deterministic"], distribute, config.training["devices"])
    strategy = dist.current()
    if strategy is not None and config.training["batch_size"] % strategy.num_replicas_in_sync:
        raise UserInputError(f"training.batch_size {config.training['batch_size']} is not divisible by the "
                             f"{strategy.num_replicas_in_sync} replicas of `distribute: {distribute}`")
    device = resolve_device(device_spec) if strategy is None else "strategy"
    device_text = describe_device(device) if strategy is None else dist.describe(strategy)
    if mixed_precision:
        from rnncli.device import enable_mixed_precision

        enable_mixed_precision(device if strategy is None else "/GPU:0")
        device_text += ", mixed precision (float16 compute, float32 variables, dynamic loss scaling)"
    # Only the chief writes into the run; other workers save into a scratch folder (all must take part in saves).
    run = source_run if chief else RunDir(tempfile.mkdtemp(prefix="rnncli-worker-"))
    with (RunLock(run.path) if chief else contextlib.nullcontext()):
        notes: list[str] = []
        if resume:
            old = run.read_resolved()
            diff = config_difference(old, config.resolved())
            if diff and not force:
                raise UserInputError(f"the config changed since {run.path} started (only --epochs/nb_epoch may change "
                                     f"on --resume); use --force to resume anyway:\n{diff}")
        elif force and run.checkpoints.exists():
            shutil.rmtree(run.checkpoints)
            run.history_path.unlink(missing_ok=True)
        from rnncli.training.loop import Engine, SilentReporter, run_training

        with (tf.device(device) if strategy is None else contextlib.nullcontext()):
            engine = Engine(config, strategy=strategy, loss_scaling=mixed_precision,
                            **_jit_plan(config, len(train_data), source_run if resume else None))
            manager, best = _managers(engine, run, config.training["checkpoint"])
            start_epoch = 0
            history: list[dict] = []
            source = manager if chief else _managers(engine, source_run, config.training["checkpoint"])[0]
            if resume and not source.checkpoints:
                notes.append("no epoch was completed before: starting at epoch 1")
            elif resume:
                restored, skipped = restore_latest(engine, source)
                notes += skipped
                start_epoch = int(engine.loop.epoch.numpy())
                history = json.loads(engine.loop.history_json.numpy().decode() or "[]")
                run.write_history(history)
                notes.append(f"resumed from {restored} (epoch {start_epoch})")
            run.write_config(config_path.read_text(encoding="utf-8"), config.resolved())
            if train_data.vocab is not None:
                atomic_write_text(run.path / "vocab.json", json.dumps({"vocab": train_data.vocab}) + "\n")
            info = run.read_run_json() if resume else {}
            info.update(_provenance(config, config_path, device, device_text, argv, engine))
            info["distribute"] = dist.describe(strategy)
            info["overrides"] = list(overrides or [])
            info.setdefault("started", _now())
            info["status"] = "running"
            run.write_run_json(info)
            reporter = reporter or SilentReporter()
            reporter.train_begin({"run_dir": str(source_run.path), "device": device_text,
                                  "train_samples": len(train_data),
                                  "validation_samples": len(validation) if validation is not None else 0,
                                  "epochs": config.training["nb_epoch"], "start_epoch": start_epoch,
                                  "stateful": config.model.stateful, "jit_compile": engine.jit_compile,
                                  "notes": notes})

            def record(row: dict) -> None:
                history.append(row)
                engine.loop.history_json.assign(json.dumps(history))

            every = config.training["checkpoint"]["every_n_epochs"]

            def save(row: dict, is_best: bool, last: bool) -> None:
                # The checkpoint (which holds the history too) is written before history.csv, and Ctrl-C waits
                # until both are complete, so the CSV never runs ahead of the newest checkpoint.
                with deferred_interrupts():
                    if last or row["epoch"] % every == 0:
                        manager.save()
                        run.write_history(history)
                    if is_best:
                        best.save()

            try:
                run_training(engine, train_data, validation, config.training["nb_epoch"], reporter, save,
                             record)
            except KeyboardInterrupt:
                info.update(status="interrupted", ended=_now())
                run.write_run_json(info)
                raise
            except BaseException:
                info.update(status="failed", ended=_now())
                run.write_run_json(info)
                raise
            info.update(status="finished", ended=_now(), epochs_completed=int(engine.loop.epoch.numpy()))
            run.write_run_json(info)
    if not chief:
        shutil.rmtree(run.path, ignore_errors=True)
    return TrainResult(source_run.path, history, device_text, start_epoch, notes)


def _jit_plan(config: Config, train_samples: int, resumed: RunDir | None) -> dict:
    """Engine arguments that settle ``jit_compile: auto`` for a run: from the steps the config plans, or, on
    resume, the choice recorded in run.json (XLA and the plain graph round differently; a resumed run must not
    switch, or it would stop being bit-identical to an uninterrupted one)."""
    import math

    if config.training.get("jit_compile", "auto") != "auto":
        return {}
    recorded = resumed.read_run_json().get("jit_compile") if resumed is not None else None
    if isinstance(recorded, bool):
        return {"jit_compile": recorded}
    steps = math.ceil(train_samples / config.training["batch_size"]) * config.training["nb_epoch"]
    return {"expected_steps": steps}


def _inference_compiles(engine: Any, config: Config, samples: int, batch_size: int) -> bool:
    """XLA for this predict/evaluate call only when its batches pay for the compilation."""
    import math

    from rnncli.training.compile_policy import worth_compiling

    return engine.predict_jit_compile and worth_compiling(config.model, batch_size,
                                                          math.ceil(samples / batch_size), "infer")


def _provenance(config: Config, config_path: Path, device: str, device_text: str, argv: list[str] | None,
                engine: Any) -> dict:
    import tensorflow as tf

    return {
        "rnncli": __version__,
        "tensorflow": tf.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "device": device,
        "device_description": device_text,
        "seed": config.seed,
        "command": argv if argv is not None else sys.argv,
        "config": str(config_path.resolve()),
        "config_git_commit": _git_commit(config_path.resolve().parent),
        "jit_compile": engine.jit_compile,
        "stateful": config.model.stateful,
    }


def _managers(engine: Any, run: RunDir, checkpoint_cfg: dict) -> tuple[Any, Any]:
    import tensorflow as tf

    keep = 1 if checkpoint_cfg["save_best_only"] else checkpoint_cfg["keep"]
    manager = tf.train.CheckpointManager(engine.checkpoint, str(run.checkpoints), max_to_keep=keep)
    best = tf.train.CheckpointManager(engine.checkpoint, str(run.best_checkpoints), max_to_keep=1)
    return manager, best


def restore_latest(engine: Any, manager: Any) -> tuple[str, list[str]]:
    """Restore the newest intact checkpoint; returns (path, notes about skipped corrupt ones)."""
    notes = []
    candidates = list(reversed(manager.checkpoints))
    if not candidates:
        raise UserInputError(f"{manager.directory}: no checkpoint found (has the run finished an epoch?)")
    for path in candidates:
        try:
            status = engine.essential.restore(path)
            status.assert_existing_objects_matched()
            status.expect_partial()  # the loop counters are restored next, from the same file
            engine.counters.restore(path).expect_partial()
            return path, notes
        except Exception as exc:  # a damaged file fails in many ways (OpError, IndexError, ValueError, ...)
            reason = str(exc).splitlines()[0][:200]
            notes.append(f"checkpoint {path} is unreadable ({reason}); falling back to an older one")
    raise RunError(f"{manager.directory}: every checkpoint is unreadable: " + "; ".join(notes))


@dataclass
class LoadedRun:
    run: RunDir | None
    config: Config
    engine: Any
    manager: Any
    checkpoint_path: str | None
    notes: list[str]
    lock: RunLock | None = None

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()


def load_source(source: Path, checkpoint: str = "latest", device_spec: str = "auto", lock: bool = False
                ) -> LoadedRun:
    """A run directory (restored from its latest or best checkpoint) or a config file (fresh weights).

    With ``lock``, the run is locked before it is read (the caller releases ``LoadedRun.lock``), so two commands
    that write states back cannot both start from the same states.
    """
    from rnncli.device import resolve_device

    if checkpoint not in ("latest", "best"):
        raise UserInputError(f"--checkpoint must be `latest` or `best`, got {checkpoint!r}")
    if source.is_dir():
        run = RunDir(source)
        run.require_run()
        info = run.read_run_json()
        # the weights come from the checkpoint: data and weights files need not exist any more
        config = load_config(run.config_path, overrides=info.get("overrides") or [],
                             base_dir=Path(info.get("config", str(run.config_path))).parent, check_files=False)
        tf = prepare_tensorflow(False)
        device = resolve_device(device_spec)
        from rnncli.training.loop import Engine

        held = RunLock(run.path) if lock else None
        if held:
            held.acquire()
        try:
            with tf.device(device):
                engine = Engine(config, weight_files=False)
            manager, best = _managers(engine, run, (config.training or {}).get("checkpoint") or
                                      {"keep": 3, "save_best_only": False})
            path, notes = restore_latest(engine, best if checkpoint == "best" else manager)
        except BaseException:
            if held:
                held.release()
            raise
        return LoadedRun(run, config, engine, manager, path, notes, held)
    config = load_config(source)
    tf = prepare_tensorflow(False)
    from rnncli.training.loop import Engine

    with tf.device(resolve_device(device_spec)):
        engine = Engine(config, jit_compile=False)
    return LoadedRun(None, config, engine, None, None, [])


def read_input(path: Path, config: Config) -> np.ndarray:
    data = load_arrays(path, need_y=False)
    return check_dataset(Dataset(data.x, None, data.source), config.model, None).x


def predict(source: Path, input_path: Path, *, output_path: Path | None = None, batch_size: int | None = None,
            checkpoint: str = "latest", save_states: bool = True, device_spec: str = "auto"
            ) -> tuple[np.ndarray, list[str]]:
    """Outputs for ``input_path`` (written to ``output_path`` when given). A stateful run starts from its saved
    states and, after the output is safely written, saves the final states back as its newest checkpoint."""
    if output_path is not None:
        check_output_path(output_path)
    stateful_run = source.is_dir() and save_states
    loaded = load_source(source, checkpoint, device_spec, lock=stateful_run)
    try:
        config, engine = loaded.config, loaded.engine
        x = read_input(input_path, config)
        plan = config.model
        notes = list(loaded.notes)
        if plan.stateful:
            if batch_size is not None and batch_size != plan.batch_size:
                raise UserInputError(f"--batch-size {batch_size} differs from the stateful model's batch size "
                                     f"{plan.batch_size} (its states have one row per stream)")
            batch_size = plan.batch_size
            if len(x) % batch_size:
                raise DataError(f"{input_path}: a stateful model with batch size {batch_size} needs a number of "
                                f"samples divisible by {batch_size} (one row per stream); the input has {len(x)}")
        else:
            batch_size = batch_size or (config.training or {}).get("batch_size", 32)
        outputs = engine.predict(x, batch_size, _inference_compiles(engine, config, len(x), batch_size))
        outputs = outputs.astype(np.float32)
        if output_path is not None:
            write_output(outputs, output_path)
        if plan.stateful and stateful_run:
            if checkpoint == "best":
                notes.append("states not saved: they were read from the best checkpoint, and saving them as the "
                             "newest would rewind the run (use --checkpoint latest to stream)")
            else:
                with deferred_interrupts():
                    loaded.manager.save()
                names = ", ".join(layer.layer_name for layer in engine.model.stateful_layers())
                notes.append(f"saved the final states of {names} into {loaded.run.path}")
    finally:
        loaded.release()
    return outputs, notes


def check_output_path(path: Path) -> None:
    if path.suffix.lower() not in (".npy", ".csv"):
        raise UserInputError(f"--output must end in .npy or .csv, got {path}")
    if not path.parent.exists():
        raise UserInputError(f"--output: folder {path.parent} does not exist")


def write_output(array: np.ndarray, path: Path) -> None:
    """``.npy`` or ``.csv`` by extension, replaced atomically."""
    import io

    check_output_path(path)
    if path.suffix.lower() == ".npy":
        buffer = io.BytesIO()
        np.save(buffer, array)
        atomic_write_bytes(path, buffer.getvalue())
    else:
        flat = array.reshape(len(array), -1)
        atomic_write_text(path, "\n".join(",".join(f"{v:.8g}" for v in row) for row in flat) + "\n")


def evaluate(source: Path, data_path: Path | None = None, device_spec: str = "auto") -> dict:
    loaded = load_source(source, "latest", device_spec)
    config, engine = loaded.config, loaded.engine
    if config.training is None:
        raise UserInputError("evaluate needs a `training:` section (the loss)")
    if data_path is not None:
        data = check_dataset(load_arrays(data_path), config.model, config.training["loss"])
    else:
        if config.data is None:
            raise UserInputError("no data: pass --data FILE")
        _, data = _load_data(config)
        if data is None:
            raise UserInputError("the config has no validation data; pass --data FILE")
    if config.model.stateful:
        data = fit_to_batches(data, config.model.batch_size, config.data["remainder"] if config.data else "error",
                              "evaluation")
    return engine.evaluate(data, compile_xla=_inference_compiles(engine, config, len(data),
                                                                  config.training["batch_size"]))


def reset_states(run_path: Path, layer: str | None = None) -> list[str]:
    """Zero the states of every stateful layer (or one) and save them into the run, keeping everything else."""
    loaded = load_source(run_path, "latest", "cpu", lock=True)
    try:
        model = loaded.engine.model
        names = [l.layer_name for l in model.stateful_layers()]
        if not names:
            raise UserInputError(f"{run_path}: the model has no stateful layer")
        if layer is not None and layer not in names:
            raise UserInputError(f"{run_path}: no stateful layer named `{layer}`; stateful layers: {', '.join(names)}")
        reset = model.reset_states(layer)
        with deferred_interrupts():
            loaded.manager.save()
    finally:
        loaded.release()
    return reset


def describe_states(run_path: Path) -> list[dict]:
    loaded = load_source(run_path, "latest", "cpu")
    rows = []
    for core in loaded.engine.model.stateful_cores():
        labels = ["h", "c"] if len(core.state_variables) == 2 else ["h"]
        for label, variable in zip(labels, core.state_variables):
            value = variable.numpy()
            rows.append({"layer": core.layer_name, "state": label, "shape": list(value.shape),
                         "norm": float(np.linalg.norm(value)),
                         "steps_since_reset": int(core.steps_since_reset.numpy())})
    if not rows:
        raise UserInputError(f"{run_path}: the model has no stateful layer")
    return rows


def export(run_path: Path, output: Path, fmt: str = "savedmodel", force: bool = False) -> list[str]:
    """Write a SavedModel with a ``predict`` signature (and ``reset_states`` for stateful models)."""
    if fmt != "savedmodel":
        raise UserInputError(f"unsupported export format {fmt!r}; supported: savedmodel")
    if output.exists() and any(output.iterdir()) and not force:
        raise UserInputError(f"{output} is not empty; choose another folder or pass --force to replace it")
    if not output.parent.exists():
        raise UserInputError(f"-o: folder {output.parent} does not exist")
    loaded = load_source(run_path, "latest", "cpu")
    import tensorflow as tf

    model = loaded.engine.model
    plan = loaded.config.model
    dtype = tf.int32 if plan.input_dtype == "int32" else tf.float32
    spec = tf.TensorSpec((plan.batch_size,) + tuple(plan.input_shape[1:]), dtype, name="x")

    class Exported(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        @tf.function(input_signature=[spec])
        def predict(self, x):
            y, _ = self.model(x, training=False)
            return {"y": y}

        @tf.function(input_signature=[])
        def reset_states(self):
            for variable in self.model.state_variables:
                variable.assign(tf.zeros_like(variable))
            return {"reset": tf.constant(len(self.model.state_variables))}

    module = Exported()
    signatures = {"serving_default": module.predict, "predict": module.predict}
    if plan.stateful:
        signatures["reset_states"] = module.reset_states
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        tf.saved_model.save(module, str(staging), signatures=signatures)
        if output.exists():
            shutil.rmtree(output)
        os.replace(staging, output)  # the export appears complete or not at all
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(signatures)
