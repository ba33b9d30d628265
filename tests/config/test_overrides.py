"""Command-line overrides: errors located at the argument, list-index syntax, paths relative to the current folder."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rnncli.cli.main import main
from rnncli.config.overrides import absolute_path_override, effective_document
from rnncli.config.validate import load_config
from rnncli.errors import ConfigError

CONFIG = """\
model:
  layers:
    - {type: LSTM, output_dim: 8, input_shape: [5, 3]}
    - {type: Dense, output_dim: 1}
data: {train: d.npz}
training:
  loss: mse
  batch_size: 32
"""

STATEFUL = """\
model:
  layers:
    - {type: LSTM, output_dim: 4, batch_input_shape: [2, 5, 3], stateful: true}
    - {type: Dense, output_dim: 1}
data: {train: d.npz}
training: {loss: mse, shuffle: false}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 5, 3), np.float32), y=np.zeros((4, 1), np.float32))
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    return path


def train_errors(*args: str) -> str:
    result = CliRunner().invoke(main, ["train", *args], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    return result.output


@pytest.mark.parametrize(("override", "expected"), [
    ("training.batch_size=abc", "--set training.batch_size=abc: error: training.batch_size must be an integer"),
    ("model.layers.0.output_dim=-1", "--set model.layers.0.output_dim=-1: error: model.layers[0].output_dim must "
                                     "be a positive integer"),
    ("model.layers.7.output_dim=3", "--set model.layers.7.output_dim=3: error: `7` is not an index of "
                                    "`model.layers`, a list of 2"),
    ("training.optimizer.lr=fast", "--set training.optimizer.lr=fast: error: training.optimizer.lr must be a number"),
    ("training.optimizer={name: adamm}", "--set training.optimizer={name: adamm}: error: training.optimizer: "
                                         "unknown optimizer 'adamm' (did you mean `adam`?)"),
    ("training.batchsize=3", "--set training.batchsize=3: error: training: unknown key `batchsize`"),
])
def test_set_errors_point_at_the_command_line_not_at_a_config_line(config: Path, tmp_path: Path, override: str,
                                                                   expected: str) -> None:
    output = train_errors(str(config), "-o", str(tmp_path / "run"), "--set", override)
    assert expected in output
    assert "c.yaml:" not in output  # the old location: the line holding the value that was replaced


def test_option_overrides_are_located_at_the_option(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 5, 3), np.float32), y=np.zeros((4, 1), np.float32))
    path = tmp_path / "s.yaml"
    path.write_text(STATEFUL)
    output = train_errors(str(path), "-o", str(tmp_path / "run"), "--batch-size", "7")
    assert "--batch-size 7: error: training.batch_size is 7 but the stateful model's batch_input_shape fixes it " \
           "to 2" in output
    assert "s.yaml:" not in output


def test_help_documents_list_indices_and_path_resolution() -> None:
    text = " ".join(CliRunner().invoke(main, ["train", "--help"], terminal_width=200).output.split())
    assert "model.layers.0.output_dim=64" in text
    assert "relative to the current directory" in text


def test_set_file_paths_are_relative_to_the_current_folder(config: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "work"
    elsewhere.mkdir()
    np.savez(elsewhere / "other.npz", x=np.zeros((4, 5, 3), np.float32), y=np.zeros((4, 1), np.float32))
    monkeypatch.chdir(elsewhere)
    loaded = load_config(config, overrides=["data.train=other.npz"])
    assert loaded.data["train"] == str(elsewhere / "other.npz")
    assert absolute_path_override("data.train=other.npz") == f"data.train={elsewhere / 'other.npz'}"
    assert absolute_path_override("training.lr=0.1") == "training.lr=0.1"
    with pytest.raises(ConfigError, match=r"--set data.train=d.npz: error: data.train: file not found"):
        load_config(config, overrides=["data.train=d.npz"])  # d.npz is beside the config, not in the cwd
    assert load_config(config).data["train"] == str(tmp_path / "d.npz")  # the file's own paths: config-relative


def test_effective_document_applies_overrides_and_makes_paths_absolute(config: Path) -> None:
    document = effective_document(config, ["training.optimizer.lr=0.5", "model.layers.0.output_dim=3"])
    assert document["training"]["optimizer"] == {"name": "rmsprop", "lr": 0.5}
    assert document["model"]["layers"][0]["output_dim"] == 3
    assert document["data"]["train"] == str(config.parent / "d.npz")
