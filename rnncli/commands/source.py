"""Where inference starts from: a run directory (weights from a checkpoint) or a config file (fresh weights)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rnncli.config.config import Config
from rnncli.config.validate import load_config
from rnncli.runs import RunLock, RunStore
from rnncli.runs.checkpoints import WHICH, Checkpoints
from rnncli.runs.faults import ADVICE, StorageError
from rnncli.platform.runtime import prepare_tensorflow
from rnncli.errors import UserInputError


@dataclass
class LoadedRun:
    """A restored model: its config and engine, and for a run directory its checkpoints and the one restored."""

    run: RunStore | None
    config: Config
    engine: Any
    checkpoints: Checkpoints | None
    checkpoint_path: str | None
    notes: list[str]
    lock: RunLock | None = None
    prepared: Any = None          # what ``before_tensorflow`` returned (the checked input data)

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()


def load_run_config(run: RunStore, overrides: list[str] | None = None) -> Config:
    """The config a run trained with (its weights come from the checkpoint: data and weights files need not exist
    any more), with the command line's ``overrides`` (``--set``) applied after the run's own."""
    run.require_run()
    info = run.read_run_json()
    return load_config(run.config_path, overrides=(info.get("overrides") or []) + list(overrides or []),
                       base_dir=Path(info.get("config", str(run.config_path))).parent, check_files=False)


def load_source(source: Path, checkpoint: str = "latest", device_spec: str = "auto", lock: bool = False,
                read_only_hint: str = "", before_tensorflow: Callable[[Config], Any] | None = None,
                overrides: list[str] | None = None, precision: str | None = None) -> LoadedRun:
    """A run directory (restored from its ``latest`` or ``best`` checkpoint) or a config file (fresh weights).

    With ``lock``, the run of a model with states is locked before it is read (the caller releases
    ``LoadedRun.lock``), so two commands that write states back cannot both start from the same states; a model
    without states is never written back, so it is not locked (``predict`` of a stateless run while it trains).
    The lock is taken before TensorFlow is imported, so a refusal is immediate. ``read_only_hint``: what the user
    can do instead when the run directory cannot be written (a read-only or forbidden folder).
    ``before_tensorflow(config)`` runs after the lock and before TensorFlow starts (reading and checking the input
    data, so a bad file is refused at once); its result is ``LoadedRun.prepared``. ``overrides`` are ``--set``
    values applied to the config (after a run's own). ``precision`` (``--precision``) overrides the config's
    ``training.precision``; checkpoints are the same in both, so either restores any run.
    """
    from rnncli.platform.device import resolve_device
    from rnncli.platform.precision import check_precision

    if checkpoint not in WHICH:
        raise UserInputError(f"--checkpoint must be `latest` or `best`, got {checkpoint!r}")
    if not source.is_dir():
        config = load_config(source, overrides=overrides)
        prepared = before_tensorflow(config) if before_tensorflow else None
        tf = prepare_tensorflow(False)
        from rnncli.training.graph_loop import make_engine

        device = resolve_device(device_spec)
        chosen = check_precision(precision or config.training_settings["precision"], device)
        with tf.device(device):
            engine = make_engine(config, jit_compile=False, precision=chosen)
        notes = [] if config.has_weight_files else [
            f"no trained weights: {source} is a config without `weights:` files, so the outputs come from its seeded "
            f"random initialisation (seed {config.seed}); pass a run directory to use trained weights"]
        return LoadedRun(None, config, engine, None, None, notes, prepared=prepared)
    run = RunStore(source)
    config = load_run_config(run, overrides)  # an imported architecture may have no `training:`: the declared defaults apply
    held = run.lock() if lock and config.model.stateful else None
    if held:
        try:
            held.acquire()
        except StorageError as exc:
            if not read_only_hint or exc.kind == "disk_full":
                raise
            raise StorageError(exc.kind, exc.path, exc.reason, f"{ADVICE[exc.kind]}; {read_only_hint}") from None
    try:
        prepared = before_tensorflow(config) if before_tensorflow else None
        tf = prepare_tensorflow(False)
        device = resolve_device(device_spec)
        chosen = check_precision(precision or config.training_settings["precision"], device)
        from rnncli.training.hooks import HookList, training_hooks
        from rnncli.training.graph_loop import make_engine

        with tf.device(device):
            engine = make_engine(config, weight_files=False, precision=chosen)
        # the hooks' state is restored and saved back with the rest (states written back by predict keep it)
        HookList(training_hooks(config.training_settings)).bind(engine)
        checkpoints = Checkpoints.for_run(engine.trackables(), run.checkpoints,
                                          config.training_settings["checkpoint"])
        path, notes = checkpoints.restore(checkpoint)
    except BaseException:
        if held:
            held.release()
        raise
    return LoadedRun(run, config, engine, checkpoints, path, notes, held, prepared)
