"""``rnncli train``: config -> model -> data -> epochs with hooks -> run directory."""

from __future__ import annotations

import contextlib
import difflib
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rnncli.config.validate import load_config
from rnncli.config.overrides import effective_config_text
from rnncli.data.dataset import data_notes
from rnncli.data.sets import training_data
from rnncli.errors import DataError, UserInputError
from rnncli.runs import RunStore
from rnncli.runs.checkpoints import Checkpoints
from rnncli.runs.faults import StorageError
from rnncli.runs.provenance import provenance
from rnncli.platform.runtime import prepare_tensorflow
from rnncli.training.compile_policy import jit_plan


@dataclass
class TrainResult:
    run_dir: Path
    rows: list[dict]              # the whole history of the run
    device: str
    resumed_from_epoch: int = 0
    notes: list[str] = field(default_factory=list)
    best: dict | None = None      # {"epoch", "monitor", "value"} of the best checkpoint


# What a resumed run cannot take over from a changed config, even with --force: the checkpoint's weights and
# optimizer slots fit only the model and optimizer they were made for, and its random streams continue the seed.
FIXED_ON_RESUME = (("model",), ("seed",), ("training", "optimizer", "name"))


def _comparable(resolved: dict) -> dict:
    copy = json.loads(json.dumps(resolved))
    (copy.get("training") or {}).pop("nb_epoch", None)
    # the checkpoint is the same in either precision: a run resumes in float32 or mixed_bfloat16 freely
    (copy.get("training") or {}).pop("precision", None)
    return copy


def _with_new_defaults(old: dict, new: dict) -> dict:
    """``old`` plus the ``data``/``training`` keys an older rnncli did not know yet, where ``new`` holds them at
    their declared default: a run made before a key existed trained as if it had its default."""
    from rnncli.config.section_args import DATA_ARGS, TRAINING_ARGS

    filled = json.loads(json.dumps(old))
    for section, args in (("data", DATA_ARGS), ("training", TRAINING_ARGS)):
        old_section, new_section = filled.get(section), new.get(section)
        if not isinstance(old_section, dict) or not isinstance(new_section, dict):
            continue
        for arg in args:
            if arg.name not in old_section and arg.name in new_section and new_section[arg.name] == arg.default:
                old_section[arg.name] = new_section[arg.name]
    return filled


def config_difference(old: dict, new: dict) -> str:
    """A unified diff of two resolved configs, ignoring ``training.nb_epoch`` (extending a run is allowed),
    ``training.precision`` (checkpoints are the same in both) and keys
    that the run's rnncli did not have, at their defaults."""
    old = _with_new_defaults(old, new)
    a = yaml.safe_dump(_comparable(old), sort_keys=True).splitlines()
    b = yaml.safe_dump(_comparable(new), sort_keys=True).splitlines()
    return "\n".join(difflib.unified_diff(a, b, "run config", "new config", lineterm="", n=1))


def _at(resolved: dict, path: tuple[str, ...]) -> Any:
    value: Any = resolved
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    if path == ("model",) and isinstance(value, dict):  # `weights:` files only seed a fresh model
        value = {"layers": [{k: v for k, v in layer.items() if k != "weights"} for layer in value.get("layers", [])]}
    return value


def check_resume(old: dict, new: dict, force: bool, run: Path) -> None:
    """Refuse a changed config on ``--resume`` unless ``--force``; refuse what no resumed run can change."""
    diff = config_difference(old, new)
    if not diff:
        return
    fixed = [".".join(path) for path in FIXED_ON_RESUME if _at(old, path) != _at(new, path)]
    if fixed:
        raise UserInputError(f"the config changed since {run} started in what a resumed run cannot change "
                             f"({', '.join(fixed)}: the checkpoint holds weights and optimizer state for the old "
                             f"values); start a new run instead:\n{diff}")
    if not force:
        raise UserInputError(f"the config changed since {run} started (only --epochs/nb_epoch may change on "
                             f"--resume); use --force to resume anyway (the new training settings take effect):"
                             f"\n{diff}")


def apply_resume_changes(engine: Any, hooks: Any, old: dict, new: dict) -> list[str]:
    """Make a forced resume train as its new config says, where the checkpoint holds the old setting: the
    learning rate (a fine-tuning change), and what a hook watches (a new monitor or mode starts afresh).
    Unchanged, the restored values stay (a reduce_lr_on_plateau reduction continues)."""
    from rnncli.training.hooks import BestTracker, EarlyStopping, ReduceLROnPlateau

    notes = []
    old_lr = (_at(old, ("training", "optimizer")) or {}).get("lr")
    new_lr = new["training"]["optimizer"]["lr"]
    if old_lr != new_lr:
        restored = float(engine.optimizer.lr.numpy())
        engine.optimizer.lr.assign(new_lr)
        notes.append(f"learning rate set to {new_lr:g} (training.optimizer.lr changed; it was {restored:.6g})")
    for path, kind in ((("training", "checkpoint"), BestTracker),
                       (("training", "callbacks", "early_stopping"), EarlyStopping),
                       (("training", "callbacks", "reduce_lr_on_plateau"), ReduceLROnPlateau)):
        before, after = _at(old, path) or {}, _at(new, path) or {}
        hook = hooks.find(kind)
        if hook is not None and before and any(before.get(k) != after.get(k) for k in ("monitor", "mode")):
            hook.forget()
            notes.append(f"{'.'.join(path)}: now watching {after['monitor']} ({after['mode']}) from here on")
    return notes


