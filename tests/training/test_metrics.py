"""Metrics: Keras 1's choice of accuracy, losses as metrics, and masked averaging."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from rnncli.training.metrics import get_metric
from rnncli.config.training_specs import LOSS_ALIASES, LOSSES, METRICS, metric_key, resolve_metric

B, T, D = 4, 3, 5
MASK = np.array([[1, 1, 1], [0, 1, 1], [0, 0, 1], [1, 0, 1]], dtype=bool)


def _probs(rng, shape):
    e = np.exp(rng.normal(size=shape) * 2)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def _apply(metric, y_true, y_pred, mask=None) -> float:
    return float(metric(tf.constant(y_true), tf.constant(y_pred), None if mask is None else tf.constant(mask)))


def _masked_mean(values: np.ndarray, mask: np.ndarray | None) -> float:
    return float(values.mean() if mask is None else values[mask].mean())


@pytest.mark.parametrize("mask", [None, MASK], ids=["unmasked", "masked"])
@pytest.mark.parametrize("name", ["accuracy", "acc"])
def test_categorical_accuracy_by_default(name, mask):
    rng = np.random.default_rng(0)
    y_pred = _probs(rng, (B, T, D))
    y_true = np.eye(D, dtype=np.float32)[rng.integers(0, D, (B, T))]
    y_true[:2] = np.eye(D, dtype=np.float32)[y_pred[:2].argmax(-1)]  # some hits
    hits = (y_true.argmax(-1) == y_pred.argmax(-1)).astype(np.float64)
    for loss in ("categorical_crossentropy", "mse", "kld"):
        got = _apply(get_metric(name, loss), y_true, y_pred, mask)
        assert got == pytest.approx(_masked_mean(hits, mask), rel=1e-6)


@pytest.mark.parametrize("mask", [None, MASK], ids=["unmasked", "masked"])
@pytest.mark.parametrize("label_shape", [(B, T, 1), (B, T)], ids=["keras1-labels", "flat-labels"])
def test_sparse_accuracy_for_sparse_crossentropy(label_shape, mask):
    rng = np.random.default_rng(1)
    y_pred = _probs(rng, (B, T, D))
    labels = rng.integers(0, D, (B, T))
    labels[0] = y_pred[0].argmax(-1)
    hits = (labels == y_pred.argmax(-1)).astype(np.float64)
    got = _apply(get_metric("acc", "sparse_categorical_crossentropy"), labels.reshape(label_shape), y_pred, mask)
    assert got == pytest.approx(_masked_mean(hits, mask), rel=1e-6)


def test_binary_accuracy_for_binary_crossentropy_averages_the_units():
    rng = np.random.default_rng(2)
    y_pred = rng.uniform(size=(B, D)).astype(np.float32)
    y_pred[0, :2] = [0.5, 0.5000001]  # tf.round / np.round: half to even
    y_true = rng.integers(0, 2, (B, D)).astype(np.float32)
    expected = (y_true == np.round(y_pred)).mean()
    assert _apply(get_metric("accuracy", "binary_crossentropy"), y_true, y_pred) == pytest.approx(expected, rel=1e-6)
    # A per-sample mask (return_sequences=False outputs are never masked, but the shape must still work).
    sample_mask = np.array([True, False, True, True])
    got = _apply(get_metric("accuracy", "binary_crossentropy"), y_true, y_pred, sample_mask)
    assert got == pytest.approx((y_true == np.round(y_pred)).mean(-1)[sample_mask].mean(), rel=1e-6)


def test_one_unit_output_uses_binary_accuracy_whatever_the_loss():
    """Keras 1: `output_shape[-1] == 1` selects binary accuracy (argmax of one unit would always match)."""
    y_true = np.array([[1.0], [0.0], [1.0], [0.0]], np.float32)
    y_pred = np.array([[0.9], [0.2], [0.3], [0.6]], np.float32)
    assert _apply(get_metric("acc", "mse"), y_true, y_pred) == pytest.approx(0.5)
    assert _apply(get_metric("categorical_accuracy", "mse"), y_true, y_pred) == 1.0


@pytest.mark.parametrize("name", ["binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy"])
def test_explicit_accuracy_names_ignore_the_loss(name):
    rng = np.random.default_rng(3)
    y_pred = _probs(rng, (B, D))
    labels = rng.integers(0, D, (B,))
    one_hot = np.eye(D, dtype=np.float32)[labels]
    y_true = labels[:, None] if name == "sparse_categorical_accuracy" else one_hot
    if name == "binary_accuracy":
        expected = (one_hot == np.round(y_pred)).mean()
    else:
        expected = (labels == y_pred.argmax(-1)).mean()
    assert _apply(get_metric(name, "mse"), y_true, y_pred) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("mask", [None, MASK], ids=["unmasked", "masked"])
@pytest.mark.parametrize("name", ["mse", "mean_absolute_error", "cosine", "binary_crossentropy"])
def test_losses_as_metrics(name, mask):
    rng = np.random.default_rng(4)
    y_true = rng.uniform(size=(B, T, D)).round().astype(np.float32)
    y_pred = rng.uniform(0.05, 0.95, size=(B, T, D)).astype(np.float32)
    t, p = y_true.astype(np.float64), y_pred.astype(np.float64)
    per_step = {
        "mse": np.mean((p - t) ** 2, -1),
        "mean_absolute_error": np.mean(np.abs(p - t), -1),
        "cosine": -np.mean(t / np.maximum(np.linalg.norm(t, axis=-1, keepdims=True), 1e-6)
                           * p / np.linalg.norm(p, axis=-1, keepdims=True), -1),
        "binary_crossentropy": np.mean(-(t * np.log(p) + (1 - t) * np.log(1 - p)), -1),
    }[name]
    metric = get_metric(name, "categorical_crossentropy")
    assert _apply(metric, y_true, y_pred, mask) == pytest.approx(_masked_mean(per_step, mask), rel=1e-5)
    assert metric.__name__ == resolve_metric(name)


def test_every_listed_metric_builds_and_runs():
    y_true = tf.constant(np.eye(D, dtype=np.float32)[[0, 1, 2, 3]])
    y_pred = tf.constant(np.full((B, D), 1.0 / D, np.float32) + np.eye(D, dtype=np.float32)[[0, 1, 2, 4]])
    labels = tf.constant([[0], [1], [2], [3]])
    for name in METRICS:
        sparse = name.startswith("sparse_")
        targets, loss = (labels, "sparse_categorical_crossentropy") if sparse else (y_true, "mse")
        value = get_metric(name, loss)(targets, y_pred, tf.constant([True, True, False, True]))
        assert value.shape == () and np.isfinite(value.numpy()), name


def test_metric_names_and_history_keys():
    assert set(METRICS) >= {"accuracy", "acc", *LOSSES, *LOSS_ALIASES}
    assert metric_key("accuracy") == metric_key("acc") == "acc"
    assert metric_key("mse") == "mean_squared_error"
    assert metric_key("categorical_accuracy") == "categorical_accuracy"


def test_unknown_names_are_rejected():
    with pytest.raises(ValueError, match="unknown metric `accurcy`; did you mean `accuracy`"):
        get_metric("accurcy", "mse")
    with pytest.raises(ValueError, match="unknown loss"):
        get_metric("acc", "nope")


def test_masked_accuracy_in_xla():
    rng = np.random.default_rng(5)
    y_pred = tf.constant(_probs(rng, (B, T, D)))
    labels = tf.constant(rng.integers(0, D, (B, T, 1)))
    metric = get_metric("acc", "sparse_categorical_crossentropy")
    compiled = tf.function(metric, jit_compile=True)(labels, y_pred, tf.constant(MASK))
    assert float(compiled) == pytest.approx(float(metric(labels, y_pred, tf.constant(MASK))))


# -- Keras 1.2 batch-wise precision / recall / F scores and top-k accuracy --------------------------------------------


def _keras12_counts(y_true: np.ndarray, y_pred: np.ndarray, keep: np.ndarray) -> tuple[float, float, float]:
    """Keras 1.2.2 keras/metrics.py in float64 numpy, over the entries ``keep`` selects (np.round: half to even)."""
    count = lambda v: float(np.round(np.clip(v, 0, 1))[keep].sum())  # noqa: E731
    return count(y_true * y_pred), count(y_pred), count(y_true)


def _keras12_scores(y_true, y_pred, keep, beta=1.0) -> dict[str, float]:
    eps = float(np.float32(1e-7))
    tp, predicted, possible = _keras12_counts(y_true.astype(np.float64), y_pred.astype(np.float64), keep)
    p, r = tp / (predicted + eps), tp / (possible + eps)
    f = (1 + beta**2) * p * r / (beta**2 * p + r + eps)
    return {"precision": p, "recall": r, "fbeta_score": f, "fmeasure": f}


@pytest.mark.parametrize("mask", [None, MASK], ids=["unmasked", "masked"])
@pytest.mark.parametrize("name", ["precision", "recall", "fbeta_score", "fmeasure"])
def test_batchwise_precision_recall_f_match_keras12(name, mask):
    rng = np.random.default_rng(5)
    y_true = rng.integers(0, 2, (B, T, D)).astype(np.float32)
    y_pred = rng.uniform(size=(B, T, D)).astype(np.float32)
    y_pred[0, 0, :3] = [0.5, 1.4, -0.2]  # half rounds to even (0), values outside [0, 1] are clipped
    keep = np.ones((B, T, D), bool) if mask is None else np.broadcast_to(MASK[..., None], (B, T, D))
    expected = _keras12_scores(y_true, y_pred, keep)[name]
    assert 0 < expected < 1
    got = _apply(get_metric(name, "binary_crossentropy"), y_true, y_pred, mask)
    assert got == pytest.approx(expected, rel=1e-6)


def test_batchwise_scores_are_not_per_sample_means_and_zero_without_positives():
    """Keras 1.2 sums the counts over the batch: 2 samples with precisions 1 and 0.5 give 2/3, not 0.75."""
    y_true = np.array([[1, 0, 0, 0], [1, 0, 0, 0]], np.float32)
    y_pred = np.array([[0.9, 0.1, 0.2, 0.3], [0.8, 0.7, 0.1, 0.1]], np.float32)
    assert _apply(get_metric("precision", "binary_crossentropy"), y_true, y_pred) == pytest.approx(2 / 3, rel=1e-6)
    none = np.zeros_like(y_true)
    for name in ("recall", "fmeasure", "fbeta_score"):
        assert _apply(get_metric(name, "binary_crossentropy"), none, y_pred) == 0.0
    # padding rows (weight 0) do not count
    weights = np.array([1.0, 0.0], np.float32)
    assert _apply(get_metric("precision", "binary_crossentropy"), y_true, y_pred, weights) == pytest.approx(1.0,
                                                                                                         rel=1e-6)


def _in_top_k(scores: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """TensorFlow's in_top_k: fewer than k classes score strictly higher than the label (ties are in)."""
    target = np.take_along_axis(scores, labels[..., None], axis=-1)
    return ((scores > target).sum(axis=-1) < k).astype(np.float64)


