"""``rnncli tune``: a hyperparameter search over a config's ``tune.space``, on Optuna, each trial an ordinary run.

Layout of a sweep directory::

    DIR/study.db              the Optuna study (SQLite; or --storage postgresql://... shared by several processes)
    DIR/configs/trial_N.yaml  the config of trial N: the base config with the trial's values, `tune:` removed
    DIR/trial_N/              trial N's run directory (config, history, checkpoints, TensorBoard logs, run.json)
    DIR/best.yaml             the best trial's config: `rnncli train DIR/best.yaml` trains that trial again
    DIR/logs/                 the HParams experiment (the sampled keys and the metric) for `tensorboard --logdir DIR`

A trial's value is its best epoch's value of ``tune.metric``; after every epoch the metric is reported to the
pruner (``ReportToTrial``). A trial cut by Ctrl-C, SIGTERM or SIGKILL stays RUNNING in the study; the next
``rnncli tune`` on this machine takes it over and resumes its run directory from the last checkpoint.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from rnncli.commands import tune_study as ts
from rnncli.config.overrides import effective_document
from rnncli.config.tune import candidates
from rnncli.config.validate import load_config
from rnncli.documents.yaml_loader import load_yaml
from rnncli.errors import ConfigError, Diagnostic, RnncliError, UserInputError
from rnncli.runs import RunStore
from rnncli.runs.files import atomic_write_text


class TuneReporter(Protocol):
    """What the CLI shows of a sweep (``rnncli.cli.tune``)."""

    def trial_begin(self, number: int, params: dict, resumed: bool) -> None: ...
    def trial_end(self, row: dict, total: int) -> None: ...
    def epoch_reporter(self) -> Any: ...


@dataclass
class TuneResult:
    sweep_dir: Path
    study_name: str
    storage: str                       # redacted URL
    metric: str
    direction: str
    rows: list[dict]                   # trial_rows(): best first
    best_config: Path | None = None
    ran: list[int] = field(default_factory=list)  # trial numbers this process ran (or resumed)
    stopped: str | None = None        # why this process stopped before the total ("timeout")


def trial_overrides(params: dict) -> list[str]:
    """``--set`` strings for a trial's values (JSON is YAML: floats keep every bit).

    >>> trial_overrides({"model.layers.0.output_dim": 8, "training.optimizer.lr": 0.1})
    ['model.layers.0.output_dim=8', 'training.optimizer.lr=0.1']
    """
    return [f"{path}={json.dumps(value)}" for path, value in params.items()]


def trial_document(config_path: Path, params: dict) -> dict:
    """The trial's config as plain data: the base config with its values set, paths absolute, no ``tune:``."""
    document = effective_document(config_path, trial_overrides(params))
    document.pop("tune", None)
    return document


def write_trial_config(path: Path, config_path: Path, number: int, params: dict) -> None:
    lines = [f"# rnncli tune: trial {number} of {config_path}"]
    lines += [f"#   {key} = {json.dumps(value)}" for key, value in params.items()]
    lines.append("# (an ordinary config: `rnncli train` on this file alone trains the trial again)")
    text = "\n".join(lines) + "\n" + yaml.safe_dump(trial_document(config_path, params), sort_keys=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)


def check_space_points(config_path: Path, tune: dict) -> None:
    """Validate the whole config at every bound and choice of every entry (one at a time, its ``when`` keys at
    their first allowed value), so a value that fits its key but not the model (a cell type the other keys do not
    suit, a size the data refuses) is refused before any trial, at the entry's FILE:LINE:COL."""
    raw = load_yaml(config_path)
    space = raw["tune"]["space"]
    problems: list[Diagnostic] = []
    for entry in tune["space"]:
        fixed = {path: values[0] for path, values in (entry["when"] or {}).items()}
        for label, value in candidates(entry):
            try:
                load_config(config_path, require_training=True,
                            overrides=trial_overrides({**fixed, entry["path"]: value}))
            except ConfigError as exc:
                mark = space.where(entry["path"])
                message = exc.diagnostics[0].message
                problems.append(Diagnostic(str(config_path), mark.line, mark.column,
                                           f"tune.space.{entry['path']}: {label} gives an invalid config: {message}"))
                break
    if problems:
        raise ConfigError(problems)


def _best_value(trial: Any, direction: str) -> float | None:
    values = [v for v in trial.storage.get_trial(trial._trial_id).intermediate_values.values() if not math.isnan(v)]
    if not values:
        return None
    return max(values) if direction == "maximize" else min(values)


def _fingerprint(config_path: Path, tune: dict) -> dict:
    base = effective_document(config_path)
    base.pop("tune", None)
    return {"config": base, "metric": tune["metric"], "direction": tune["direction"], "space": tune["space"],
            "sampler": tune["sampler"]}