def build_hooks(training: dict, reporter: Any, checkpoints: Checkpoints, run: RunStore, extra: list | None = None
                ) -> Any:
    """The run's epoch hooks: the config's (``training_hooks``), ``extra`` ones (``rnncli tune``'s pruning; they
    may stop training before the epoch is checkpointed), progress (with a reporter), then checkpoints. ``train``
    appends the ``run.json`` record once the attempt is recorded as running."""
    from rnncli.training.hooks import BestTracker, Checkpointing, History, HookList, Progress, training_hooks
    from rnncli.training.restore_best import RestoreBestWeights
    from rnncli.training.tensorboard import TensorBoard

    hooks = HookList(training_hooks(training) + list(extra or []))
    if reporter is not None:
        hooks.hooks.append(Progress(reporter))
    hooks.hooks.append(Checkpointing(checkpoints, run, hooks.find(History)))
    hooks.hooks.append(TensorBoard(run, training["log_every_n_batches"], training["log_histograms"]))
    if training["restore_best_weights"]:
        hooks.hooks.append(RestoreBestWeights(checkpoints, hooks.find(BestTracker)))
    return hooks


def _start_devices(training: dict, device_spec: str, mixed_precision: bool) -> tuple[Any, Any, str, str]:
    """Start TensorFlow for ``training``: (tf, strategy or None, device, its description)."""
    from rnncli.platform import distribute as dist
    from rnncli.platform.device import describe_device, enable_mixed_precision, resolve_device
    from rnncli.platform.precision import check_precision

    tf = prepare_tensorflow(training["deterministic"], training["distribute"], training["devices"])
    strategy = dist.current()
    if strategy is not None and training["batch_size"] % strategy.num_replicas_in_sync:
        raise UserInputError(f"training.batch_size {training['batch_size']} is not divisible by the "
                             f"{strategy.num_replicas_in_sync} replicas of `distribute: {training['distribute']}`")
    device = resolve_device(device_spec) if strategy is None else "strategy"
    device_text = describe_device(device) if strategy is None else dist.describe(strategy)
    if check_precision(training["precision"], device, mixed_precision) == "mixed_bfloat16":
        device_text += ", mixed_bfloat16 (bfloat16 matmuls and activations, float32 variables and states)"
    if mixed_precision:
        enable_mixed_precision(device if strategy is None else "/GPU:0")
        device_text += ", mixed precision (float16 compute, float32 variables, dynamic loss scaling)"
    return tf, strategy, device, device_text


def _resume(engine: Any, hooks: Any, source: Checkpoints, old: dict, new: dict, run: Path) -> list[str]:
    """Restore the newest intact checkpoint into ``engine`` and ``hooks`` and apply a forced resume's changes;
    returns notes for the user. Refuses a run that already reached the new target epoch."""
    if not source.exists():
        return ["no epoch was completed before: starting at epoch 1"]
    restored, notes = source.restore("latest")
    done, target = int(engine.loop.epoch.numpy()), new["training"]["nb_epoch"]
    if done >= target:
        raise UserInputError(f"{run} has already completed {done} epochs, and training.nb_epoch is {target}: "
                             f"nothing to train; pass --epochs N with N > {done} to continue")
    return notes + apply_resume_changes(engine, hooks, old, new) + [f"resumed from {restored} (epoch {done})"]


