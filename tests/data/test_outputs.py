"""predict --classes and CSV outputs with a header (rnncli.data.outputs), unit and end to end."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rnncli.cli.main import main
from rnncli.data.outputs import csv_header, predicted_classes, write_output


def test_classes_follow_keras1_predict_classes():
    rng = np.random.default_rng(0)
    scores = rng.uniform(size=(6, 4, 3)).astype(np.float32)
    np.testing.assert_array_equal(predicted_classes(scores), scores.argmax(-1))  # per timestep
    single = np.array([[0.2], [0.5], [0.5000001], [0.9]], np.float32)
    assert predicted_classes(single).tolist() == [0, 0, 1, 1]  # strictly above 0.5, as Keras 1
    assert predicted_classes(scores).dtype == np.int32


@pytest.mark.parametrize("shape, header", [
    ((3, 1), ["y"]), ((3, 2), ["y_0", "y_1"]), ((3, 2, 2), ["y_0_0", "y_0_1", "y_1_0", "y_1_1"]),
    ((3,), ["y"]), ((3, 2, 1), ["y_0_0", "y_1_0"]),
])
def test_csv_header_names_columns_in_row_order(shape, header):
    assert csv_header(shape, "y") == header


def test_csv_round_trips_with_header(tmp_path: Path):
    values = np.random.default_rng(1).normal(size=(5, 2, 3)).astype(np.float32)
    write_output(values, tmp_path / "y.csv")
    lines = (tmp_path / "y.csv").read_text().splitlines()
    assert lines[0].split(",") == csv_header(values.shape, "y")
    np.testing.assert_allclose(np.loadtxt(tmp_path / "y.csv", delimiter=",", skiprows=1).reshape(values.shape),
                               values, rtol=1e-7)
    write_output(np.array([2, 0, 1], np.int32), tmp_path / "c.csv", "class")
    assert (tmp_path / "c.csv").read_text() == "class\n2\n0\n1\n"


def _invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_predict_classes_end_to_end(tmp_path: Path):
    """A config's seeded model: --classes equals argmax of the scores `predict` gives, on stdout and in files."""
    config = tmp_path / "m.yaml"
    config.write_text(textwrap.dedent("""\
        model:
          layers:
            - {type: GRU, output_dim: 4, input_shape: [3, 2], return_sequences: true}
            - {type: TimeDistributed, layer: {type: Dense, output_dim: 3, activation: softmax}}
        """))
    x = np.random.default_rng(2).normal(size=(7, 3, 2)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    scores = _invoke("predict", str(config), "-i", str(tmp_path / "x.npy"), "-o", str(tmp_path / "s.npy"))
    assert scores.exit_code == 0, scores.output
    expected = np.load(tmp_path / "s.npy").argmax(-1)
    assert len(set(expected.ravel())) > 1
    result = _invoke("predict", str(config), "-i", str(tmp_path / "x.npy"), "--classes", "-o",
                     str(tmp_path / "c.csv"))
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "c.csv").read_text().splitlines()
    assert lines[0] == "class_0,class_1,class_2"
    np.testing.assert_array_equal(np.array([[int(v) for v in line.split(",")] for line in lines[1:]]), expected)
    shown = _invoke("predict", str(config), "-i", str(tmp_path / "x.npy"), "--classes")
    rows = [line.split() for line in shown.stdout.splitlines() if line.strip()]
    np.testing.assert_array_equal(np.array(rows, dtype=int), expected)
