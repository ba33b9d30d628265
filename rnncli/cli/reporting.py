"""Progress display for training (stderr): a rich progress bar on a terminal, one plain line per epoch otherwise."""

from __future__ import annotations

import io
import os
import time
from typing import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table


class PipeTolerantConsole(Console):
    """A closed pipe (``rnncli train ... 2>&1 | head -2``) silences this console instead of ending the command
    (rich's default exits): training goes on and finishes its run."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.file.fileno())  # later writes, and the flush at exit, go nowhere quietly
            os.close(devnull)
        except (OSError, ValueError, io.UnsupportedOperation):
            pass


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    finite = [v for v in values if v == v]
    if not finite:
        return ""
    low, high = min(finite), max(finite)
    span = (high - low) or 1.0
    return "".join(SPARK[min(len(SPARK) - 1, int((v - low) / span * (len(SPARK) - 1)))] for v in finite)


def interactive(console: Console, progress: bool | None) -> bool:
    if progress is not None:
        return progress
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        return False
    return console.is_terminal


def fmt_logs(logs: dict) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in logs.items() if isinstance(v, float) and k not in ("seconds",))


class ConsoleReporter:
    """Implements ``rnncli.training.hooks.Reporter`` for the CLI (driven by the ``Progress`` hook).

    On a terminal: a live bar per epoch, which says "compiling" until the first step has run (tracing and XLA
    compilation take seconds). Otherwise (CI, logs, pipes): one line per epoch, and a progress line within an
    epoch every ``every_seconds``.
    """

    def __init__(self, console: Console, progress: bool | None = None, every_seconds: float = 30.0,
                 clock: Callable[[], float] = time.monotonic):
        self.console = console
        self.live = interactive(console, progress)
        self.bar: Progress | None = None
        self.task = None
        self.every_seconds = every_seconds
        self.clock = clock
        self.stepped = False  # whether a training step has run (compiled) in this process
        self.batches = 0
        self.last_line = 0.0

    def train_begin(self, info: dict) -> None:
        header = (f"training in {info['run_dir']} on {info['device']}: {info['train_samples']} samples"
                  f", {info['validation_samples']} for validation, epochs {info['start_epoch'] + 1}..{info['epochs']}"
                  f", XLA {'on' if info['jit_compile'] else 'off'}")
        self.console.print(header, markup=False, highlight=False)
        if info["stateful"]:
            self.console.print("stateful model: batches are fed in order (row i of batch k+1 continues row i of "
                               "batch k); validation runs on its own zeroed copy of the states and never moves the "
                               "training states", markup=False, highlight=False)
        for note in info.get("notes", []):
            self.console.print(f"note: {note}", markup=False, highlight=False)

    def epoch_begin(self, epoch: int, epochs: int, batches: int) -> None:
        self.epoch, self.epochs, self.batches = epoch, epochs, batches
        self.last_line = self.clock()
        if self.live:
            columns = [TextColumn(f"epoch {epoch}/{epochs}"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("{task.fields[logs]}"), TimeElapsedColumn()]
            if self.stepped:
                columns.append(TimeRemainingColumn())
            self.bar = Progress(*columns, console=self.console, transient=True)
            self.bar.start()
            waiting = "" if self.stepped else "compiling the training step..."
            self.task = self.bar.add_task("train", total=batches, logs=waiting)

    def batch_end(self, batch: int, logs: dict) -> None:
        first = not self.stepped
        self.stepped = True
        if self.bar is not None:
            if first:  # compiled: show the time remaining from now on
                self.bar.columns = self.bar.columns + (TimeRemainingColumn(),)
            self.bar.update(self.task, advance=1, logs=fmt_logs(logs))
        elif batch + 1 < self.batches and self.clock() - self.last_line >= self.every_seconds:
            self.last_line = self.clock()
            self.console.print(f"epoch {self.epoch}/{self.epochs} batch {batch + 1}/{self.batches} {fmt_logs(logs)}",
                               markup=False, highlight=False)

    def epoch_end(self, epoch: int, logs: dict) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
        self.console.print(f"epoch {epoch}/{self.epochs} {fmt_logs(logs)} time={logs.get('seconds', 0):.2f}s",
                           markup=False, highlight=False)
        for message in logs.get("messages", []):
            self.console.print(f"  {message}", markup=False, highlight=False)


def print_table(console: Console, table: Table) -> None:
    """Print ``table``; without a terminal (a pipe, a log file) at its natural width, however wide, instead of
    squeezing it into 80 columns with every number elided (a log has no width to fit)."""
    if console.is_terminal:
        console.print(table)
        return
    wide = console.options.update_width(100_000)
    needed = console.measure(table, options=wide).maximum
    saved = console.width
    console.width = max(saved, needed, len(str(table.caption or "")), len(str(table.title or "")))
    try:
        console.print(table)
    finally:
        console.width = saved


def history_table(rows: list[dict], title: str = "History", best: dict | None = None) -> Table:
    """One row per epoch; ``best`` (``{"epoch", "monitor", "value"}`` from ``run.json``) marks the best epoch."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    caption = None
    if best and any(row.get("epoch") == best.get("epoch") for row in rows):
        caption = f"* best epoch: {best['epoch']} ({best['monitor']} {best['value']:.4g}; checkpoints/best)"
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    for column in columns:
        table.add_column(column, justify="right")
    for row in rows:
        cells = [(f"{row[c]:.4g}" if isinstance(row.get(c), float) else str(row.get(c, ""))) for c in columns]
        if caption and row.get("epoch") == best["epoch"]:
            cells[columns.index("epoch")] = f"* {row['epoch']}"
        table.add_row(*cells)
    return table


def history_csv(rows: list[dict]) -> str:
    """``rows`` as CSV text: a header of every column, then one line per epoch (empty header for no rows)."""
    import csv

    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    if columns:
        writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def curves(rows: list[dict]) -> list[str]:
    keys = [k for k in (rows[0] if rows else {}) if k not in ("epoch", "seconds", "lr")]
    return [f"{k:>14} {sparkline([r[k] for r in rows if k in r])}  {rows[0][k]:.4g} -> {rows[-1][k]:.4g}"
            for k in keys if k in rows[-1]]
