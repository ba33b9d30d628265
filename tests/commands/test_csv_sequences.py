"""CSV rows feed sequence models: (N, T) -> (N, T, 1) and (N, T*D) -> (N, T, D) when the model input says so."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rnncli.cli.main import main
from rnncli.config.validate import load_config
from rnncli.data.dataset import check_dataset, load_arrays
from rnncli.errors import DataError


def plan(tmp_path: Path, input_shape: str):
    path = tmp_path / "m.yaml"
    path.write_text(f"model:\n  layers:\n    - {{type: GRU, output_dim: 3, input_shape: {input_shape}}}\n"
                    f"    - {{type: Dense, output_dim: 1}}\n")
    return load_config(path).model


def write_csv(path: Path, table: np.ndarray) -> Path:
    path.write_text("\n".join(",".join(f"{v:g}" for v in row) for row in table) + "\n")
    return path


@pytest.mark.parametrize(("input_shape", "expected"), [("[4, 1]", (5, 4, 1)), ("[2, 2]", (5, 2, 2)),
                                                       ("[null, 2]", (5, 2, 2)), ("[null, 1]", (5, 4, 1))])
def test_csv_rows_are_reshaped_for_sequence_models_with_a_note(tmp_path: Path, input_shape: str,
                                                                expected: tuple) -> None:
    table = np.arange(25, dtype=np.float32).reshape(5, 5)  # 4 inputs and the target per row
    data = check_dataset(load_arrays(write_csv(tmp_path / "d.csv", table)), plan(tmp_path, input_shape), "mse")
    assert data.x.shape == expected
    np.testing.assert_array_equal(data.x.reshape(5, 4), table[:, :4])  # row-major: step 1's features first
    np.testing.assert_array_equal(data.y, table[:, 4:])
    assert len(data.notes) == 1 and f"as {expected[1]} timesteps of {expected[2]} feature" in data.notes[0]


def test_csv_rows_that_do_not_fit_say_how_a_row_must_look(tmp_path: Path) -> None:
    table = np.zeros((5, 6), np.float32)  # 5 inputs: neither 4*1 nor a multiple of 2 per step
    with pytest.raises(DataError, match=r"x has shape \(5, 5\) \(2-D\) but the model expects \(None, 4, 1\) \(3-D\); "
                                        r"a CSV row must hold T\*D = 4 values"):
        check_dataset(load_arrays(write_csv(tmp_path / "d.csv", table)), plan(tmp_path, "[4, 1]"), "mse")


def test_npy_arrays_are_never_reshaped(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((5, 4), np.float32), y=np.zeros((5, 1), np.float32))
    with pytest.raises(DataError, match=r"\(2-D\) but the model expects \(None, 4, 1\) \(3-D\)"):
        check_dataset(load_arrays(tmp_path / "d.npz"), plan(tmp_path, "[4, 1]"), "mse")


def test_train_and_predict_on_csv_with_a_sequence_model(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6)).astype(np.float32)
    write_csv(tmp_path / "train.csv", np.concatenate([x, x.mean(axis=1, keepdims=True)], axis=1))
    write_csv(tmp_path / "x.csv", x[:5])
    config = tmp_path / "c.yaml"
    config.write_text(textwrap.dedent("""\
        model:
          layers:
            - {type: LSTM, output_dim: 4, input_shape: [6, 1]}
            - {type: Dense, output_dim: 1}
        data: {train: train.csv}
        training: {loss: mse, nb_epoch: 1, batch_size: 16, jit_compile: "false"}
        """))
    runner = CliRunner()
    assert runner.invoke(main, ["validate", str(config)]).exit_code == 0
    run = tmp_path / "run"
    trained = runner.invoke(main, ["train", str(config), "-o", str(run)], catch_exceptions=False)
    assert trained.exit_code == 0, trained.output
    assert "note: " in trained.output and "read each row of 6 values as 6 timesteps of 1 feature" in trained.output
    out = tmp_path / "y.npy"
    predicted = runner.invoke(main, ["predict", str(run), "--input", str(tmp_path / "x.csv"), "--output", str(out)],
                              catch_exceptions=False)
    assert predicted.exit_code == 0, predicted.output
    assert "x.csv: read each row of 6 values as 6 timesteps of 1 feature" in predicted.output
    assert np.load(out).shape == (5, 1)
