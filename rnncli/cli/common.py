"""What every command of the ``rnncli`` command line shares: the consoles, error handling and exit codes, and the
options several commands take (``--device``, ``--checkpoint``, the data shorthands)."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any, Callable

import click

from rnncli.errors import ConfigError, RnncliError
from rnncli.cli.reporting import PipeTolerantConsole

stderr = PipeTolerantConsole(stderr=True, highlight=False, soft_wrap=True)
stdout = PipeTolerantConsole(highlight=False, soft_wrap=True)


def exit_code_of(interrupt: KeyboardInterrupt) -> int:
    """130 for Ctrl-C, 143 for SIGTERM (128 + the signal number, as shells report them)."""
    return getattr(interrupt, "exit_code", 130)


def handle_errors(func: Callable) -> Callable:
    """Turn rnncli errors into messages and exit codes; Ctrl-C into exit 130; never a traceback for user errors.
    A write that failed on a full, read-only or forbidden disk (an ``OSError``, or TensorFlow's error of a C++
    write) is one line naming the path and the reason, exit 1 (``rnncli.runs.faults``)."""

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
        except KeyboardInterrupt as exc:
            from rnncli.platform.runtime import Terminated

            stderr.print("terminated" if isinstance(exc, Terminated) else "interrupted", markup=False)
            sys.exit(exit_code_of(exc))
        except Exception as exc:  # a bug in rnncli: one line for the user, the traceback on request
            from rnncli.runs.faults import storage_error

            storage = storage_error(exc, writing=False)  # a full, read-only or forbidden disk is no bug: say which
            # path and why
            if storage is not None and not os.environ.get("RNNCLI_DEBUG"):
                stderr.print(f"error: {storage}", markup=False)
                sys.exit(storage.exit_code)
            if os.environ.get("RNNCLI_DEBUG"):
                raise
            stderr.print(f"internal error: {type(exc).__name__}: {exc}\nThis is a bug in rnncli; rerun with "
                         f"RNNCLI_DEBUG=1 for the traceback and report it.", markup=False)
            sys.exit(1)

    return wrapper


def check_device(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """--device callback: validate without importing TensorFlow."""
    from rnncli.platform.device import DeviceError, parse_device_spec

    try:
        parse_device_spec(value)
    except DeviceError as exc:
        raise click.BadParameter(str(exc)) from None
    return value.strip().lower()


checkpoint_option = click.option(
    "--checkpoint", type=click.Choice(["latest", "best"]), default="latest", show_default=True,
    help="Which checkpoint of the run: the newest, or the best by training.checkpoint.monitor (run.json `best`).")

device_option = click.option("--device", default="auto", show_default=True, metavar="auto|cpu|gpu|gpu:N",
                             callback=check_device, help="Where to run: auto picks GPU 0 when TensorFlow can use one.")


precision_option = click.option(
    "--precision", type=click.Choice(["float32", "mixed_bfloat16"]), default=None,
    help="Override training.precision: float32, or mixed_bfloat16 (bfloat16 matmuls and activations, float32 "
    "variables and states; CPUs with AVX512_BF16 or AMX). Checkpoints are the same in both.")


def data_options(command: Callable) -> Callable:
    """``--train/--y/--validation/--validation-y``: shorthands for the config's `data:` section."""
    data_file = click.Path(exists=True, dir_okay=False, path_type=Path)
    for flags, name, text in (
            (("--validation-y",), "validation_y", "Targets .npy of --validation (sets data.y_validation)."),
            (("--validation",), "validation_x", "Validation data: .npz, .csv, or an x .npy (sets data.validation)."),
            (("--y",), "train_y", "Targets .npy of --train (sets data.y_train)."),
            (("--train",), "train_x", "Training data: .npz, .csv, or an x .npy with --y (sets data.train).")):
        command = click.option(*flags, name, type=data_file, default=None, help=text)(command)
    return command
