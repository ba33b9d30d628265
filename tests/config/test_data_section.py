"""`validate` catches data-section mistakes that `train` would get wrong, located at FILE:LINE:COL, and checks the
shapes of existing data files against the model from their headers (no TensorFlow)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rnncli.cli.main import main

MODEL = """\
model:
  layers:
    - {type: LSTM, output_dim: 4, input_shape: [5, 3]}
    - {type: Dense, output_dim: 2, activation: softmax}
training: {loss: categorical_crossentropy}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    x = np.zeros((6, 5, 3), np.float32)
    y = np.eye(2, dtype=np.float32)[[0, 1, 0, 1, 0, 1]]
    np.savez(tmp_path / "d.npz", x=x, y=y)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    (tmp_path / "corpus.txt").write_text("hello world\n")
    return tmp_path


def validate(folder: Path, data: str) -> tuple[int, str]:
    path = folder / "c.yaml"
    path.write_text(MODEL + textwrap.dedent(data))
    result = CliRunner().invoke(main, ["validate", str(path)], catch_exceptions=False)
    return result.exit_code, result.output


CASES = {
    "window with an npz": ("data:\n  train: d.npz\n  window: 10\n",
                           r"c.yaml:8:11: error: data.window cuts a `.txt` corpus into windows, but data.train is a "
                           r"`.npz` file"),
    "y_train with an npz": ("data:\n  train: d.npz\n  y_train: y.npy\n",
                            r"c.yaml:8:12: error: data.y_train is only read when data.train is an x `.npy`; "
                            r"data.train is a `.npz` file whose targets are its `y` array"),
    "validation and validation_split": ("data:\n  train: d.npz\n  validation: d.npz\n  validation_split: 0.2\n",
                                        r"c.yaml:9:21: error: data.validation_split and data.validation exclude each "
                                        r"other"),
    "an x npy without y_train": ("data:\n  train: x.npy\n",
                                 r"c.yaml:7:10: error: data.train is an x `.npy`: set `y_train`"),
    "y_validation without validation": ("data:\n  train: d.npz\n  y_validation: y.npy\n",
                                        r"c.yaml:8:17: error: data.y_validation is set but data.validation is not"),
    "step without window": ("data:\n  train: d.npz\n  step: 2\n",
                            r"c.yaml:8:9: error: data.step applies only to a `.txt` corpus with `window`"),
    "x features differ": ("data:\n  train: bad_x.npz\n",
                          r"c.yaml:7:10: error: data.train: bad_x.npz: x has 4 features per step but the first layer "
                          r"expects 3"),
    "y is class indices": ("data:\n  train: labels.npz\n",
                           r"c.yaml:7:10: error: data.train: labels.npz: y has shape \(6, 1\) but the model outputs "
                           r"\(None, 2\); y looks like class indices: use `loss: sparse_categorical_crossentropy`"),
    "y npy with a time axis": ("data:\n  train: x.npy\n  y_train: y_seq.npy\n",
                               r"c.yaml:8:12: error: data.y_train: y_seq.npy: .*set `return_sequences: true` on "
                               r"`lstm_1`"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_validate_reports_data_section_mistakes_with_locations(folder: Path, name: str) -> None:
    np.savez(folder / "bad_x.npz", x=np.zeros((6, 5, 4)), y=np.zeros((6, 2)))
    np.savez(folder / "labels.npz", x=np.zeros((6, 5, 3)), y=np.zeros((6, 1)))
    np.save(folder / "y_seq.npy", np.zeros((6, 5, 2)))
    data, pattern = CASES[name]
    code, output = validate(folder, data)
    assert code == 2, output
    assert len(output.strip().splitlines()) == 1, output
    import re
    assert re.search(pattern, output), output


@pytest.mark.parametrize("data", [
    "data:\n  train: d.npz\n  validation_split: 0.2\n",
    "data:\n  train: x.npy\n  y_train: y.npy\n  validation: d.npz\n",
])
def test_valid_data_sections_pass(folder: Path, data: str) -> None:
    code, output = validate(folder, data)
    assert code == 0, output


@pytest.mark.parametrize("data", [
    "data:\n  train: corpus.txt\n  window: 4\n  step: 1\n",
    "data:\n  train: corpus.txt\n  window: 4\n  validation_split: 0.2\n",
])
def test_valid_text_data_sections_pass(folder: Path, data: str) -> None:
    """A character model's input is [window, alphabet]: "hello world\n" has 9 distinct characters (issue 30 item 6:
    validate counts them)."""
    path = folder / "c.yaml"
    path.write_text("model:\n  layers:\n    - {type: LSTM, output_dim: 4, input_shape: [4, 9]}\n"
                    "    - {type: Dense, output_dim: 9, activation: softmax}\ntraining: {loss: categorical_crossentropy}\n"
                    + textwrap.dedent(data))
    result = CliRunner().invoke(main, ["validate", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def test_shape_check_reads_headers_only_and_never_imports_tensorflow(folder: Path) -> None:
    big = np.lib.format.open_memmap(folder / "big.npy", mode="w+", dtype=np.float32, shape=(200_000, 5, 4))
    del big
    np.save(folder / "big_y.npy", np.zeros((200_000, 2), np.float32))
    path = folder / "c.yaml"
    path.write_text(MODEL + "data:\n  train: big.npy\n  y_train: big_y.npy\n")
    code = ("import sys; from rnncli.cli.main import main\n"
            "try:\n    main(['validate', sys.argv[1]])\nexcept SystemExit as e:\n"
            "    print('tensorflow' in sys.modules, e.code)")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().endswith("False 2"), done.stdout + done.stderr
    assert "x has 4 features per step but the first layer expects 3" in done.stderr