def train(config_path: Path, run_path: Path, *, overrides: list[str] | None = None, resume: bool = False,
          force: bool = False, device_spec: str = "auto", reporter: Any = None, argv: list[str] | None = None,
          mixed_precision: bool = False, extra_hooks: list | None = None, init_from: str | None = None
          ) -> TrainResult:
    """Train ``config_path`` into ``run_path`` (a new run, or ``resume`` one). ``extra_hooks`` join the run's
    hooks after the config's own; one with an ``outcome`` (e.g. ``"pruned"``) set at the end gives ``run.json``
    that status instead of ``finished``. ``init_from``: ``RUN[:latest|best]`` whose weights the new run starts
    from (``rnncli.commands.init_from``)."""
    from rnncli.platform import distribute as dist
    from rnncli.commands.init_from import imported_config_note, init_from as load_init_from, parse_init_from

    if init_from is not None:
        if resume:
            raise UserInputError("--init-from starts a new run from another run's weights; --resume continues this "
                                 "run from its own checkpoint: use one of them")
        parse_init_from(init_from)  # a bad argument fails before any data is read

    config = load_config(config_path, require_training=True, overrides=overrides)
    training = config.training
    assert training is not None
    distribute = training["distribute"]
    chief = dist.is_chief() if distribute == "multi_worker" else True
    store = RunStore(run_path)
    if chief and store.exists() and not (resume or force):
        raise UserInputError(f"{store.path} is not empty; use --resume to continue that run or --force to start "
                             f"over in it (its checkpoints will be replaced)")
    if resume and not store.config_path.exists():
        raise UserInputError(f"{store.path}: nothing to resume (not a run directory); drop --resume to start "
                             f"a new run")
    # Only the chief writes into the run; other workers save into a scratch folder (all must take part in saves).
    # The lock comes first, before the data are read and TensorFlow starts: a run in use is refused at once.
    run = store if chief else RunStore(tempfile.mkdtemp(prefix="rnncli-worker-"))
    with (run.lock() if chief else contextlib.nullcontext()):
        try:
            train_set, validation = training_data(config)
        except DataError as exc:
            if resume and chief:  # the attempt failed: say so in the run's record (a new run has none yet)
                store.record_failure(exc)
            raise
        tf, strategy, device, device_text = _start_devices(training, device_spec, mixed_precision)
        old = run.read_resolved() if resume else {}
        if resume:
            check_resume(old, config.resolved(), force, run.path)
        elif force:
            run.discard_training_state()
        from rnncli.training.hooks import History, RunRecord
        from rnncli.training.restore_best import RestoreBestWeights
        from rnncli.training.graph_loop import make_engine
        from rnncli.training.loop import fit

        with (tf.device(device) if strategy is None else contextlib.nullcontext()):
            recorded = run.read_run_json().get("jit_compile") if resume else None
            engine = make_engine(config, strategy=strategy, loss_scaling=mixed_precision,
                            **jit_plan(config, len(train_set), recorded))
            checkpoints = Checkpoints.for_run(engine.trackables(), run.checkpoints, training["checkpoint"])
            source = checkpoints if chief else Checkpoints.for_run(engine.trackables(), store.checkpoints,
                                                                   training["checkpoint"])
            hooks = build_hooks(training, reporter, checkpoints, run, extra_hooks)
            hooks.bind(engine)
            history = hooks.find(History)
            notes = list(config.notes) + data_notes(train_set, validation)  # config.notes: e.g. what a Keras
            # document held that rnncli does not carry over
            notes += _resume(engine, hooks, source, old, config.resolved(), store.path) if resume else []
            started_from = None
            if init_from is not None:
                init_notes, started_from = load_init_from(engine, init_from, device_spec)
                notes += init_notes
            elif not resume:
                note = imported_config_note(config_path, store.path)
                notes += [note] if note else []
            start_epoch = int(engine.loop.epoch.numpy())
            try:
                if history.rows:  # history.csv follows the checkpoint resumed from
                    run.write_history(history.rows)
                run.write_config(effective_config_text(config_path, overrides), config.resolved())
                if train_set.vocab is not None:
                    run.write_vocab(train_set.vocab)
                if (config.data or {}).get("series"):  # the statistics predict, evaluate, serve and export apply
                    from rnncli.data.normalization import write_normalization

                    write_normalization(run.path, train_set.normalization)
            except StorageError as exc:  # a full disk before the attempt is recorded: run.json says so
                run.record_failure(exc)
                raise
            info = provenance(config, config_path, device, device_text, argv, engine.jit_compile)
            info.update(distribute=dist.describe(strategy), overrides=list(overrides or []))
            if started_from is not None:
                info["init_from"] = started_from  # where the weights came from
            with run.status(info) as record:
                hooks.hooks.append(RunRecord(record, run))
                fit(engine, train_set, validation, training["nb_epoch"], hooks,
                    {"run_dir": str(store.path), "device": device_text, "train_samples": len(train_set),
                     "validation_samples": len(validation) if validation is not None else 0,
                     "stateful": config.model.stateful, "jit_compile": engine.jit_compile, "notes": notes})
                record["epochs_completed"] = int(engine.loop.epoch.numpy())
                outcome = next((h.outcome for h in extra_hooks or [] if getattr(h, "outcome", None)), None)
                if outcome:
                    record["final_status"] = outcome
                restorer = hooks.find(RestoreBestWeights)
                if restorer is not None and restorer.restored is not None:
                    record["restored_best_weights"] = restorer.restored
            best = record.get("best")
    if not chief:
        shutil.rmtree(run.path, ignore_errors=True)
    return TrainResult(store.path, history.rows, device_text, start_epoch, notes, best)

