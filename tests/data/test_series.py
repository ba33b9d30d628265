"""``data.series``: windows, horizons, multi-step targets, time splits and the stateful layout against numpy built
by hand (CSV with a header and column selection, ``.npy`` by index); training on a series is bit-identical to the
same windows saved as npz; normalization travels with the run (predict/evaluate on raw values)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from rnncli.cli.main import main
from rnncli.config.validate import load_config
from rnncli.data.series import WindowArray, Layout, series_sets

STEPS = 120
NAMES = ["time", "a", "b", "c"]


def series_values() -> np.ndarray:
    t = np.arange(STEPS, dtype=np.float32)
    return np.stack([t, np.sin(t / 5) * 3 + 1, np.cos(t / 7) * 10, t * t / 1000], axis=1).astype(np.float32)


def write_csv(path: Path, values: np.ndarray, names: list[str] = NAMES) -> Path:
    lines = [",".join(names)] + [",".join(repr(float(v)) for v in row) for row in values]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_config(path: Path, layers: list, data: dict, training: dict | None = None, seed: int = 5) -> Path:
    doc = {"seed": seed, "model": {"layers": layers}, "data": data,
           "training": training or {"loss": "mse", "nb_epoch": 2, "batch_size": 8, "shuffle": False}}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def hand_windows(values: np.ndarray, inputs: list[int], targets: list[int], window: int, horizon: int, outputs: int,
                 stride: int = 1, flat: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The reference: a Python loop over window starts."""
    xs, ys = [], []
    start = 0
    while start + window + horizon - 1 + outputs <= len(values):
        xs.append(values[start:start + window][:, inputs])
        first = start + window + horizon - 1
        y = values[first:first + outputs][:, targets]
        ys.append(y.reshape(-1) if flat else y)
        start += stride
    return np.array(xs, np.float32), np.array(ys, np.float32)


LSTM_FLAT = [{"type": "LSTM", "output_dim": 4, "input_shape": [6, 2]}, {"type": "Dense", "output_dim": 6}]
LSTM_SEQ = [{"type": "LSTM", "output_dim": 4, "input_shape": [6, 2]}, {"type": "RepeatVector", "n": 3},
            {"type": "LSTM", "output_dim": 2, "return_sequences": True}]


@pytest.mark.parametrize("fmt", ["csv", "npy"])
@pytest.mark.parametrize("layers,flat", [(LSTM_FLAT, True), (LSTM_SEQ, False)])
def test_windows_targets_horizon_split_equal_numpy(tmp_path: Path, fmt: str, layers: list, flat: bool) -> None:
    values = series_values()
    if fmt == "csv":
        train = write_csv(tmp_path / "s.csv", values)
        inputs, targets = ["a", "c"], ["b", "c"]
    else:
        np.save(tmp_path / "s.npy", values)
        train = tmp_path / "s.npy"
        inputs, targets = [1, 3], [2, 3]
    series = {"inputs": inputs, "targets": targets, "window": 6, "horizon": 4, "outputs": 3, "stride": 2,
              "split": {"validation": 0.25, "test": 0.15}}
    config = load_config(write_config(tmp_path / "c.yaml", layers, {"train": train.name, "series": series}))
    sets = series_sets(config)
    train_end = STEPS - int(STEPS * 0.15) - int(STEPS * 0.25)
    val_end = STEPS - int(STEPS * 0.15)
    for part, (lo, hi) in ((sets.train, (0, train_end)), (sets.validation, (train_end, val_end)),
                           (sets.test, (val_end, STEPS))):
        x, y = hand_windows(values[lo:hi], [1, 3], [2, 3], 6, 4, 3, 2, flat)
        assert isinstance(part.x, WindowArray) and part.x.shape == x.shape and part.y.shape == y.shape
        np.testing.assert_array_equal(np.asarray(part.x), x)
        np.testing.assert_array_equal(np.asarray(part.y), y)
        order = np.array([len(x) - 1, 0, 2])  # a batch-wise gather equals the same rows of the reference
        np.testing.assert_array_equal(part.x[order], x[order])
        np.testing.assert_array_equal(np.asarray(part.x[1:3]), x[1:3])
    assert sets.normalization is None


def test_windows_are_views_of_the_series_not_copies() -> None:
    values = np.arange(10_000 * 3, dtype=np.float32).reshape(10_000, 3)
    x = WindowArray(values, Layout(10_000 - 50, 1), 50, [0, 2])
    assert x.shape == (9950, 50, 2) and x.series is values  # nothing of size N x T was built
    np.testing.assert_array_equal(x[np.array([7])][0], values[7:57][:, [0, 2]])


