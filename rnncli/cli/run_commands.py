"""The commands that inspect and use a finished run: ``history``, ``plot``, ``states``, ``reset-states``,
``export``, ``generate``, and ``doctor`` for the installation. Registered on the group in ``rnncli.cli.main``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from rnncli.cli.common import checkpoint_option, device_option, handle_errors, stderr, stdout

@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True,
              help='Print {"best": ..., "epochs": [one object per epoch]} as JSON on stdout instead of a table.')
@click.option("--csv", "as_csv", is_flag=True, help="Print the history as CSV (a header, one row per epoch).")
@handle_errors
def history(run_dir: Path, as_json: bool, as_csv: bool) -> None:
    """Show the per-epoch history of a run, with sparkline curves; `lr` is the learning rate in effect for the
    epoch's last step.

    \b
    Example:
      rnncli history runs/cosine
      rnncli history runs/cosine --csv > history.csv
    Without a terminal the table is printed at full width.
    """
    from rnncli.cli.reporting import curves, history_csv, history_table, print_table
    from rnncli.runs.store import RunStore

    if as_json and as_csv:
        from rnncli.errors import UserInputError

        raise UserInputError("--json and --csv exclude each other: pick one")
    run = RunStore(run_dir)
    run.require_run()
    rows = run.read_history()
    best = run.read_run_json().get("best")
    if as_json:
        import json

        click.echo(json.dumps({"best": best, "epochs": rows}))
        return
    if as_csv:
        click.echo(history_csv(rows), nl=False)
        return
    if not rows:
        stderr.print(f"{run_dir}: no completed epoch yet", markup=False)
        return
    print_table(stdout, history_table(rows, f"History of {run_dir}", best))
    for line in curves(rows):
        stdout.print(line, markup=False)


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="PNG file to write.")
@handle_errors
def plot(run_dir: Path, output: Path) -> None:
    """Draw train and validation curves for every loss and metric of a run (needs matplotlib).

    \b
    Example:
      rnncli plot runs/sunspots -o curves.png
    """
    from rnncli.commands.plot import plot_history
    from rnncli.runs.store import RunStore

    run = RunStore(run_dir)
    run.require_run()
    panels = plot_history(run.read_history(), output, f"rnncli run {run_dir}", run.best_epoch())
    stderr.print(f"wrote {output} ({', '.join(panels)})", markup=False)


@click.command("reset-states")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--layer", default=None, help="Only this stateful layer.")
@handle_errors
def reset_states_command(run_dir: Path, layer: str | None) -> None:
    """Zero the saved states of a stateful run (all layers or --layer); weights and optimizer are kept.

    \b
    Example:
      rnncli reset-states runs/cosine --layer lstm_1
    """
    from rnncli.commands.states import reset_states

    for name in reset_states(run_dir, layer):
        stdout.print(f"reset {name}", markup=False)


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@handle_errors
def states(run_dir: Path) -> None:
    """Show each stateful layer's state shapes, norms and steps since the last reset.

    \b
    Example:
      rnncli states runs/cosine
    """
    from rich.table import Table

    from rnncli.commands.states import describe_states

    table = Table(title=f"States of {run_dir}", title_justify="left")
    for column in ("layer", "state", "shape", "norm", "steps since reset"):
        table.add_column(column)
    for row in describe_states(run_dir):
        table.add_row(row["layer"], row["state"], str(tuple(row["shape"])), f"{row['norm']:.6g}",
                      str(row["steps_since_reset"]))
    stdout.print(table)


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["savedmodel", "tflite", "onnx"]), default="savedmodel",
              show_default=True, help="savedmodel: a folder; tflite, onnx (needs rnncli[onnx]): one file.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Folder (savedmodel) or file ending in .tflite / .onnx (missing parent folders are created).")
@click.option("--force", is_flag=True, help="Replace an existing output.")
@checkpoint_option
@handle_errors
def export(run_dir: Path, fmt: str, output: Path, force: bool, checkpoint: str) -> None:
    """Export a run as a TensorFlow SavedModel (`predict` signature; `reset_states` for stateful models), a TFLite
    or an ONNX model (inputs x and each state, outputs y and each next state).

    \b
    Example:
      rnncli export runs/cosine --format savedmodel -o exported/cosine
      rnncli export runs/cosine --format tflite -o cosine.tflite   # + cosine.states.npz
      rnncli export runs/addition --format onnx -o addition.onnx
      rnncli export runs/cosine --checkpoint best -o exported/cosine-best
    """
    from rnncli.commands.export import export as run_export

    lines = run_export(run_dir, output, fmt, force, checkpoint)
    stdout.print(f"exported {output} ({fmt})", markup=False)
    for line in lines:
        stdout.print(f"  {line}", markup=False)


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--prime", default="", help="Text to start from (its last window characters are used; a shorter one "
              "is left-padded with spaces).")
@click.option("--length", type=click.IntRange(min=0), default=400, show_default=True,
              help="Number of characters to generate.")
@click.option("--temperature", type=click.FloatRange(min=0, min_open=True), default=0.5, show_default=True,
              help="Sampling temperature: low is conservative, 1.0 samples the model's distribution.")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Seed of the sampling (same seed, same text).")
@click.option("--checkpoint", type=click.Choice(["latest", "best"]), default="latest", show_default=True,
              help="The newest checkpoint, or the best one by training.checkpoint.monitor.")
@device_option
@handle_errors
def generate(run_dir: Path, prime: str, length: int, temperature: float, seed: int | None, checkpoint: str,
             device: str) -> None:
    """Sample text from a character model trained on a .txt corpus (Keras 1 lstm_text_generation.py).

    \b
    Example:
      rnncli train configs/char_lm.yaml -o runs/char_lm
      rnncli generate runs/char_lm --prime "def format(self, text):" --length 400 --temperature 0.5 --seed 1
    Prints the prime text followed by the generated characters on stdout.
    """
    from rnncli.commands.generate import generate as sample_text
    from rnncli.commands.generate import load_char_model

    model = load_char_model(run_dir, checkpoint, device)
    for note in model.notes:
        stderr.print(f"note: {note}", markup=False)
    result = sample_text(model, prime, length, temperature, seed)
    click.echo(result.prime + result.text)


@click.command()
@click.option("--require-gpu", is_flag=True, help="Exit with status 1 unless at least one GPU runs a test matmul.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout instead of a table.")
@handle_errors
def doctor(require_gpu: bool, as_json: bool) -> None:
    """Show the TensorFlow build (CUDA, cuDNN), the devices it sees, and whether each GPU really computes.

    \b
    Example:
      rnncli doctor
      docker run --rm --gpus all rnncli doctor --require-gpu   # smoke test of the image
    Exit code 1 with --require-gpu when no GPU works, else 0.
    """
    import json

    from rnncli.platform import doctor as doctor_module
    from rnncli.platform.runtime import prepare_tensorflow

    prepare_tensorflow(False)
    report = doctor_module.collect()
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        stdout.print(doctor_module.render(report))
    if require_gpu and not report["gpu_usable"]:
        reason = report["hints"][0] if report["hints"] else "TensorFlow sees no GPU"
        stderr.print(f"error: --require-gpu: no usable GPU; {reason}", markup=False)
        sys.exit(1)