@pytest.mark.parametrize("mask", [None, MASK], ids=["unmasked", "masked"])
@pytest.mark.parametrize("sparse", [False, True], ids=["one-hot", "sparse"])
def test_top_k_categorical_accuracy(sparse, mask):
    rng = np.random.default_rng(6)
    classes = 9
    y_pred = _probs(rng, (B, T, classes))
    labels = rng.integers(0, classes, (B, T))
    y_pred[0, 0] = 0.0
    y_pred[0, 0, :7] = 1 / 7  # 7 tied scores straddle the k = 5 boundary: all count as in the top 5
    labels[0, 0] = 6
    expected = _in_top_k(y_pred, labels, 5)
    assert 0 < expected.mean() < 1 and expected[0, 0] == 1
    if sparse:
        name, y_true = "sparse_top_k_categorical_accuracy", labels[..., None].astype(np.float32)
    else:
        name, y_true = "top_k_categorical_accuracy", np.eye(classes, dtype=np.float32)[labels]
    got = _apply(get_metric(name, "categorical_crossentropy"), y_true, y_pred, mask)
    assert got == pytest.approx(_masked_mean(expected, mask), rel=1e-6)
    flat = _apply(get_metric(name, "categorical_crossentropy"), y_true[:, 0], y_pred[:, 0])  # 2-D outputs
    assert flat == pytest.approx(expected[:, 0].mean(), rel=1e-6)


def test_precision_like_monitors_are_maximised():
    from rnncli.training.hooks import monitor_mode

    assert [monitor_mode(m, "auto") for m in ("val_fmeasure", "precision", "val_top_k_categorical_accuracy",
                                              "val_loss", "mean_squared_error")] == ["max"] * 3 + ["min"] * 2