def test_stateful_layout_is_contiguous_streams(tmp_path: Path) -> None:
    values = series_values()
    np.save(tmp_path / "s.npy", values[:, 1])  # a [steps] series
    layers = [{"type": "LSTM", "output_dim": 3, "batch_input_shape": [4, 5, 1], "stateful": True},
              {"type": "Dense", "output_dim": 1}]
    config = load_config(write_config(tmp_path / "c.yaml", layers, {
        "train": "s.npy", "series": {"targets": [0], "window": 5}}, {"loss": "mse", "shuffle": False}))
    sets = series_sets(config)
    series = values[:, 1]
    length = STEPS // 4  # 4 streams of 30 steps: chunks of 5 whose next step stays in the stream
    chunks = (length - 6) // 5 + 1
    x, y = np.asarray(sets.train.x), np.asarray(sets.train.y)
    assert x.shape == (chunks * 4, 5, 1)
    for batch in range(chunks):
        for row in range(4):
            start = row * length + batch * 5
            np.testing.assert_array_equal(x[batch * 4 + row, :, 0], series[start:start + 5])
            assert y[batch * 4 + row, 0] == series[start + 5]
    # row i of batch k+1 continues row i of batch k
    np.testing.assert_array_equal(x[4:8, 0, 0], series[np.arange(4) * length + 5])


def test_training_on_series_is_bit_identical_to_saved_windows(tmp_path: Path) -> None:
    values = series_values()
    write_csv(tmp_path / "s.csv", values)
    series = {"inputs": ["a", "b"], "targets": ["a", "c"], "window": 6, "horizon": 2, "outputs": 3,
              "split": {"validation": 0.2}}
    layers = [{"type": "GRU", "output_dim": 5, "input_shape": [6, 2]}, {"type": "Dense", "output_dim": 6}]
    training = {"loss": "mse", "nb_epoch": 2, "batch_size": 16, "shuffle": False, "optimizer": "adam"}
    a = write_config(tmp_path / "a.yaml", layers, {"train": "s.csv", "series": series}, training)
    train_end = STEPS - int(STEPS * 0.2)
    x, y = hand_windows(values[:train_end], [1, 2], [1, 3], 6, 2, 3)
    vx, vy = hand_windows(values[train_end:], [1, 2], [1, 3], 6, 2, 3)
    np.savez(tmp_path / "w.npz", x=x, y=y)
    np.savez(tmp_path / "v.npz", x=vx, y=vy)
    b = write_config(tmp_path / "b.yaml", layers, {"train": "w.npz", "validation": "v.npz"}, training)
    assert invoke("train", str(a), "-o", str(tmp_path / "ra"), "--no-progress").exit_code == 0
    assert invoke("train", str(b), "-o", str(tmp_path / "rb"), "--no-progress").exit_code == 0
    import tensorflow as tf

    def weights(run: Path) -> dict:
        reader = tf.train.load_checkpoint(str(run / "checkpoints"))
        return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
                if "model" in k and "OPTIMIZER" not in k}

    wa, wb = weights(tmp_path / "ra"), weights(tmp_path / "rb")
    assert wa.keys() == wb.keys() and len(wa) >= 4
    for key in wa:
        np.testing.assert_array_equal(wa[key], wb[key], err_msg=key)
    ha = (tmp_path / "ra" / "history.csv").read_text().splitlines()
    hb = (tmp_path / "rb" / "history.csv").read_text().splitlines()
    column = lambda rows, name: [r.split(",")[rows[0].split(",").index(name)] for r in rows[1:]]  # noqa: E731
    assert column(ha, "loss") == column(hb, "loss") and column(ha, "val_loss") == column(hb, "val_loss")


