"""The ``rnncli`` command line: parses options and calls library functions; owns all printing and exit codes.

Exit codes: 0 success, 1 runtime failure, 2 invalid input (config, data, usage). TensorFlow is imported lazily,
only by commands that need it, so ``--help``, ``validate`` and ``summary`` start in a fraction of a second.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import click

from rnncli import __version__
from rnncli.cli.common import (
    checkpoint_option,
    data_options,
    device_option,
    precision_option,
    exit_code_of,
    handle_errors,
    stderr,
    stdout,
)
from rnncli.cli.helpers import SET_HELP, Commands, located_at_options, model_config, option_overrides
from rnncli.cli.run_commands import doctor, export, generate, history, plot, reset_states_command, states
from rnncli.cli.serve import serve  # its options only: FastAPI and TensorFlow load when it runs
from rnncli.cli.tune import tune  # its options only: Optuna and TensorFlow load when it runs
from rnncli.errors import ConfigError
from rnncli.runs.faults import ADVICE, StorageError


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="rnncli")
@click.option("--no-cache", is_flag=True, help="Do not use or fill the persistent XLA compilation cache "
              "(same as RNNCLI_NO_CACHE=1; `rnncli doctor` shows where it is).")
def main(no_cache: bool) -> None:
    """rnncli: declarative training of Keras 1 style recurrent networks (SimpleRNN, GRU, LSTM) on TensorFlow.

    \b
    Example:
      rnncli validate configs/stateful_cosine.yaml
      rnncli train configs/stateful_cosine.yaml -o runs/cosine
      rnncli predict runs/cosine --input x.npy --output y.npy
    """
    if no_cache:
        os.environ["RNNCLI_NO_CACHE"] = "1"


@main.command()
@click.argument("configs", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--quiet", "-q", is_flag=True, help="Print only errors.")
@click.option("--resolved", is_flag=True, help="Print each valid config as YAML with every default filled in.")
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE", help=SET_HELP)
@handle_errors
def validate(configs: tuple[Path, ...], quiet: bool, resolved: bool, overrides: tuple[str, ...]) -> None:
    """Check config files completely, and the shapes of their data files, without TensorFlow; report every error
    with FILE:LINE:COL.

    \b
    Example:
      rnncli validate configs/*.yaml
      rnncli validate --resolved configs/addition.yaml
      rnncli validate model.json --set training.loss=mse
    Exit code 0 when every file is valid, 2 otherwise.
    """
    from rnncli.config.validate import load_config

    sets, origins = option_overrides(overrides, {})
    failed = False
    for path in configs:
        try:
            with located_at_options(origins):
                config = load_config(path, overrides=sets)
        except ConfigError as exc:
            failed = True
            for diagnostic in exc.diagnostics:
                stderr.print(str(diagnostic), markup=False)
            continue
        if resolved:
            import yaml

            click.echo(f"---\n# {path}, every default filled in\n"
                       + yaml.safe_dump(config.resolved(), sort_keys=False), nl=False)
        elif not quiet:
            plan = config.model
            stdout.print(f"{path}: ok ({len(plan.layers)} layers, {plan.params:,} parameters"
                         f"{', stateful' if plan.stateful else ''})", markup=False)
    if failed:
        sys.exit(2)


@main.command()
@click.argument("source", metavar="CONFIG|RUN", type=click.Path(exists=True, path_type=Path))
@click.option("--device", default="cpu", show_default=True, type=click.Choice(["cpu", "gpu"]),
              help="Device the execution notes describe.")
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE", help=SET_HELP)
@handle_errors
def summary(source: Path, device: str, overrides: tuple[str, ...]) -> None:
    """Print the model of a config file or a run directory as a table: layers, output shapes, parameters, modes.

    \b
    Example:
      rnncli summary configs/addition.yaml
      rnncli summary runs/addition
    """
    from rnncli.cli.reporting import print_table
    from rnncli.summary import summary_footer, summary_table

    sets, origins = option_overrides(overrides, {})
    with located_at_options(origins):
        config = model_config(source, sets)
    precision = (config.training or {}).get("precision", "float32")
    print_table(stdout, summary_table(config.model, f"Model: {source}", precision))
    for line in summary_footer(config.model, device, config.training):
        stdout.print(line, markup=False)



@main.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "run_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run directory (default: a new runs/<config name>/version_N; the newest with --resume).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Override training.nb_epoch.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Override training.batch_size.")
@click.option("--seed", type=click.IntRange(min=0, max=2**31 - 1), default=None, help="Override seed.")
@device_option
@click.option("--resume", is_flag=True, help="Continue the run in RUN_DIR from its last checkpoint.")
@click.option("--init-from", "init_from", default=None, metavar="RUN[:latest|best]",
              help="Start a new run from the weights of another (trained or imported) run, matched by layer name "
                   "and shape.")
@click.option("--force", is_flag=True, help="Overwrite a non-empty run directory / resume a changed config.")
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
              help="Override a config value (repeatable; the value is YAML). List items by index: --set "
              "model.layers.0.output_dim=64; file paths are relative to the current directory. "
              "E.g. --set training.optimizer.lr=0.01.")
@click.option("--distribute", type=click.Choice(["none", "mirrored", "multi_worker"]), default=None,
              help="Override training.distribute (multi_worker reads TF_CONFIG).")
@click.option("--mixed-precision", is_flag=True, help="float16 compute with float32 variables (GPU only).")
@precision_option
@click.option("--progress/--no-progress", default=None, help="Live progress bar (default: when on a terminal; otherwise a progress line every 30 s).")
@data_options
@handle_errors
def train(config_path: Path, run_dir: Path | None, epochs: int | None, batch_size: int | None, seed: int | None,
          device: str, resume: bool, force: bool, overrides: tuple[str, ...], distribute: str | None,
          mixed_precision: bool, precision: str | None, progress: bool | None, train_x: Path | None,
          train_y: Path | None, validation_x: Path | None, validation_y: Path | None,
          init_from: str | None = None) -> None:
    """Train a model described by CONFIG; checkpoints, history and provenance go to the run directory.

    \b
    Example:
      rnncli train configs/stateful_cosine.yaml -o runs/cosine --epochs 2
      rnncli train configs/stateful_cosine.yaml -o runs/cosine --resume --epochs 4
      rnncli train tuned.yaml -o runs/tuned --init-from runs/cosine:best
      rnncli train model.yaml --train x.npy --y y.npy --validation xv.npy --validation-y yv.npy
    Ctrl-C or SIGTERM keeps the last complete checkpoint and prints the command that resumes. The `lr` of each
    epoch's line and of the history is the learning rate of the epoch's last step.
    """
    from rnncli.commands.train import train as train_run
    from rnncli.cli.reporting import ConsoleReporter, curves, history_table, print_table
    from rnncli.platform.runtime import terminate_as_interrupt

    from rnncli.commands.data_flags import data_overrides

    data_sets, given = data_overrides(train_x, train_y, validation_x, validation_y)  # given: for a resume hint
    option_sets, origins = option_overrides(overrides, {"training.nb_epoch": ("--epochs", epochs),
                                                        "training.batch_size": ("--batch-size", batch_size),
                                                        "seed": ("--seed", seed),
                                                        "training.distribute": ("--distribute", distribute),
                                                        "training.precision": ("--precision", precision)})
    sets = data_sets + option_sets
    for flag, value in (("--epochs", epochs), ("--batch-size", batch_size), ("--seed", seed),
                        ("--distribute", distribute), ("--precision", precision),
                        ("--device", None if device == "auto" else device)):
        if value is not None:
            given += [flag, str(value)]
    given += [part for override in overrides for part in ("--set", override)]
    given += ["--mixed-precision"] if mixed_precision else []
    from rnncli.runs import versions

    numbered = run_dir is None
    if numbered:
        root = Path("runs") / config_path.stem
        run_dir = versions.latest_version(root) if resume else versions.new_version(root)
    reporter = ConsoleReporter(stderr, progress)
    try:
        with terminate_as_interrupt(), located_at_options(origins):
            result = train_run(config_path, run_dir, overrides=sets, resume=resume, force=force,
                               device_spec=device, reporter=reporter, argv=sys.argv,
                               mixed_precision=mixed_precision, init_from=init_from)
    except KeyboardInterrupt as exc:
        from rnncli.runs.store import RunStore

        what = "terminated" if exit_code_of(exc) == 143 else "interrupted"
        if RunStore(run_dir).has_checkpoint():
            hint = shlex.join(["rnncli", "train", str(config_path), "-o", str(run_dir), "--resume", *given])
            stderr.print(f"{what}: the last complete checkpoint in {run_dir} is intact; continue with:\n  {hint}",
                         markup=False)
        else:
            stderr.print(f"{what} before the first checkpoint was written: there is nothing to resume",
                         markup=False)
        sys.exit(exit_code_of(exc))
    except StorageError as exc:  # a full disk (or one made read-only) mid-run: say how to continue, on one line
        from rnncli.runs.store import RunStore

        if exc.kind != "disk_full" or not RunStore(run_dir).has_checkpoint():
            raise
        hint = shlex.join(["rnncli", "train", str(config_path), "-o", str(run_dir), "--resume", *given])
        raise StorageError(exc.kind, exc.path, exc.reason, f"{ADVICE[exc.kind]}; the last complete checkpoint in "
                           f"{run_dir} is intact, continue with: {hint}") from None
    finally:
        if numbered:
            versions.release_if_empty(run_dir)  # a start that failed before writing anything leaves no folder
    if result.rows:
        print_table(stderr, history_table(result.rows, "Training summary", result.best))
        for line in curves(result.rows):
            stderr.print(line, markup=False)
    stderr.print(f"run directory: {result.run_dir}", markup=False)


@main.command("import")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--weights", "-w", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Keras 1 save_weights() .h5 (loaded by position, as Keras 1 did).")
@click.option("-o", "--output", "run_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run directory to create.")
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
              help="Add or override a config value, e.g. --set data.train=x.npz --set training.loss=mse.")
@click.option("--force", is_flag=True, help="Replace a non-empty run directory.")
@click.option("--check", is_flag=True, help="After the import, run a forward pass and report the output range.")
@click.option("--check-input", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Inputs .npy for --check (implies --check); default: a small synthetic batch.")
@click.option("--check-output", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Outputs .npy recorded in the old environment on --check-input: report the max error, exit 1 "
                   "above --atol.")
@click.option("--atol", type=click.FloatRange(min=0.0), default=1e-5, show_default=True,
              help="Largest absolute error --check-output accepts.")
@handle_errors
def import_command(source: Path, weights: Path | None, run_dir: Path, overrides: tuple[str, ...], force: bool,
                   check: bool, check_input: Path | None, check_output: Path | None, atol: float) -> None:
    """Import a Keras 1, 2 or 3 model (model.save() .h5 or .keras, or to_json()/to_yaml() with --weights) as a run
    directory.

    \b
    Example:
      rnncli import model.h5 -o runs/imported
      rnncli import model.keras -o runs/imported --check-input x.npy --check-output y_keras.npy
      rnncli import model.json --weights weights.h5 -o runs/imported --set training.loss=mse
      rnncli predict runs/imported --input x.npy
    """
    from rnncli.commands.keras_import import import_keras1

    if check_output is not None and check_input is None:
        from rnncli.errors import UserInputError

        raise UserInputError("--check-output needs --check-input (the inputs the recorded outputs belong to)")

    result = import_keras1(source, run_dir, weights=weights, overrides=list(overrides), force=force, argv=sys.argv)
    for note in result.notes:
        stderr.print(f"note: {note}", markup=False)
    training = result.training
    loss = f", loss {training['loss']}, optimizer {training['optimizer']['name']}" if training else ""
    stderr.print(f"imported {source}: {result.layers} layers, {result.params:,} parameters"
                 f"{', weights from ' + result.weights_from if result.weights_from else ', no weights'}{loss}",
                 markup=False)
    stdout.print(f"run directory: {result.run_dir}", markup=False)
    if check or check_input is not None:
        from rnncli.commands.import_check import check_import

        report = check_import(result.run_dir, check_input, check_output, atol)
        for line in report.lines():
            stdout.print(line, markup=False)
        if not report.passed:
            sys.exit(1)


@main.command()
@click.option("--x", "x_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Inputs .npy: float [samples, timesteps, features] or integer token ids [samples, timesteps].")
@click.option("--y", "y_path", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Targets .npy: [samples], [samples, outputs] or [samples, timesteps, outputs]. Without --y, --x is "
                   "a long series (.csv with a header, .npy [steps, columns]) and the config windows it.")
@click.option("--cell", type=click.Choice(["SimpleRNN", "GRU", "LSTM"]), default="LSTM", show_default=True,
              help="Recurrent layer of the starter model.")
@click.option("--units", type=click.IntRange(min=1), default=32, show_default=True,
              help="Units of the recurrent layer (and size of an embedding).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("model.yaml"),
              show_default=True, help="Config file to write.")
@click.option("--force", is_flag=True, help="Replace an existing file.")
@handle_errors
def init(x_path: Path, y_path: Path | None, cell: str, units: int, output: Path, force: bool) -> None:
    """Write a commented starter config for two arrays, chosen from their shapes and values (or, with --x alone,
    for a long series: a windowed next-step forecast).

    \b
    Example:
      rnncli init --x x.npy --y y.npy --cell LSTM
      rnncli init --x sunspots.csv --cell GRU
      rnncli train model.yaml
    """
    from rnncli.commands.init import init_config

    notes: list[str] = []
    described = init_config(x_path, y_path, output, cell, units, force, notes)
    for note in notes:
        stderr.print(f"note: {note}", markup=False)
    stderr.print(f"wrote {output}: {described}\ntrain it with: rnncli train {shlex.quote(str(output))}",
                 markup=False)


@main.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--input", "-i", "input_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Input .npy, .npz (array x) or .csv.")
@click.option("--output", "-o", "output_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write outputs to .npy or .csv (default: a table on stdout).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Samples per inference batch (default: the config's training.batch_size, else 32; a stateful "
              "model uses its own).")
@click.option("--checkpoint", type=click.Choice(["latest", "best"]), default="latest", show_default=True,
              help="Run directories: the newest checkpoint, or the best one by training.checkpoint.monitor.")
@click.option("--no-save-states", is_flag=True, help="Stateful runs: do not write the final states back.")
@click.option("--classes", is_flag=True, help="Output class indices instead of scores: argmax over several units, "
              "score > 0.5 for one unit (Keras 1 predict_classes); a graph's, of each output.")
@device_option
@precision_option
@handle_errors
def predict(source: Path, input_path: Path, output_path: Path | None, batch_size: int | None, checkpoint: str,
            no_save_states: bool, classes: bool, device: str, precision: str | None) -> None:
    """Run inference with a run directory (trained weights) or a config file (its `weights:`/seeded init).

    \b
    Example:
      rnncli predict runs/cosine --input chunk.npy --output y.npy
      rnncli predict runs/addition --input x.npy --classes --output classes.csv
    A .csv output starts with a header line (y_0, y_1, ... or class). Stateful runs start from their saved
    states and save the final ones back (unless --no-save-states).
    """
    from rnncli.commands.infer import predict as run_predict

    outputs, notes = run_predict(source, input_path, output_path=output_path, batch_size=batch_size,
                                 checkpoint=checkpoint, save_states=not no_save_states, device_spec=device,
                                 classes=classes, precision=precision)
    for note in notes:
        stderr.print(f"note: {note}", markup=False)
    if isinstance(outputs, dict):  # a graph's named outputs: an .npz, or one block per output on stdout
        shapes = ", ".join(f"{name} {value.shape}" for name, value in outputs.items())
        if output_path is not None:
            stderr.print(f"wrote {output_path} ({shapes})", markup=False)
            return
        for name, value in outputs.items():
            stdout.print(f"# {name}", markup=False)
            for row in value.reshape(len(value), -1).tolist():
                stdout.print(" ".join(f"{v:d}" if classes else f"{v:.6g}" for v in row), markup=False)
        return
    if output_path is not None:
        stderr.print(f"wrote {output_path} {outputs.shape}", markup=False)
    else:
        flat = outputs.reshape(len(outputs), -1)
        cell = "{:d}" if classes else "{:.6g}"
        for row in flat.tolist():
            stdout.print(" ".join(cell.format(v) for v in row), markup=False)


@main.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--data", "data_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Evaluate on this file (.npz with x and y, .csv, or an x .npy with --y) instead of the run's "
              "validation data.")
@click.option("--y", "y_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Targets .npy for an x .npy given with --data.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE", help=SET_HELP)
@checkpoint_option
@device_option
@precision_option
@handle_errors
def evaluate(source: Path, data_path: Path | None, y_path: Path | None, as_json: bool, overrides: tuple[str, ...],
             checkpoint: str, device: str, precision: str | None) -> None:
    """Loss and metrics of a run on its validation data or on --data (the table's title says which data and how
    many samples).

    \b
    Example:
      rnncli evaluate runs/addition --data datasets/addition_val.npz --json
      rnncli evaluate runs/addition --checkpoint best
      rnncli evaluate runs/sunspots --data x_test.npy --y y_test.npy
      rnncli evaluate runs/imported --data test.npz --set training.loss=mse
    """
    if y_path is not None and data_path is None:
        from rnncli.errors import UserInputError  # inside handle_errors: a click.UsageError would be "internal"

        raise UserInputError("--y goes with --data (the x .npy it holds the targets of): pass --data X.npy --y Y.npy")
    import json

    from rich.table import Table

    from rnncli.commands.infer import evaluate as run_evaluate

    sets, origins = option_overrides(overrides, {})
    with located_at_options(origins):
        results, on = run_evaluate(source, data_path, device, checkpoint, y_path=y_path, overrides=sets,
                                   precision=precision)
    if as_json:  # stdout and stderr stay pure JSON (scripts read them together)
        click.echo(json.dumps(results))
        return
    table = Table(title=f"Evaluation of {source} {on}", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in results.items():
        table.add_row(key, f"{value:.6g}")
    stdout.print(table)


for _command in (history, plot, reset_states_command, states, export, generate, doctor, serve, tune):
    main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    main()
