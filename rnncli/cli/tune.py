"""``rnncli tune``: its options, its progress lines and the trials table (the sweep is ``rnncli.commands.tune``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from rnncli.cli.common import exit_code_of, handle_errors, stderr, stdout
from rnncli.cli.reporting import ConsoleReporter, interactive


def _values(params: dict) -> str:
    return " ".join(f"{title}={_short(v)}" for title, v in zip(headers(list(params)), params.values()))


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else json.dumps(value) if value is None else str(value)


def headers(paths: list[str]) -> list[str]:
    """Column titles of the sampled keys: the last part of each path, longer where two would read the same.

    >>> headers(["model.layers.0.output_dim", "model.layers.1.output_dim", "training.optimizer.lr"])
    ['0.output_dim', '1.output_dim', 'lr']
    """
    depth = {path: 1 for path in paths}
    while True:
        titles = {path: ".".join(path.split(".")[-depth[path]:]) for path in paths}
        clashes = {p for p in paths if list(titles.values()).count(titles[p]) > 1 and depth[p] < p.count(".") + 1}
        if not clashes:
            return [titles[p] for p in paths]
        for path in clashes:
            depth[path] += 1


def _number(value: Any) -> str:
    return "" if value is None else f"{value:.6g}"


class TuneConsole:
    """Progress of a sweep on stderr: on a terminal each trial's epochs as ``train`` shows them; one line per
    finished trial in any case."""

    def __init__(self, progress: bool | None):
        self.live = interactive(stderr, progress)

    def trial_begin(self, number: int, params: dict, resumed: bool) -> None:
        if self.live:
            stderr.print(f"trial {number}{' (resumed)' if resumed else ''}: {_values(params)}", markup=False)

    def trial_end(self, row: dict, total: int) -> None:
        seconds = f" {row['seconds']:.1f}s" if row.get("seconds") is not None else ""
        stderr.print(f"trial {row['number']}/{total} {row['state']} value={_number(row['value'])} "
                     f"epochs={row['epochs']}{seconds} {_values(row['params'])}", markup=False)

    def epoch_reporter(self) -> Any:
        return ConsoleReporter(stderr, True) if self.live else None


def trials_table(result: Any) -> Table:
    """The trials, best first: number, each sampled key, the metric, state, epochs, seconds."""
    keys: list[str] = []
    for row in result.rows:
        keys += [k for k in row["params"] if k not in keys]
    table = Table(title=f"Study {result.study_name} ({result.storage}): {len(result.rows)} trials, "
                  f"{result.direction} {result.metric}", title_justify="left")
    table.add_column("trial", justify="right")
    for title in headers(keys):
        table.add_column(title, justify="right")
    for column in (result.metric, "state", "epochs", "seconds"):
        table.add_column(column, justify="right")
    for row in result.rows:
        table.add_row(str(row["number"]), *[_short(row["params"][k]) if k in row["params"] else "-" for k in keys],
                      _number(row["value"]), row["state"], str(row["epochs"]),
                      "" if row["seconds"] is None else f"{row['seconds']:.1f}")
    return table


@click.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", "sweep_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Sweep directory: the study, trial_N/ run directories, best.yaml (default: runs/<config "
              "name>-tune).")
@click.option("--trials", type=click.IntRange(min=1), default=None,
              help="Trials of the study in all, over every process and rerun (default: tune.trials).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Start no new trial after S seconds (default: tune.timeout, else none).")
@click.option("--storage", default=None, metavar="URL",
              help="Optuna storage shared by several processes, e.g. postgresql://user:pw@host/db (default: "
              "sqlite in the sweep directory).")
@click.option("--study", "study_name", default=None, metavar="NAME", help="Study name (default: the config's name).")
@click.option("--show", is_flag=True, help="Print the trials table and write best.yaml without running trials.")
@click.option("--progress/--no-progress", default=None,
              help="Each trial's epochs as `train` shows them (default: on a terminal; else a line per trial).")
@handle_errors
def tune(config_path: Path, sweep_dir: Path | None, trials: int | None, timeout: float | None, storage: str | None,
         study_name: str | None, show: bool, progress: bool | None) -> None:
    """Search the hyperparameters of CONFIG's `tune:` section with Optuna; each trial is a run directory.

    \b
    Example:
      rnncli tune configs/tune/sunspots.yaml -o runs/sunspots-tune --trials 12
      rnncli tune configs/tune/sunspots.yaml -o runs/sunspots-tune --show
      rnncli train runs/sunspots-tune/best.yaml
    Ctrl-C, SIGTERM or SIGKILL, then the same command again, continues the study; a trial that was cut resumes
    from its last checkpoint.
    """
    from rnncli.commands import tune as sweep
    from rnncli.platform.runtime import terminate_as_interrupt

    sweep_dir = sweep_dir or Path("runs") / f"{config_path.stem}-tune"
    if show:
        result = sweep.show(config_path, sweep_dir, storage=storage, study_name=study_name)
    else:
        try:
            with terminate_as_interrupt():
                result = sweep.tune(config_path, sweep_dir, trials=trials, timeout=timeout, storage=storage,
                                    study_name=study_name, reporter=TuneConsole(progress), argv=sys.argv)
        except KeyboardInterrupt as exc:
            what = "terminated" if exit_code_of(exc) == 143 else "interrupted"
            stderr.print(f"{what}: the study keeps every finished trial and the cut one resumes from its last "
                         f"checkpoint; continue with the same command", markup=False)
            sys.exit(exit_code_of(exc))
        if result.stopped == "timeout":
            stderr.print("timeout: no new trial started; rerun the command to continue the study", markup=False)
    if not stdout.is_terminal:
        stdout.width = max(stdout.width, 200)  # a log or a pipe keeps whole rows
    stdout.print(trials_table(result))
    if result.best_config is not None:
        stdout.print(f"best config: {result.best_config} (rnncli train {result.best_config})", markup=False)
