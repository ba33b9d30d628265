"""The Optuna side of ``rnncli tune``: storage, study, samplers and pruners from a resolved ``tune:`` section, the
values a trial draws, who owns a running trial, and the rows of the trials table.

The study lives in Optuna's RDB storage: an SQLite file in the sweep directory by default, or any SQLAlchemy URL
(``postgresql://...``) that several ``rnncli tune`` processes share. Optuna numbers trials densely and uniquely
(it locks the study row while it creates one), which is what keeps the total exact: a process that is handed a
trial numbered ``--trials`` or above puts it back in the queue (``WAITING``) and stops.
"""

from __future__ import annotations

import json
import os
import random
import socket
import time
from pathlib import Path
from typing import Any

from rnncli.config.tune import grid_values
from rnncli.errors import UserInputError

OWNER_ATTR = "rnncli_owner"
CONFIG_ATTR = "rnncli_config"
UNOWNED_GRACE_S = 60.0  # a RUNNING trial with no owner yet (its process died right after creating it)


def optuna_module() -> Any:
    """Optuna, quiet (its INFO lines and experimental warnings are not ours to print)."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.logging.disable_default_handler()
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def storage_url(sweep_dir: Path, storage: str | None) -> str:
    """``--storage`` as given, or the sweep directory's SQLite file."""
    if storage:
        return storage
    return f"sqlite:///{(sweep_dir / 'study.db').resolve()}"


def open_storage(url: str) -> Any:
    """Optuna's RDB storage for ``url``; a clear error when the database cannot be reached."""
    optuna = optuna_module()
    kwargs: dict = {}
    if url.startswith("sqlite"):
        kwargs = {"connect_args": {"timeout": 60}}
    elif url.startswith("postgresql"):
        kwargs = {"pool_pre_ping": True}
    for attempt in range(5):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        except Exception as exc:  # SQLAlchemy and driver errors: the URL or the server, not a bug
            # several processes creating Optuna's tables in a new database at once collide; the next try finds them
            if attempt < 4 and "refused" not in str(exc) and "does not exist" not in str(exc):
                time.sleep(0.5 + random.random())
                continue
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserInputError(f"--storage {redact(url)}: cannot open the study database ({first})") from None
    raise AssertionError("unreachable")


def redact(url: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``.

    >>> redact("postgresql://me:pw@127.0.0.1:5432/s"), redact("sqlite:///x.db")
    ('postgresql://me:***@127.0.0.1:5432/s', 'sqlite:///x.db')
    """
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"


def make_sampler(spec: dict, seed: int, entries: list[dict]) -> Any:
    """The study's sampler; ``seed`` is the sampler seed plus the trial number, so a trial draws the same values
    whichever process runs it."""
    optuna = optuna_module()
    if spec["name"] == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if spec["name"] == "grid":
        return _Grid({e["path"]: grid_values(e) for e in entries}, seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=spec["startup_trials"])


def _grid_class() -> type:
    optuna = optuna_module()

    class Grid(optuna.samplers.GridSampler):
        """Optuna's grid, without its ``study.stop()`` once the grid is covered (that only works inside
        ``study.optimize``; here the total is capped at the grid's size instead)."""

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            pass

    return Grid


def _Grid(space: dict, seed: int) -> Any:
    return _grid_class()(space, seed=seed)


def grid_size(entries: list[dict]) -> int:
    size = 1
    for entry in entries:
        size *= len(grid_values(entry))
    return size


def make_pruner(spec: dict | None) -> Any:
    optuna = optuna_module()
    if spec is None:
        return optuna.pruners.NopPruner()
    if spec["name"] == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=spec["min_epochs"],
                                                      reduction_factor=spec["reduction_factor"])
    return optuna.pruners.MedianPruner(n_startup_trials=spec["startup_trials"], n_warmup_steps=spec["warmup_epochs"])


def load_study(storage: Any, name: str, tune: dict, seed: int) -> Any:
    """The study ``name`` (created when new) with the sampler for trial seed ``seed`` and the section's pruner."""
    optuna = optuna_module()
    return optuna.create_study(storage=storage, study_name=name, direction=tune["direction"], load_if_exists=True,
                               sampler=make_sampler(tune["sampler"], seed, tune["space"]),
                               pruner=make_pruner(tune["pruner"]))


def check_same_sweep(study: Any, fingerprint: dict, storage_text: str) -> None:
    """Record what the study tunes on first use; refuse to continue it with another config or space."""
    recorded = study.user_attrs.get(CONFIG_ATTR)
    text = json.dumps(fingerprint, sort_keys=True)
    if recorded is None:
        study.set_user_attr(CONFIG_ATTR, text)
        return
    if recorded != text:
        raise UserInputError(f"the study `{study.study_name}` in {storage_text} was started from another config or "
                             f"search space; continue it with that config, or start a new study (--study NAME or "
                             f"another -o DIR)")


def sample(trial: Any, entries: list[dict]) -> dict:
    """The trial's values, in space order; a ``when`` entry is drawn only when its condition holds (a trial
    resumed after an interrupt gets back the values it drew)."""
    params: dict[str, Any] = {}
    for entry in entries:
        when = entry["when"] or {}
        if any(params.get(path, object()) not in values for path, values in when.items()):
            continue
        path, kind = entry["path"], entry["kind"]
        if kind == "choice":
            params[path] = trial.suggest_categorical(path, entry["choices"])
        elif kind == "int":
            params[path] = trial.suggest_int(path, entry["low"], entry["high"], step=entry["step"], log=entry["log"])
        else:
            params[path] = trial.suggest_float(path, entry["low"], entry["high"], step=entry["step"],
                                               log=entry["log"])
    return params


# -- who runs a trial ------------------------------------------------------------------------------------------------

def _start_time(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[19]
    except (OSError, IndexError):
        return None


def this_process() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "start": _start_time(os.getpid())}


def _alive(owner: dict) -> bool:
    pid = owner.get("pid")
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return owner.get("start") is None or _start_time(pid) == owner.get("start")


def orphaned(trial: Any) -> bool:
    """Whether a RUNNING trial was left by a process of this machine that is gone (killed, interrupted). A trial of
    another machine is resumed by a rerun there, where its run directory is."""
    owner = trial.user_attrs.get(OWNER_ATTR)
    if owner is None:
        started = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
        return time.time() - started > UNOWNED_GRACE_S
    return owner.get("host") == socket.gethostname() and not _alive(owner)


# -- the table -------------------------------------------------------------------------------------------------------

def trial_rows(study: Any, run_dirs: dict[int, Path] | None = None) -> list[dict]:
    """One row per trial that ran or runs (not the queued ones), best first by the study's direction: number,
    values drawn, value, state, epochs, seconds."""
    optuna = optuna_module()
    state = optuna.trial.TrialState
    rows = []
    for trial in study.get_trials(deepcopy=False):
        if trial.state == state.WAITING:
            continue
        end = trial.datetime_complete
        seconds = (end - trial.datetime_start).total_seconds() if end and trial.datetime_start else None
        rows.append({"number": trial.number, "params": dict(trial.params), "value": trial.value,
                     "state": trial.state.name.lower(), "epochs": len(trial.intermediate_values),
                     "seconds": trial.user_attrs.get("train_seconds", seconds)})
    sign = -1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
    rows.sort(key=lambda r: (r["value"] is None, sign * r["value"] if r["value"] is not None else 0.0,
                             r["number"]))
    return rows