class Sweep:
    """One process's part of a study: takes over orphaned trials, then asks for new ones until the total."""

    def __init__(self, config_path: Path, sweep_dir: Path, tune: dict, seed: int, url: str, name: str,
                 total: int, reporter: TuneReporter | None, argv: list[str] | None):
        self.config_path, self.sweep_dir, self.tune, self.url = config_path, sweep_dir, tune, url
        storage = ts.open_storage(url)
        self._claims: list = []
        self.seed = tune["sampler"]["seed"] if tune["sampler"]["seed"] is not None else seed
        self.storage, self.name, self.total = storage, name, total
        self.reporter, self.argv = reporter, argv
        self.study = ts.load_study(storage, name, tune, self.seed)

    def trial_dir(self, number: int) -> Path:
        return self.sweep_dir / f"trial_{number}"

    def next_trial(self) -> tuple[Any, bool] | None:
        """(trial, resumed): an orphaned trial of this machine first, else a new one; None at the total."""
        optuna = ts.optuna_module()
        state = optuna.trial.TrialState
        for frozen in self.study.get_trials(deepcopy=False, states=(state.RUNNING,)):
            if frozen.number < self.total and ts.orphaned(frozen):
                claimed = self._claim(frozen)
                if claimed is not None:
                    return claimed, True
        trial = self.study.ask()
        if trial.number >= self.total:
            self.study._storage.set_trial_state_values(trial._trial_id, state.WAITING)  # back in the queue, uncounted
            return None
        if RunStore(self.trial_dir(trial.number)).exists():  # left by another study in this directory
            self.study._storage.set_trial_state_values(trial._trial_id, state.WAITING)
            raise UserInputError(f"{self.trial_dir(trial.number)} already holds a run that is not trial "
                                 f"{trial.number} of study `{self.name}`; give this study its own sweep directory "
                                 f"(-o DIR)")
        trial.set_user_attr(ts.OWNER_ATTR, ts.this_process())
        return self._seeded(trial._trial_id, trial.number), False

    def _seeded(self, trial_id: int, number: int) -> Any:
        """The trial bound to a study whose sampler is seeded with the trial's number."""
        optuna = ts.optuna_module()
        grid = self.tune["sampler"]["name"] == "grid"  # its seed shuffles the grid once: the same for every trial
        self.study.sampler = ts.make_sampler(self.tune["sampler"], self.seed + (0 if grid else number),
                                             self.tune["space"])
        return optuna.trial.Trial(self.study, trial_id)

    def _claim(self, frozen: Any) -> Any:
        """Take over an orphaned trial (the lock of its claim file decides between two reruns)."""
        from rnncli.runs.files import RunLock

        lock = RunLock(self.sweep_dir / ".claims" / f"trial_{frozen.number}")
        try:
            lock.acquire()
        except RnncliError:
            return None
        self._claims.append(lock)
        fresh = self.study._storage.get_trial(frozen._trial_id)
        if fresh.state.name != "RUNNING" or not ts.orphaned(fresh):
            return None
        self.study._storage.set_trial_user_attr(frozen._trial_id, ts.OWNER_ATTR, ts.this_process())
        return self._seeded(frozen._trial_id, frozen.number)

    def run(self, timeout: float | None) -> TuneResult:
        started = time.monotonic()
        ran: list[int] = []
        stopped = None
        try:
            while True:
                if timeout is not None and time.monotonic() - started >= timeout:
                    stopped = "timeout"
                    break
                picked = self.next_trial()
                if picked is None:
                    break
                trial, resumed = picked
                self.run_trial(trial, resumed)
                ran.append(trial.number)
        finally:
            for lock in self._claims:
                lock.release()
        return self.result(ran, stopped)

    def run_trial(self, trial: Any, resumed: bool) -> None:
        from rnncli.commands.train import train
        from rnncli.commands.tune_hooks import ReportToTrial

        optuna = ts.optuna_module()
        state = optuna.trial.TrialState
        params = ts.sample(trial, self.tune["space"])
        config = self.sweep_dir / "configs" / f"trial_{trial.number}.yaml"
        run_dir = self.trial_dir(trial.number)
        store = RunStore(run_dir)
        if not config.exists():
            write_trial_config(config, self.config_path, trial.number, params)
        trial.set_user_attr("run_dir", str(run_dir))
        if self.reporter is not None:
            self.reporter.trial_begin(trial.number, params, resumed and store.has_checkpoint())
        hook = ReportToTrial(trial, self.tune["metric"])
        began = time.monotonic()
        if resumed and store.read_run_json().get("status") in ("finished", "pruned"):
            outcome = store.read_run_json()["status"]  # trained to the end before the cut: only the verdict is due
        else:
            try:
                train(config, run_dir, resume=store.has_checkpoint(), force=store.exists() and
                      not store.has_checkpoint(), reporter=self.reporter.epoch_reporter() if self.reporter else None,
                      argv=self.argv, extra_hooks=[hook])
            except RnncliError as exc:  # the trial failed (diverged, ...): the study goes on
                trial.set_user_attr("failure", str(exc).splitlines()[0][:500])
                self.study.tell(trial, state=state.FAIL)
                self._report_end(trial.number)
                return
            outcome = hook.outcome or "finished"
        trial.set_user_attr("train_seconds", round(time.monotonic() - began, 3))
        if outcome == "pruned":
            self.study.tell(trial, state=state.PRUNED)
        else:
            value = _best_value(trial, self.tune["direction"])
            if value is None:
                trial.set_user_attr("failure", f"no finite {self.tune['metric']} was reported")
                self.study.tell(trial, state=state.FAIL)
            else:
                self.study.tell(trial, value)
        self._report_end(trial.number)

    def _report_end(self, number: int) -> None:
        if self.reporter is None:
            return
        row = next((r for r in ts.trial_rows(self.study) if r["number"] == number), None)
        if row is not None:
            self.reporter.trial_end(row, self.total)

    def result(self, ran: list[int], stopped: str | None) -> TuneResult:
        rows = ts.trial_rows(self.study)
        best = write_best(self.study, self.sweep_dir, self.config_path)
        write_hparams_experiment(self.sweep_dir, self.tune)
        return TuneResult(self.sweep_dir, self.name, ts.redact(self.url), self.tune["metric"],
                          self.tune["direction"], rows, best, ran, stopped)


