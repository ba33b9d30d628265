"""Class and sample weights: Keras 1 standardize_weights and weighted_objective, against independent numpy code.

The reference below re-implements Keras 1.2.2 ``weighted_objective`` literally (``score *= mask; score /=
mean(mask)``, mean down to the weights' rank, ``*= weights; /= mean(weights != 0)``, mean) on each batch, and
Keras 1's ``evaluate``/``fit`` averaging of batch losses weighted by batch size.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from rnncli.config.validate import load_config
from rnncli.data.dataset import Dataset
from rnncli.errors import ConfigError, DataError
from rnncli.data.weighting import balanced_class_weight, standardize_weights

EPS = np.float32(1e-7)


def keras1_crossentropy(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    p = y_pred.astype(np.float64)
    p = np.clip(p / p.sum(-1, keepdims=True), float(EPS), float(np.float32(1) - EPS))
    return -(y_true * np.log(p)).sum(-1)


def keras1_weighted_objective(score: np.ndarray, weights: np.ndarray, mask: np.ndarray | None) -> float:
    """Keras 1.2.2 engine/training.py weighted_objective, on one batch of per-entry scores [B] or [B, T]."""
    score = score.astype(np.float64)
    if mask is not None:
        mask = mask.astype(np.float64)
        score = score * mask
        score = score / np.mean(mask)
    axes = tuple(range(weights.ndim, score.ndim))
    if axes:
        score = score.mean(axis=axes)
    score = score * weights
    score = score / np.mean((weights != 0).astype(np.float64))
    return float(np.mean(score))


def keras1_epoch_loss(y, y_pred, weights, mask, batch_size) -> float:
    """Keras 1 fit/evaluate: the batch losses averaged with the batch sizes as weights (last batch may be short)."""
    total, seen = 0.0, 0
    for start in range(0, len(y), batch_size):
        part = slice(start, start + batch_size)
        score = keras1_crossentropy(y[part], y_pred[part])
        total += keras1_weighted_objective(score, weights[part], None if mask is None else mask[part]) * len(y[part])
        seen += len(y[part])
    return total / seen


# -- standardize_weights ------------------------------------------------------------------------------------------


def test_class_weights_follow_the_target_class():
    one_hot = np.eye(3, dtype=np.float32)[[0, 2, 1, 2]]
    assert standardize_weights(one_hot, class_weight={0: 1.0, 1: 3.0, 2: 0.5}).tolist() == [1.0, 0.5, 3.0, 0.5]
    labels = np.array([[1.0], [0.0], [1.0]], np.float32)  # one sigmoid unit, or sparse labels: the value is the class
    assert standardize_weights(labels, class_weight={0: 2.0, 1: 1.0}).tolist() == [1.0, 2.0, 1.0]
    given = np.array([0.5, 0.0, 4.0], np.float32)
    assert standardize_weights(labels, given, class_weight={0: 2.0, 1: 1.0}).tolist() == given.tolist()  # wins
    assert standardize_weights(labels).tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(DataError, match=r"no weight for class\(es\) \[1\]"):
        standardize_weights(labels, class_weight={0: 2.0})


def test_auto_class_weights_are_balanced():
    labels = np.array([0, 1, 1, 1, 3, 3])[:, None].astype(np.float32)
    weights = balanced_class_weight(labels)
    assert weights == pytest.approx({0: 6 / 3, 1: 6 / 9, 3: 6 / 6})
    per_sample = standardize_weights(labels, class_weight="auto")
    # every class then carries the same total weight
    totals = [per_sample[labels[:, 0] == c].sum() for c in (0, 1, 3)]
    assert totals == pytest.approx([2.0, 2.0, 2.0])


def test_temporal_weights_shapes_like_keras1():
    y = np.zeros((4, 3, 2), np.float32)
    assert standardize_weights(y, temporal=True).shape == (4, 3)
    with pytest.raises(DataError, match=r"sample_weight_mode: temporal"):
        standardize_weights(y, np.ones((4, 3), np.float32))
    with pytest.raises(DataError, match=r"\[N, T\] = \[4, 3\]"):
        standardize_weights(y, np.ones(4, np.float32), temporal=True)
    with pytest.raises(DataError, match="time axis"):
        standardize_weights(np.zeros((4, 2), np.float32), temporal=True)
    with pytest.raises(DataError, match=">= 0"):
        standardize_weights(y[:, 0], np.array([1.0, -1.0, 1.0, 1.0], np.float32))


# -- the engine's loss against Keras 1 ----------------------------------------------------------------------------


def _engine(tmp_path: Path, text: str):
    from rnncli.training.loop import Engine

    path = tmp_path / "c.yaml"
    path.write_text(textwrap.dedent(text))
    return Engine(load_config(path))


MASKED_SEQUENCE = """\
    seed: 5
    model:
      layers:
        - {type: Embedding, input_dim: 6, output_dim: 3, mask_zero: true, input_length: 5}
        - {type: LSTM, output_dim: 4, return_sequences: true}
        - {type: TimeDistributed, layer: {type: Dense, output_dim: 3, activation: softmax}}
    training: {loss: categorical_crossentropy, batch_size: 4, sample_weight_mode: temporal, jit_compile: "false",
               metrics: [acc]}
    """


def _masked_sequences(rng: np.random.Generator, n: int = 10):
    x = rng.integers(1, 6, (n, 5)).astype(np.int32)
    lengths = rng.integers(1, 6, n)
    x[np.arange(5)[None, :] >= lengths[:, None]] = 0  # post-padding: masked steps
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, (n, 5))]
    return x, y, x != 0


def test_temporal_weights_with_mask_match_keras1_weighted_objective(tmp_path: Path):
    rng = np.random.default_rng(0)
    engine = _engine(tmp_path, MASKED_SEQUENCE)
    x, y, mask = _masked_sequences(rng)
    weights = rng.uniform(0.0, 3.0, (10, 5)).astype(np.float32)
    weights[1] = 0.0         # a sample with no weight at all
    weights[2, :2] = 0.0     # zero weights count in mean(weights != 0)
    y_pred = engine.predict(x, 4)
    expected = keras1_epoch_loss(y, y_pred, weights, mask, 4)  # 10 samples: batches of 4, 4 and a short 2
    got = engine.evaluate(Dataset(x, y, "t", sample_weight=weights))
    assert got["loss"] == pytest.approx(expected, rel=1e-5)
    unweighted = engine.evaluate(Dataset(x, y, "t"))["loss"]
    assert unweighted == pytest.approx(keras1_epoch_loss(y, y_pred, np.ones(10, np.float32), mask, 4), rel=1e-5)
    assert abs(unweighted - got["loss"]) > 1e-3
    # metrics ignore the weights (Keras 1): accuracy is the same with and without them
    assert got["acc"] == pytest.approx(engine.evaluate(Dataset(x, y, "t"))["acc"])


def test_per_sample_weights_on_a_masked_sequence_output(tmp_path: Path):
    """Weights [B] with a [B, T] masked loss: mean over time after the mask division, then weighted (Keras 1)."""
    rng = np.random.default_rng(1)
    engine = _engine(tmp_path, MASKED_SEQUENCE.replace("sample_weight_mode: temporal, ", ""))
    x, y, mask = _masked_sequences(rng)
    weights = rng.uniform(0.0, 2.0, 10).astype(np.float32)
    weights[3] = 0.0
    y_pred = engine.predict(x, 4)
    got = engine.evaluate(Dataset(x, y, "t", sample_weight=weights))["loss"]
    assert got == pytest.approx(keras1_epoch_loss(y, y_pred, weights, mask, 4), rel=1e-5)


@pytest.mark.parametrize("jit", ["false", "true"], ids=["graph", "xla"])
def test_train_step_loss_and_gradient_use_the_weights(tmp_path: Path, jit: str):
    """The reported training loss of a step is Keras 1's weighted loss of the predictions before the update; a
    sample weighted 0 gets no gradient, so its target may change freely without changing the update."""
    import tensorflow as tf

    config = MASKED_SEQUENCE.replace("training: {", "training: {optimizer: {name: sgd, lr: 0.5}, ")
    config = config.replace('jit_compile: "false"', f'jit_compile: "{jit}"')
    rng = np.random.default_rng(2)
    x, y, mask = _masked_sequences(rng, 4)
    weights = rng.uniform(0.5, 2.0, (4, 5)).astype(np.float32)
    weights[0] = 0.0
    results = []
    for first_target in (0, 2):
        engine = _engine(tmp_path, config)
        y_pred = engine.predict(x, 4)
        targets = y.copy()
        targets[0] = np.eye(3, dtype=np.float32)[first_target]
        loss, _ = engine._train_step(tf.constant(x), tf.constant(targets), tf.ones(4), tf.constant(weights))
        assert float(loss) == pytest.approx(keras1_epoch_loss(targets, y_pred, weights, mask, 4), rel=1e-5)
        results.append([v.numpy() for v in engine.variables.values()])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


# -- config checks ------------------------------------------------------------------------------------------------


def _config_errors(tmp_path: Path, training: str, layers: str = "") -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent(f"""\
        model:
          layers:
            - {{type: GRU, output_dim: 4, input_shape: [3, 2]{layers}}}
            - {{type: Dense, output_dim: 2, activation: softmax}}
        training: {training}
        """))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return "\n".join(str(d) for d in info.value.diagnostics)


def test_weighting_config_errors(tmp_path: Path):
    assert "bad.yaml:5:" in _config_errors(tmp_path, "{loss: mse, class_weight: {zero: 1.0}}")
    assert "the key 'zero' is not a class index" in _config_errors(tmp_path, "{loss: mse, class_weight: {zero: 1}}")
    assert "class 1 has weight -2" in _config_errors(tmp_path, "{loss: mse, class_weight: {0: 1, 1: -2}}")
    assert "must be `auto` or a mapping" in _config_errors(tmp_path, "{loss: mse, class_weight: balanced}")
    assert "without a time axis" in _config_errors(tmp_path, "{loss: mse, sample_weight_mode: temporal}")
    text = _config_errors(tmp_path, "{loss: mse, class_weight: auto}", ", return_sequences: true")
    assert "not supported for outputs with a time axis" in text


# -- end to end through the CLI -----------------------------------------------------------------------------------


def _invoke(*args: str):
    from click.testing import CliRunner

    from rnncli.cli.main import main

    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _history(run: Path) -> dict:
    import csv

    with open(run / "history.csv") as handle:
        return {k: float(v) for k, v in next(csv.DictReader(handle)).items()}


def test_class_weights_in_training_and_validation_split(tmp_path: Path):
    """lr = 0 keeps the weights, so the logged losses are the Keras 1 losses of the trained model's predictions:
    class weights on the training part and, as Keras 1 fit(validation_split=...) did, on the split-off part."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 3, 2)).astype(np.float32)
    labels = np.where(rng.uniform(size=40) < 0.7, 0, rng.integers(1, 3, 40))
    y = np.eye(3, dtype=np.float32)[labels]
    np.savez(tmp_path / "d.npz", x=x, y=y)
    (tmp_path / "c.yaml").write_text(textwrap.dedent("""\
        model:
          layers:
            - {type: GRU, output_dim: 4, input_shape: [3, 2]}
            - {type: Dense, output_dim: 3, activation: softmax}
        data: {train: d.npz, validation_split: 0.25}
        training:
          loss: categorical_crossentropy
          optimizer: {name: sgd, lr: 0.0}
          class_weight: {0: 0.5, 1: 2.0, 2: 4.0}
          batch_size: 8
          nb_epoch: 1
          shuffle: false
          jit_compile: "false"
        """))
    run = tmp_path / "run"
    result = _invoke("train", str(tmp_path / "c.yaml"), "-o", str(run))
    assert result.exit_code == 0, result.output
    np.save(tmp_path / "x.npy", x)
    assert _invoke("predict", str(run), "-i", str(tmp_path / "x.npy"), "-o", str(tmp_path / "p.npy")).exit_code == 0
    y_pred = np.load(tmp_path / "p.npy")
    weights = np.array([0.5, 2.0, 4.0], np.float32)[labels]
    logged = _history(run)
    assert logged["loss"] == pytest.approx(keras1_epoch_loss(y[:30], y_pred[:30], weights[:30], None, 8), rel=1e-5)
    assert logged["val_loss"] == pytest.approx(keras1_epoch_loss(y[30:], y_pred[30:], weights[30:], None, 8),
                                               rel=1e-5)


