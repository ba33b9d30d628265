"""The ``rnncli`` command line: parses options and calls library functions; owns all printing and exit codes.

Exit codes: 0 success, 1 runtime failure, 2 invalid input (config, data, usage). TensorFlow is imported lazily,
only by commands that need it, so ``--help``, ``validate`` and ``summary`` start in a fraction of a second.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any, Callable

import click
from rich.console import Console

from rnncli import __version__
from rnncli.errors import ConfigError, RnncliError

stderr = Console(stderr=True, highlight=False, soft_wrap=True)
stdout = Console(highlight=False, soft_wrap=True)


def handle_errors(func: Callable) -> Callable:
    """Turn rnncli errors into messages and exit codes; Ctrl-C into exit 130; never a traceback for user errors."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            for diagnostic in exc.diagnostics:
                stderr.print(str(diagnostic), markup=False)
            sys.exit(exc.exit_code)
        except RnncliError as exc:
            stderr.print(f"error: {exc}", markup=False)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            stderr.print("interrupted", markup=False)
            sys.exit(130)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="rnncli")
def main() -> None:
    """rnncli: declarative training of Keras 1 style recurrent networks (SimpleRNN, GRU, LSTM) on TensorFlow.

    \b
    Example:
      rnncli validate configs/stateful_cosine.yaml
      rnncli train configs/stateful_cosine.yaml -o runs/cosine
      rnncli predict runs/cosine --input x.npy --output y.npy
    """


@main.command()
@click.argument("configs", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--quiet", "-q", is_flag=True, help="Print only errors.")
@handle_errors
def validate(configs: tuple[Path, ...], quiet: bool) -> None:
    """Check config files completely without building anything; report every error with FILE:LINE:COL.

    \b
    Example:
      rnncli validate configs/*.yaml
    Exit code 0 when every file is valid, 2 otherwise.
    """
    from rnncli.config.validate import load_config

    failed = False
    for path in configs:
        try:
            config = load_config(path)
        except ConfigError as exc:
            failed = True
            for diagnostic in exc.diagnostics:
                stderr.print(str(diagnostic), markup=False)
            continue
        if not quiet:
            plan = config.model
            stdout.print(f"{path}: ok ({len(plan.layers)} layers, {plan.params:,} parameters"
                         f"{', stateful' if plan.stateful else ''})", markup=False)
    if failed:
        sys.exit(2)


@main.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--device", default="cpu", show_default=True, type=click.Choice(["cpu", "gpu"]),
              help="Device the execution notes describe.")
@handle_errors
def summary(config_path: Path, device: str) -> None:
    """Print the model as a table: layers, output shapes, parameter counts, modes.

    \b
    Example:
      rnncli summary configs/addition.yaml
    """
    from rnncli.config.validate import load_config
    from rnncli.summary import summary_footer, summary_table

    config = load_config(config_path)
    stdout.print(summary_table(config.model, f"Model: {config_path}"))
    for line in summary_footer(config.model, device):
        stdout.print(line, markup=False)


if __name__ == "__main__":  # pragma: no cover
    main()
