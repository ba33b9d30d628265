"""What a new user ran into, round 2 (issue 30), each through the command line: `--set` on evaluate, validate and
summary; `--set` key typos at the argument; full-width tables without a terminal and `history --json/--csv`;
`evaluate` says which data it scored."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rnncli.cli.main import main

RNG = np.random.default_rng(3)
T, D, N = 4, 2, 20


def keras1_architecture() -> dict:
    """SimpleRNN(3) -> Dense(1), as Keras 1's to_json() wrote it, never compiled (no training section)."""
    return {"class_name": "Sequential", "config": [
        {"class_name": "SimpleRNN", "config": {"name": "simplernn_1", "output_dim": 3, "batch_input_shape": [None, T, D],
                                               "input_dtype": "float32", "activation": "tanh"}},
        {"class_name": "Dense", "config": {"name": "dense_1", "output_dim": 1, "activation": "linear"}}]}


def write_config(folder: Path, **training: object) -> Path:
    x = RNG.normal(size=(N, T, D)).astype(np.float32)
    np.savez(folder / "data.npz", x=x, y=x.sum(axis=(1, 2))[:, None])
    settings = {"loss": "mse", "metrics": ["mae", "mse", "msle", "cosine_proximity"], "nb_epoch": 2,
                "batch_size": 5, **training}
    text = (f"seed: 1\nmodel:\n  layers:\n    - {{type: GRU, output_dim: 3, input_shape: [{T}, {D}]}}\n"
            f"    - {{type: Dense, output_dim: 1}}\ndata:\n  train: data.npz\n  validation_split: 0.25\n"
            f"training: {json.dumps(settings)}\n")
    path = folder / "model.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("round2")
    run = folder / "run"
    result = CliRunner().invoke(main, ["train", str(write_config(folder)), "-o", str(run), "--no-progress"])
    assert result.exit_code == 0, result.output
    return run