def test_sample_weight_column_of_a_csv(tmp_path: Path):
    """`data.sample_weight: w` takes the header column `w` as weights and out of the inputs."""
    rng = np.random.default_rng(4)
    features = rng.normal(size=(12, 2)).astype(np.float32)
    weights = rng.uniform(0.0, 2.0, 12).astype(np.float32)
    weights[5] = 0.0
    target = rng.normal(size=12).astype(np.float32)
    rows = ["a,w,b,y"] + [f"{f[0]!r},{w!r},{f[1]!r},{t!r}" for f, w, t in zip(features.tolist(), weights.tolist(),
                                                                          target.tolist())]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "c.yaml").write_text(textwrap.dedent("""\
        model:
          layers:
            - {type: Dense, output_dim: 3, input_dim: 2, activation: tanh}
            - {type: Dense, output_dim: 1}
        data: {train: d.csv, sample_weight: w}
        training: {loss: mse, optimizer: {name: sgd, lr: 0.0}, batch_size: 5, nb_epoch: 1, shuffle: false}
        """))
    run = tmp_path / "run"
    result = _invoke("train", str(tmp_path / "c.yaml"), "-o", str(run))
    assert result.exit_code == 0, result.output
    np.save(tmp_path / "x.npy", features)
    assert _invoke("predict", str(run), "-i", str(tmp_path / "x.npy"), "-o", str(tmp_path / "p.npy")).exit_code == 0
    y_pred = np.load(tmp_path / "p.npy")[:, 0].astype(np.float64)
    expected, seen = 0.0, 0
    for start in range(0, 12, 5):
        part = slice(start, start + 5)
        score = (y_pred[part] - target[part]) ** 2
        expected += keras1_weighted_objective(score, weights[part], None) * len(score)
        seen += len(score)
    assert _history(run)["loss"] == pytest.approx(expected / seen, rel=1e-5)
    evaluated = _invoke("evaluate", str(run), "--data", str(tmp_path / "d.csv"), "--json")  # the file's weights
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["loss"] == pytest.approx(expected / seen, rel=1e-5)
    (tmp_path / "c.yaml").write_text((tmp_path / "c.yaml").read_text().replace("sample_weight: w", "sample_weight: q"))
    missing = _invoke("train", str(tmp_path / "c.yaml"), "-o", str(tmp_path / "run2"))
    assert missing.exit_code == 2 and "no sample weights named `q`" in missing.output


def test_npz_and_npy_weights_are_read(tmp_path: Path):
    from rnncli.data.weighting import read_sample_weights

    x, w = np.zeros((3, 2, 1), np.float32), np.array([[1.0, 0.0], [2.0, 1.0], [0.5, 0.5]], np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=x, w=w)
    raw = Dataset(x, x, str(tmp_path / "d.npz"))
    np.testing.assert_array_equal(read_sample_weights(raw, tmp_path / "d.npz", "w", None)[1], w)
    assert read_sample_weights(raw, tmp_path / "d.npz", "other", None)[1] is None
    np.save(tmp_path / "w.npy", w[:, 0])
    np.testing.assert_array_equal(read_sample_weights(raw, tmp_path / "x.npy", None, tmp_path / "w.npy")[1], w[:, 0])
