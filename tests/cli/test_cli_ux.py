"""The small things a new user meets first: help texts, the README's command table, `python -m rnncli`,
`summary RUN`, Keras 2 argument names, progress while compiling and without a terminal."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from rich.console import Console

from rnncli.cli.main import main
from rnncli.cli.reporting import ConsoleReporter

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def options(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option) and p.name != "help"]


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_option_has_help_text(name: str) -> None:
    missing = [o.opts[0] for o in options(main.commands[name]) if not (o.help or "").strip()]
    assert not missing, f"rnncli {name}: options without help: {missing}"


@pytest.mark.parametrize("name", sorted(main.commands))
def test_readme_command_table_lists_every_option(name: str) -> None:
    rows = [line for line in README.splitlines() if line.startswith(f"| `rnncli {name} ")
            or f"/ `rnncli {name} " in line]
    assert rows, f"README lacks a row for rnncli {name}"
    for option in options(main.commands[name]):
        names = [o for o in option.opts + option.secondary_opts if o.startswith("--")]
        assert any(n in rows[0] for n in names), f"README row of rnncli {name} lacks {names}"


def test_top_level_help_shows_whole_command_descriptions() -> None:
    text = CliRunner().invoke(main, ["--help"], terminal_width=80).output
    commands = text[text.index("Commands:"):]
    assert "..." not in commands
    flat = " ".join(commands.split())
    for command in main.commands.values():
        assert " ".join(command.get_short_help_str(10_000).split()) in flat


def test_python_dash_m_rnncli_works() -> None:
    done = subprocess.run([sys.executable, "-m", "rnncli", "--help"], capture_output=True, text=True, timeout=60,
                          cwd=ROOT)
    assert done.returncode == 0 and "Usage: rnncli" in done.stdout, done.stderr


def test_summary_accepts_a_run_directory(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("model:\n  layers:\n    - {type: GRU, output_dim: 3, input_shape: [4, 2]}\n"
                                     "data: {train: /gone/train.npz}\n")  # a run outlives its data
    result = CliRunner().invoke(main, ["summary", str(run)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "gru_1" in result.output and "Total params: 54" in result.output.replace(",", "")


KERAS2 = """\
model:
  layers:
    - {type: LSTM, units: 8, input_shape: [5, 3], recurrent_dropout: 0.1}
    - {type: Dropout, rate: 0.5}
    - {type: Dense, output_dim: 1, use_bias: false}
training:
  loss: mse
  epochs: 3
  optimizer: {name: adam, learning_rate: 0.01}
"""


@pytest.mark.parametrize(("keras2", "keras1"), [("units", "output_dim"), ("recurrent_dropout", "dropout_U"),
                                                ("rate", "p"), ("use_bias", "bias"), ("epochs", "nb_epoch"),
                                                ("learning_rate", "lr")])
def test_keras2_names_get_the_keras1_name(tmp_path: Path, keras2: str, keras1: str) -> None:
    (tmp_path / "c.yaml").write_text(KERAS2)
    output = CliRunner().invoke(main, ["validate", str(tmp_path / "c.yaml")]).output
    line = next(line for line in output.splitlines() if f"`{keras2}`" in line)
    assert f"(`{keras2}` is the Keras 2 name; rnncli uses the Keras 1 name `{keras1}`)" in line
    assert "did you mean" not in line


def test_progress_bar_says_compiling_until_the_first_step() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    reporter = ConsoleReporter(console, progress=True)
    reporter.epoch_begin(1, 5, 4)
    try:
        assert reporter.bar.tasks[0].fields["logs"] == "compiling the training step..."
        reporter.batch_end(0, {"loss": 0.5})
        assert reporter.bar.tasks[0].fields["logs"] == "loss=0.5"
    finally:
        reporter.epoch_end(1, {"loss": 0.5, "seconds": 1.0})
    reporter.epoch_begin(2, 5, 4)  # compiled: later epochs start with the plain bar
    assert reporter.bar.tasks[0].fields["logs"] == ""
    reporter.epoch_end(2, {"loss": 0.4, "seconds": 1.0})


def test_without_a_terminal_progress_lines_come_every_n_seconds() -> None:
    now = [0.0]
    console = Console(file=io.StringIO(), width=200)
    reporter = ConsoleReporter(console, progress=False, every_seconds=30, clock=lambda: now[0])
    reporter.epoch_begin(1, 2, 100)
    for batch, at in enumerate([10.0, 29.0, 31.0, 40.0, 62.0]):
        now[0] = at
        reporter.batch_end(batch, {"loss": 1.0 / (batch + 1)})
    reporter.epoch_end(1, {"loss": 0.2, "seconds": 62.0})
    lines = console.file.getvalue().splitlines()
    assert lines == ["epoch 1/2 batch 3/100 loss=0.3333", "epoch 1/2 batch 5/100 loss=0.2",
                     "epoch 1/2 loss=0.2 time=62.00s"]


def test_y_shape_errors_explain_return_sequences_and_sparse_labels(tmp_path: Path) -> None:
    import numpy as np

    from rnncli.config.validate import load_config
    from rnncli.data.dataset import Dataset, check_dataset
    from rnncli.errors import DataError

    (tmp_path / "c.yaml").write_text(textwrap.dedent("""\
        model:
          layers:
            - {type: LSTM, output_dim: 4, input_shape: [5, 3], return_sequences: true}
            - {type: TimeDistributed, layer: {type: Dense, output_dim: 3, activation: softmax}}
        """))
    plan = load_config(tmp_path / "c.yaml").model
    x = np.zeros((6, 5, 3), np.float32)
    with pytest.raises(DataError, match=r"set `return_sequences: false` on `lstm_1`"):
        check_dataset(Dataset(x, np.zeros((6, 3), np.float32), "d"), plan, "mse")
    with pytest.raises(DataError, match=r"y looks one-hot .* use `loss: categorical_crossentropy`"):
        check_dataset(Dataset(x, np.zeros((6, 5, 3), np.float32), "d"), plan, "sparse_categorical_crossentropy")
    with pytest.raises(DataError, match=r"y looks like class indices: use `loss: sparse_categorical_crossentropy`"):
        check_dataset(Dataset(x, np.zeros((6, 5, 1), np.float32), "d"), plan, "categorical_crossentropy")