def test_evaluate_validate_and_summary_take_set(tmp_path: Path) -> None:
    """Item 1: the import note's advice (`--set training.loss=...` on the command line) works for evaluate."""
    arch = tmp_path / "model.json"
    arch.write_text(json.dumps(keras1_architecture()))
    runner = CliRunner()
    run = tmp_path / "run"
    result = runner.invoke(main, ["import", str(arch), "-o", str(run)])
    assert result.exit_code == 0, result.output
    assert "--set training.loss=" in result.output
    x = RNG.normal(size=(6, T, D)).astype(np.float32)
    np.savez(tmp_path / "test.npz", x=x, y=np.zeros((6, 1), np.float32))
    without = runner.invoke(main, ["evaluate", str(run), "--data", str(tmp_path / "test.npz")])
    assert without.exit_code == 2
    assert "--set training.loss=mse" in without.output  # the error says how to give the loss
    result = runner.invoke(main, ["evaluate", str(run), "--data", str(tmp_path / "test.npz"), "--set",
                                  "training.loss=mse", "--json"])
    assert result.exit_code == 0, result.output
    loss = json.loads(result.stdout)["loss"]
    predicted = runner.invoke(main, ["predict", str(run), "-i", str(tmp_path / "test.npz"), "-o",
                                     str(tmp_path / "y.npy")])
    assert predicted.exit_code == 0, predicted.output
    np.testing.assert_allclose(loss, float(np.mean(np.load(tmp_path / "y.npy") ** 2)), rtol=1e-5)

    result = runner.invoke(main, ["summary", str(run), "--set", "training.loss=mae"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["validate", str(arch), "--set", "training.loss=mse"])
    assert result.exit_code == 0 and "ok" in result.output, result.output
    result = runner.invoke(main, ["validate", str(arch), "--set", "training.loss=nope"])
    assert result.exit_code == 2 and result.output.startswith("--set training.loss=nope: error:"), result.output


def test_set_key_typos_are_reported_at_the_argument(tmp_path: Path) -> None:
    """Item 5: a misspelt key of a new mapping names the argument, like a bad value does."""
    config = write_config(tmp_path)
    runner = CliRunner()
    for command in (["validate", str(config)], ["train", str(config), "-o", str(tmp_path / "r")]):
        result = runner.invoke(main, [*command, "--set", "training.optimzer.lr=0.1"])
        assert result.exit_code == 2
        assert result.output.startswith("--set training.optimzer.lr=0.1: error: "), result.output
        assert "did you mean `optimizer`?" in result.output
    result = runner.invoke(main, ["validate", str(config), "--set", "training.callbacks.early_stoping.patience=1"])
    assert result.output.startswith("--set training.callbacks.early_stoping.patience=1: error: "), result.output


def test_tables_are_full_width_without_a_terminal(trained: Path) -> None:
    """Item 3: `history RUN | cat` (CliRunner's output is no terminal) shows every number and column whole."""
    result = CliRunner().invoke(main, ["history", str(trained)], terminal_width=80)
    assert result.exit_code == 0, result.output
    assert "…" not in result.output
    header = next(line for line in result.output.splitlines() if "epoch" in line and "val_" in line)
    for column in ("mean_squared_logarithmic_error", "val_cosine_proximity", "lr"):
        assert f" {column} " in header
    assert "* best epoch:" in result.output


def test_training_summary_in_a_log_is_full_width(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["train", str(write_config(tmp_path, nb_epoch=1)), "-o", str(tmp_path / "r"),
                                       "--no-progress"], terminal_width=80)
    assert result.exit_code == 0, result.output
    summary = result.output[result.output.index("Training summary"):]
    assert "…" not in summary and "mean_squared_logarithmic_error" in summary


def test_history_json_and_csv(trained: Path) -> None:
    runner = CliRunner()
    as_json = json.loads(runner.invoke(main, ["history", str(trained), "--json"]).stdout)
    assert [row["epoch"] for row in as_json["epochs"]] == [1, 2]
    assert as_json["best"]["epoch"] in (1, 2) and as_json["best"]["monitor"] == "val_loss"
    rows = list(csv.DictReader(io.StringIO(runner.invoke(main, ["history", str(trained), "--csv"]).stdout)))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert float(rows[1]["val_loss"]) == pytest.approx(as_json["epochs"][1]["val_loss"])
    assert "lr" in rows[0]
    both = runner.invoke(main, ["history", str(trained), "--csv", "--json"])
    assert both.exit_code == 2


def test_evaluate_says_which_data(trained: Path, tmp_path: Path) -> None:
    """Item 12: the validation split and its size, or the --data file."""
    runner = CliRunner()
    result = runner.invoke(main, ["evaluate", str(trained)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "on the validation split (5 samples" in result.output
    result = runner.invoke(main, ["evaluate", str(trained), "--json"])
    json.loads(result.output)  # nothing else, not even on stderr
    x = RNG.normal(size=(7, T, D)).astype(np.float32)
    np.savez(tmp_path / "t.npz", x=x, y=np.zeros((7, 1), np.float32))
    result = runner.invoke(main, ["evaluate", str(trained), "--data", str(tmp_path / "t.npz")], terminal_width=200)
    assert f"on {tmp_path / 't.npz'} (7 samples)" in result.output
    result = runner.invoke(main, ["evaluate", str(trained), "--y", str(tmp_path / "t.npz")])
    assert result.exit_code == 2 and result.output.startswith("error: --y goes with --data"), result.output


@pytest.mark.parametrize("write, expected", [
    (lambda p: p.write_bytes(b""), r"empty\.h5: error: empty file: not a Keras model \(\.h5 .*to_json\(\), to_yaml\(\)\)"),
    (lambda p: p.write_text("  \n\n"), r"empty\.h5: error: empty file: not a Keras model"),
])
def test_import_of_an_empty_file_says_so(tmp_path: Path, write, expected: str) -> None:
    """Item 9: not the rnncli-config wording (`expected a mapping with a model: section`)."""
    import re

    source = tmp_path / "empty.h5"
    write(source)
    result = CliRunner().invoke(main, ["import", str(source), "-o", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert re.search(expected, result.output), result.output
    assert "model:" not in result.output and not (tmp_path / "run").exists()


def test_a_cut_off_json_document_is_a_json_syntax_error(tmp_path: Path) -> None:
    """Item 9: JSON's words and position, not `YAML syntax error`."""
    text = json.dumps(keras1_architecture())
    source = tmp_path / "model.json"
    source.write_text(text[:70])
    runner = CliRunner()
    for command in (["import", str(source), "-o", str(tmp_path / "run")], ["validate", str(source)]):
        result = runner.invoke(main, command)
        assert result.exit_code == 2
        assert f"{source}:1:" in result.output and "JSON syntax error at 1:" in result.output, result.output
        assert "YAML" not in result.output and "cut off" in result.output
    source.write_text(text.replace('"Dense", ', '"Dense" '))  # a missing comma, not at the end
    result = runner.invoke(main, ["import", str(source), "-o", str(tmp_path / "run")])
    col = text.index('"Dense", ') + len('"Dense" ') + 1
    assert f"{source}:1:{col}: error: JSON syntax error at 1:{col}: Expecting ',' delimiter" in result.output, \
        result.output


def test_a_keras3_archive_is_named(tmp_path: Path) -> None:
    """Item 20: a `.keras` zip is recognised, not `not UTF-8 text (invalid start byte at byte 14)`."""
    import zipfile

    source = tmp_path / "model.keras"
    with zipfile.ZipFile(source, "w") as archive:
        archive.writestr("metadata.json", '{"keras_version": "3.10.0"}')
        archive.writestr("config.json", '{"class_name": "Sequential"}')
        archive.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n")
    runner = CliRunner()
    for command in (["validate", str(source)], ["train", str(source), "-o", str(tmp_path / "run")]):
        result = runner.invoke(main, command)
        assert result.exit_code == 2, result.output
        assert "Keras 3 `.keras` archive" in result.output and "UTF-8" not in result.output, result.output
        assert "`rnncli import` reads it" in result.output, result.output
    result = runner.invoke(main, ["import", str(source), "-o", str(tmp_path / "run")])  # read (issue 28): a
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output  # layerless model is refused
    arch = tmp_path / "model.json"
    arch.write_text(json.dumps(keras1_architecture()))
    result = runner.invoke(main, ["import", str(arch), "--weights", str(source), "-o", str(tmp_path / "run")])
    assert result.exit_code == 2 and "this is a Keras 3 `.keras` archive" in result.output, result.output
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("a.txt", "x")
    result = runner.invoke(main, ["validate", str(other)])
    assert result.exit_code == 2 and "a zip archive (a.txt)" in result.output, result.output


@pytest.mark.parametrize("padding, mask_zero", [("inside", False), ("leading", True), ("trailing", True),
                                                ("none", False)])
def test_init_masks_zero_only_when_it_is_padding(tmp_path: Path, padding: str, mask_zero: bool) -> None:
    """Item 7: 0 between other ids (19 of 100 rows here) is a token: mask_zero false, with a note."""
    import yaml

    rng = np.random.default_rng(5)
    x = rng.integers(1, 9, size=(100, 6))
    if padding == "inside":
        x[:19, 3] = 0
        x[19:50, :2] = 0  # the other rows are padded: still not padding everywhere
    elif padding == "leading":
        x[::3, :rng.integers(1, 5)] = 0
    elif padding == "trailing":
        x[::3, 4:] = 0
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", rng.integers(0, 2, size=100).astype(np.float32))
    out = tmp_path / "model.yaml"
    result = CliRunner().invoke(main, ["init", "--x", str(tmp_path / "x.npy"), "--y", str(tmp_path / "y.npy"),
                                       "-o", str(out)])
    assert result.exit_code == 0, result.output
    embedding = yaml.safe_load(out.read_text())["model"]["layers"][0]
    assert embedding["type"] == "Embedding" and embedding["mask_zero"] is mask_zero
    if padding == "inside":
        assert "note: mask_zero: false: x.npy has 0 between other ids in 19 of 100 rows" in result.output
        assert "19 of 100 rows, so it is a token" in out.read_text()
    else:
        assert "note: mask_zero" not in result.output


def csv_run(folder: Path) -> tuple[Path, np.ndarray]:
    """A run trained on a CSV in the training layout: a header, T*D = 3 values, the target column."""
    x = np.round(RNG.normal(size=(12, 3)), 3).astype(np.float32)
    table = np.concatenate([x, x.sum(axis=1, keepdims=True)], axis=1)
    lines = ["x_0,x_1,x_2,y"] + [",".join(f"{v:g}" for v in row) for row in table]
    (folder / "train.csv").write_text("\n".join(lines) + "\n")
    (folder / "inputs.csv").write_text("\n".join(line.rpartition(",")[0] for line in lines) + "\n")
    config = folder / "csv.yaml"
    config.write_text("seed: 1\nmodel:\n  layers:\n    - {type: SimpleRNN, output_dim: 2, input_shape: [3, 1]}\n"
                      "    - {type: Dense, output_dim: 1}\ndata: {train: train.csv}\n"
                      "training: {loss: mse, nb_epoch: 1, batch_size: 4}\n")
    result = CliRunner().invoke(main, ["train", str(config), "-o", str(folder / "run"), "--no-progress"])
    assert result.exit_code == 0, result.output
    return folder / "run", x


def test_predict_reads_a_csv_in_the_training_layout(tmp_path: Path) -> None:
    """Item 2: the target column is ignored (with a note) and the outputs equal those of the inputs alone."""
    run, x = csv_run(tmp_path)
    runner = CliRunner()
    with_target = runner.invoke(main, ["predict", str(run), "-i", str(tmp_path / "train.csv"), "-o",
                                       str(tmp_path / "a.npy")])
    assert with_target.exit_code == 0, with_target.output
    assert "4 columns are the training layout (3 input values, then the target): the last column is ignored" \
        in with_target.output
    inputs_only = runner.invoke(main, ["predict", str(run), "-i", str(tmp_path / "inputs.csv"), "-o",
                                       str(tmp_path / "b.npy")])
    assert inputs_only.exit_code == 0, inputs_only.output
    assert "ignored" not in inputs_only.output
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
    assert np.load(tmp_path / "a.npy").shape == (12, 1)
    # a table that fits neither layout says what predict and evaluate each expect
    (tmp_path / "wide.csv").write_text("1,2,3,4,5\n")
    result = runner.invoke(main, ["predict", str(run), "-i", str(tmp_path / "wide.csv")])
    assert result.exit_code == 2
    assert "a CSV row for predict must hold the T*D = 3 values" in result.output
    assert "or those plus the target column (the training layout: the target is ignored)" in result.output
    result = runner.invoke(main, ["evaluate", str(run), "--data", str(tmp_path / "wide.csv")])
    assert result.exit_code == 2
    assert "a CSV row must hold T*D = 3 values" in result.output
    assert "plus the target column (the layout of train and evaluate)" in result.output


@pytest.mark.parametrize("cell, message", [
    ("nan", "missing value: column 3 (`x_2`) is NaN ('nan'); set `data.missing` to drop"),
    ("-inf", "column 3 (`x_2`) contains Inf ('-inf'), which no model can use"),
    ("", "missing value: column 3 (`x_2`) is empty; set `data.missing` to drop"),
    ("abc", "not a number in column 3 (`x_2`): 'abc'"),
])
def test_bad_csv_cells_are_reported_at_their_line(tmp_path: Path, cell: str, message: str) -> None:
    """Item 8: a NaN is reported at its file line like an empty cell, not by array index (7, 2, 0)."""
    lines = ["x_0,x_1,x_2,y"] + [f"{i},{i + 1},{i + 2},{i}" for i in range(10)]
    lines[8] = f"7,8,{cell},7"  # file line 9
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    config = tmp_path / "csv.yaml"
    config.write_text("model:\n  layers:\n    - {type: SimpleRNN, output_dim: 2, input_shape: [3, 1]}\n"
                      "    - {type: Dense, output_dim: 1}\ndata: {train: train.csv}\ntraining: {loss: mse}\n")
    result = CliRunner().invoke(main, ["train", str(config), "-o", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert f"error: {tmp_path / 'train.csv'}:9: {message}" in result.output, result.output
    assert "index" not in result.output


def lr_run(folder: Path, schedule: str, epochs: int) -> list[dict]:
    x = RNG.normal(size=(12, T, D)).astype(np.float32)
    np.savez(folder / "d.npz", x=x, y=x.sum(axis=(1, 2))[:, None])
    config = folder / "lr.yaml"
    config.write_text(f"seed: 1\nmodel:\n  layers:\n    - {{type: SimpleRNN, output_dim: 2, input_shape: [{T}, {D}]}}\n"
                      f"    - {{type: Dense, output_dim: 1}}\ndata: {{train: d.npz}}\n"
                      f"training: {{loss: mse, optimizer: {{name: sgd, lr: 0.1}}, batch_size: 4, shuffle: false, "
                      f"nb_epoch: {epochs}, lr_schedule: {schedule}}}\n")
    result = CliRunner().invoke(main, ["train", str(config), "-o", str(folder / "run"), "--no-progress"])
    assert result.exit_code == 0, result.output
    rows = json.loads(CliRunner().invoke(main, ["history", str(folder / "run"), "--json"]).stdout)["epochs"]
    assert len(rows) == epochs
    return rows


def test_lr_column_is_the_rate_of_the_epochs_last_step(tmp_path: Path) -> None:
    """Item 4: 12 samples / batch 4 = 3 steps per epoch; `unit: step` drops every 3 steps, so every step of epoch 1
    (steps 0-2) used 0.1 and epoch 2's last step (step 5) 0.05; the old column showed the next step's rate."""
    rows = lr_run(tmp_path, "{name: step, every: 3, drop: 0.5, unit: step}", 2)
    assert [r["lr"] for r in rows] == pytest.approx([0.1, 0.05], rel=1e-6)


def test_epoch_cosine_warmup_never_trains_an_epoch_at_zero(tmp_path: Path) -> None:
    """Item 4: `{name: cosine, decay: 10, warmup: 2}` ramps per step within epochs 1-2 (factors (e + s/3) / 2 for
    step s), then decays per epoch; the last step of epoch 1 runs at 1/3 of the rate, not 0."""
    import math

    rows = lr_run(tmp_path, "{name: cosine, decay: 10, warmup: 2}", 4)
    expected = [0.1 * (2 / 3) / 2, 0.1 * (1 + 2 / 3) / 2, 0.1, 0.1 * 0.5 * (1 + math.cos(math.pi / 10))]
    assert [r["lr"] for r in rows] == pytest.approx(expected, rel=1e-6)
    assert rows[0]["loss"] != rows[1]["loss"]


def test_plot_is_a_grid_with_integer_epochs_and_the_learning_rate(trained: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 11: 5 quantities + the learning rate on a 3-column grid (not one 3300x418 row), epoch ticks 1, 2."""
    import struct

    import matplotlib.figure

    saved = []
    original = matplotlib.figure.Figure.savefig
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig",
                        lambda self, *a, **k: (saved.append(self), original(self, *a, **k))[1])
    out = tmp_path / "curves.png"
    result = CliRunner().invoke(main, ["plot", str(trained), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "lr" in result.output.split("(")[-1]
    width, height = struct.unpack(">II", out.read_bytes()[16:24])  # the PNG's IHDR
    assert width <= 3 * 5 * 110 + 10 and height >= 2 * 3.8 * 110 - 10, (width, height)
    visible = [axis for axis in saved[0].axes if axis.get_visible()]
    assert len(visible) == 6 and visible[-1].get_title() == "learning rate"
    for axis in visible:
        ticks = [t for t in axis.get_xticks() if 1 <= t <= 2]
        assert ticks and all(float(t).is_integer() for t in ticks), axis.get_xticks()


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_export_verifies_the_file_against_the_model(trained: Path, tmp_path: Path, fmt: str) -> None:
    """Item 13: the exported file is run on a few rows before success is reported, and the max error printed."""
    import re

    out = tmp_path / f"model.{fmt}"
    result = CliRunner().invoke(main, ["export", str(trained), "--format", fmt, "-o", str(out)])
    assert result.exit_code == 0, result.output
    engine = "tf.lite.Interpreter" if fmt == "tflite" else "onnxruntime"
    found = re.search(rf"verified with {re.escape(engine)} against rnncli's forward pass on 4 rows: max abs error "
                      r"(\S+)", result.output)
    assert found, result.output
    assert float(found.group(1)) < 1e-5


def test_export_refuses_a_file_that_computes_something_else(trained: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A file that does not compute the model (simulated: the model is compared on other rows than the file) is an
    error, and no file is kept."""
    from rnncli.export import verify

    reference = verify._reference
    monkeypatch.setattr(verify, "_reference",
                        lambda model, spec, inputs: reference(model, spec, {**inputs, "x": inputs["x"] + 1.0}))
    out = tmp_path / "model.onnx"
    result = CliRunner().invoke(main, ["export", str(trained), "--format", "onnx", "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert "differs from rnncli's forward pass: `y` max abs error" in result.output
    assert not out.exists()


def test_validate_counts_a_text_corpus_alphabet(tmp_path: Path) -> None:
    """Item 6: a character model whose input is not the corpus' alphabet fails `validate`, not `train`."""
    (tmp_path / "corpus.txt").write_text("abcab cabba\nabc " * 20)  # 5 distinct characters: a b c space newline
    config = tmp_path / "char.yaml"

    def write(features: int, units: int, vocab: str | None = None) -> None:
        config.write_text(f"model:\n  layers:\n    - {{type: LSTM, output_dim: 4, input_shape: [6, {features}]}}\n"
                          f"    - {{type: Dense, output_dim: {units}, activation: softmax}}\n"
                          f"data:\n  train: corpus.txt\n  window: 6\n"
                          + (f"  vocab: {json.dumps(vocab)}\n" if vocab is not None else "")
                          + "training: {loss: categorical_crossentropy}\n")

    runner = CliRunner()
    write(5, 5)
    assert runner.invoke(main, ["validate", str(config)]).exit_code == 0
    write(999, 5)
    result = runner.invoke(main, ["validate", str(config)])
    assert result.exit_code == 2
    assert f"{config}:6:10: error: data.train: corpus.txt (an alphabet of 5 distinct characters): x has 5 features " \
           "per step but the first layer expects 999" in result.output, result.output
    assert "input_shape [6, 5]" in result.output
    write(5, 7)
    result = runner.invoke(main, ["validate", str(config)])
    assert result.exit_code == 2 and "y has shape (N, 5) but the model outputs (None, 7)" in result.output
    write(7, 7, "abc \ndef")  # data.vocab decides the size: 8 characters
    result = runner.invoke(main, ["validate", str(config)])
    assert result.exit_code == 2 and "data.vocab: an alphabet of 8 characters" in result.output, result.output
    write(8, 8, "abc \ndef")
    assert runner.invoke(main, ["validate", str(config)]).exit_code == 0
    write(3, 3, "ab\n")
    result = runner.invoke(main, ["validate", str(config)])
    assert result.exit_code == 2 and "characters ' c' are not in data.vocab" in result.output, result.output
