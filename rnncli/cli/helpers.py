"""Helpers of the command line that are not commands: the help listing, option overrides and where their errors
are reported, and the config behind a config file or a run directory."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any, Iterator

import click

from rnncli.errors import ConfigError


class Commands(click.Group):
    """Lists every command with its whole first sentence (click cuts it to one line of the terminal)."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


SET_HELP = ("Override a config value (repeatable; the value is YAML), as `train` takes it, e.g. --set "
            "training.loss=mse; list items by index; file paths are relative to the current directory.")


def model_config(source: Path, overrides: list[str] | None = None) -> Any:
    """The validated config of a config file, or of a run directory (as trained; its data files need not exist),
    with ``overrides`` (``--set`` values) applied (after a run's own)."""
    from rnncli.config.validate import load_config

    if not source.is_dir():
        return load_config(source, overrides=overrides)
    from rnncli.runs.store import RunStore

    run = RunStore(source)
    run.require_run()
    info = run.read_run_json() if run.run_json_path.exists() else {}
    return load_config(run.config_path, overrides=(info.get("overrides") or []) + list(overrides or []),
                       base_dir=Path(info.get("config", str(run.config_path))).parent, check_files=False)


def option_overrides(sets: tuple[str, ...], options: dict[str, tuple[str, Any]]) -> tuple[list[str], dict[str, str]]:
    """``--set`` values (file paths made absolute) plus the options that override config keys, and for each
    override how the user wrote it (``--batch-size 7``), so an error points at the right argument."""
    from rnncli.config.overrides import absolute_path_override

    result: list[str] = []
    origins: dict[str, str] = {}
    for text in sets:
        result.append(absolute_path_override(text))
        origins[f"--set {result[-1]}"] = f"--set {text}"
    for key, (option, value) in options.items():
        if value is not None:
            result.append(f"{key}={value}")
            origins[f"--set {result[-1]}"] = f"{option} {value}"
    return result, origins


@contextlib.contextmanager
def located_at_options(origins: dict[str, str]) -> Iterator[None]:
    """Report config errors caused by an option at that option, as the user typed it."""
    try:
        yield
    except ConfigError as exc:
        raise ConfigError([dataclasses.replace(d, file=origins.get(d.file, d.file)) for d in exc.diagnostics]) \
            from None