@pytest.mark.parametrize("method", ["standard", "minmax"])
def test_normalization_round_trip(tmp_path: Path, method: str) -> None:
    values = series_values()
    write_csv(tmp_path / "s.csv", values)
    series = {"inputs": ["a", "b"], "targets": ["b"], "window": 6, "horizon": 1, "outputs": 2,
              "split": {"test": 0.25}, "normalize": method}
    layers = [{"type": "LSTM", "output_dim": 4, "input_shape": [6, 2]}, {"type": "Dense", "output_dim": 2}]
    cfg = write_config(tmp_path / "c.yaml", layers, {"train": "s.csv", "series": series},
                       {"loss": "mse", "nb_epoch": 1, "batch_size": 8})
    run = tmp_path / "run"
    assert invoke("train", str(cfg), "-o", str(run), "--no-progress").exit_code == 0
    train_part = values[:STEPS - int(STEPS * 0.25)].astype(np.float64)
    if method == "standard":
        shift, scale = train_part.mean(axis=0), train_part.std(axis=0)
    else:
        shift, scale = train_part.min(axis=0), train_part.max(axis=0) - train_part.min(axis=0)
    import json

    saved = json.loads((run / "normalization.json").read_text())
    np.testing.assert_allclose(saved["inputs"]["shift"], shift[[1, 2]], rtol=1e-6)
    np.testing.assert_allclose(saved["inputs"]["scale"], scale[[1, 2]], rtol=1e-6)
    np.testing.assert_allclose(saved["targets"]["scale"], scale[[2]], rtol=1e-6)
    # predict on raw windows = the model on normalized windows, mapped back to the target's units
    raw = np.stack([values[i:i + 6][:, [1, 2]] for i in range(0, 40, 3)]).astype(np.float32)
    np.save(tmp_path / "raw.npy", raw)
    result = invoke("predict", str(run), "-i", str(tmp_path / "raw.npy"), "-o", str(tmp_path / "p.npy"))
    assert result.exit_code == 0, result.output
    from rnncli.commands.source import load_source

    loaded = load_source(run)
    normalized = ((raw - shift[[1, 2]]) / scale[[1, 2]]).astype(np.float32)
    inner = loaded.engine.predict(normalized, 8)
    expected = inner * scale[2] + shift[2]
    predicted = np.load(tmp_path / "p.npy")
    np.testing.assert_allclose(predicted, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    # a series file gives every window (stride 1): output n forecasts after window n
    result = invoke("predict", str(run), "-i", str(tmp_path / "s.csv"), "-o", str(tmp_path / "ps.npy"))
    assert result.exit_code == 0 and "forecasts" in result.output
    every = np.load(tmp_path / "ps.npy")
    assert every.shape == (STEPS - 6 + 1, 2)
    np.testing.assert_allclose(every[0:40:3], predicted, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    # evaluate scores the test part with normalized targets (the units of the training loss)
    result = invoke("evaluate", str(run), "--json")
    assert result.exit_code == 0 and "loss" in result.output
    if method != "standard":
        return
    # serve: the runner takes raw values and answers in the target's units
    from rnncli.serve.runner import load_runner

    runner = load_runner(run, "latest", "cpu", 8)
    served, _ = runner.run(raw, [])
    np.testing.assert_allclose(served, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    assert runner.info.as_dict()["normalization"]["method"] == "standard"
    # export: the statistics go with the model
    result = invoke("export", str(run), "--format", "savedmodel", "-o", str(tmp_path / "sm"))
    assert result.exit_code == 0, result.output
    exported = json.loads((tmp_path / "sm" / "assets.extra" / "normalization.json").read_text())
    assert exported == saved and "normalization (standard)" in result.output


def test_validate_reports_series_problems_at_their_keys(tmp_path: Path) -> None:
    write_csv(tmp_path / "s.csv", series_values()[:30])
    text = (
        "model:\n"
        "  layers:\n"
        "    - {type: LSTM, output_dim: 4, input_shape: [6, 2]}\n"
        "    - {type: Dense, output_dim: 3}\n"
        "data:\n"
        "  train: s.csv\n"
        "  series:\n"
        "    inputs: [a, bb]\n"
        "    targets: [c]\n"
        "    window: 6\n"
        "    horizon: 30\n"
        "training: {loss: mse}\n")
    (tmp_path / "c.yaml").write_text(text)
    result = invoke("validate", str(tmp_path / "c.yaml"))
    assert result.exit_code == 2
    out = result.output
    assert f"{tmp_path / 'c.yaml'}:8:17: error: data.series.inputs: no column `bb`" in out and "did you mean `b`" in out
    assert ":11:14: error: data.series: window 6 + horizon 30 + 1 target step(s) - 1 = 36 steps leave no sample" in out
    assert "outputs 1 x targets 1 need a model output of [1] (flat: y [N, 1]) or [1, 1]" in out
    (tmp_path / "d.yaml").write_text(text.replace("horizon: 30", "horizon: 1").replace("window: 6", "window: 60")
                                     .replace("[a, bb]", "[a, b]"))
    out = invoke("validate", str(tmp_path / "d.yaml")).output
    assert "data.series.window 60 is longer than the series s.csv (30 steps)" in out