def write_best(study: Any, sweep_dir: Path, config_path: Path) -> Path | None:
    """``DIR/best.yaml``: the best finished trial's config, made from its values (it may have run in another
    process, on another machine); None while no trial has finished."""
    try:
        best = study.best_trial
    except ValueError:
        return None
    target = sweep_dir / "best.yaml"
    write_trial_config(target, config_path, best.number, dict(best.params))
    text = target.read_text(encoding="utf-8")
    header = f"# rnncli tune: the best trial ({best.number}) of study `{study.study_name}`, value {best.value!r}\n"
    atomic_write_text(target, header + text)
    return target


def write_hparams_experiment(sweep_dir: Path, tune: dict) -> None:
    """The HParams experiment of the sweep (its columns: the sampled keys, the metric), read by TensorBoard beside
    each trial's own session (``trial_N/logs``)."""
    from rnncli.platform.runtime import prepare_tensorflow

    tf = prepare_tensorflow()
    from tensorboard.plugins.hparams import summary_v2 as hp

    metric = tune["metric"]
    group, tag = ("validation", metric[4:]) if metric.startswith("val_") else ("train", metric)
    hparams = [hp.HParam(entry["path"]) for entry in tune["space"]]
    logdir = sweep_dir / "logs"
    shutil.rmtree(logdir, ignore_errors=True)
    writer = tf.summary.create_file_writer(str(logdir))
    with writer.as_default():
        hp.hparams_config(hparams=hparams, metrics=[hp.Metric(f"epoch_{tag}", group=group, display_name=metric)])
    writer.close()


def _prepare(config_path: Path, trials: int | None) -> tuple[Any, dict, int]:
    config = load_config(config_path, require_training=True)
    if config.tune is None:
        raise UserInputError(f"{config_path} has no `tune:` section: add `tune: {{space: {{PATH: {{int: [LOW, "
                             f"HIGH]}}}}}}` (see the README's Tuning section)")
    tune = config.tune
    total = trials if trials is not None else tune["trials"]
    if tune["sampler"]["name"] == "grid":
        total = min(total, ts.grid_size(tune["space"]))
    return config, tune, total


def tune(config_path: Path, sweep_dir: Path, *, trials: int | None = None, timeout: float | None = None,
         storage: str | None = None, study_name: str | None = None, reporter: TuneReporter | None = None,
         argv: list[str] | None = None) -> TuneResult:
    """Run (or continue) the study of ``config_path`` until it holds ``trials`` trials (``tune.trials``)."""
    config, tune_section, total = _prepare(config_path, trials)
    check_space_points(config_path, tune_section)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    url = ts.storage_url(sweep_dir, storage)
    name = study_name or config_path.stem
    from rnncli.platform.runtime import prepare_tensorflow

    training = config.training
    prepare_tensorflow(training["deterministic"], training["distribute"], training["devices"])  # before any import
    sweep = Sweep(config_path, sweep_dir, tune_section, config.seed, url, name, total, reporter, argv)
    ts.check_same_sweep(sweep.study, _fingerprint(config_path, tune_section), ts.redact(url))
    return sweep.run(timeout if timeout is not None else tune_section["timeout"])


def show(config_path: Path, sweep_dir: Path, *, storage: str | None = None, study_name: str | None = None
         ) -> TuneResult:
    """The study as it stands (``--show``): the trials table and ``best.yaml``, without running a trial."""
    config, tune_section, total = _prepare(config_path, None)
    url = ts.storage_url(sweep_dir, storage)
    if storage is None and not (sweep_dir / "study.db").exists():
        raise UserInputError(f"{sweep_dir}: no study here yet (no study.db); run `rnncli tune {config_path} -o "
                             f"{sweep_dir}` first")
    optuna = ts.optuna_module()
    name = study_name or config_path.stem
    try:
        study = optuna.load_study(study_name=name, storage=ts.open_storage(url))
    except KeyError:
        raise UserInputError(f"no study `{name}` in {ts.redact(url)}") from None
    best = write_best(study, sweep_dir, config_path) if sweep_dir.exists() else None
    return TuneResult(sweep_dir, name, ts.redact(url), tune_section["metric"], tune_section["direction"],
                      ts.trial_rows(study), best)
