"""Names and arguments of the Keras 1 (1.2.2) optimizers, objectives and metrics.

The single source of truth for what the ``training:`` section of a config may name. The config validator, the
generated docs and the TensorFlow code in ``optimizers``, ``losses`` and ``metrics`` all read these tables.
Pure Python on purpose: importing this module must not import TensorFlow or numpy.

>>> resolve_loss("mse")
'mean_squared_error'
>>> metric_key("accuracy"), metric_key("mae")
('acc', 'mean_absolute_error')
"""

from __future__ import annotations

import difflib
from typing import Any

from rnncli.config.args import Arg

# The fuzz factor Keras 1 uses for crossentropy clipping and in msle, mape, kld and poisson (`K.epsilon()`).
EPSILON = 1e-7

_LR = "Learning rate (>= 0)."
_DECAY = "Learning rate decay per update: lr / (1 + decay * iterations)."
_EPS = "Fuzz factor added to the denominator."
_RHO = "Decay factor of the moving average of squared gradients."
_BETA_1 = "Decay rate of the first-moment estimate."
_BETA_2 = "Decay rate of the second-moment estimate."
_CLIPNORM = "Rescale all gradients together when their global L2 norm exceeds this value (null: off)."
_CLIPVALUE = "Clip every gradient element to [-clipvalue, clipvalue] (null: off)."


def _number(name: str, default: float | None, help_text: str) -> Arg:
    return Arg(name, "float", default, help_text, low=0.0, nullable=default is None)


def _clipping() -> tuple[Arg, ...]:
    return (_number("clipnorm", None, _CLIPNORM), _number("clipvalue", None, _CLIPVALUE))


# name -> the optimizer's arguments, defaults from Keras 1.2.2 `keras/optimizers.py`.
OPTIMIZERS: dict[str, tuple[Arg, ...]] = {
    "sgd": (
        _number("lr", 0.01, _LR),
        _number("momentum", 0.0, "Momentum factor (0: plain SGD)."),
        _number("decay", 0.0, _DECAY),
        Arg("nesterov", "bool", False, "Use Nesterov momentum."),
        *_clipping(),
    ),
    "rmsprop": (
        _number("lr", 0.001, _LR),
        _number("rho", 0.9, _RHO),
        _number("epsilon", 1e-8, _EPS),
        _number("decay", 0.0, _DECAY),
        *_clipping(),
    ),
    "adagrad": (
        _number("lr", 0.01, _LR),
        _number("epsilon", 1e-8, _EPS),
        _number("decay", 0.0, _DECAY),
        *_clipping(),
    ),
    "adadelta": (
        _number("lr", 1.0, _LR + " Keras 1 recommends leaving it at 1.0."),
        _number("rho", 0.95, _RHO),
        _number("epsilon", 1e-8, _EPS),
        _number("decay", 0.0, _DECAY),
        *_clipping(),
    ),
    "adam": (
        _number("lr", 0.001, _LR),
        _number("beta_1", 0.9, _BETA_1),
        _number("beta_2", 0.999, _BETA_2),
        _number("epsilon", 1e-8, _EPS),
        _number("decay", 0.0, _DECAY),
        *_clipping(),
    ),
    "adamax": (
        _number("lr", 0.002, _LR),
        _number("beta_1", 0.9, _BETA_1),
        _number("beta_2", 0.999, "Decay rate of the exponentially weighted infinity norm."),
        _number("epsilon", 1e-8, _EPS),
        _number("decay", 0.0, _DECAY),
        *_clipping(),
    ),
    # Keras 1.2.2 Nadam has no `decay`; its momentum warm-up is governed by `schedule_decay`.
    "nadam": (
        _number("lr", 0.002, _LR),
        _number("beta_1", 0.9, _BETA_1),
        _number("beta_2", 0.999, _BETA_2),
        _number("epsilon", 1e-8, _EPS),
        _number("schedule_decay", 0.004,
                "Momentum warm-up: mu_t = beta_1 * (1 - 0.5 * 0.96 ** (t * schedule_decay))."),
        *_clipping(),
    ),
}

# Keras 1 class names, accepted as optimizer names too (`optimizer: Adam`).
OPTIMIZER_CLASS_NAMES = {"SGD": "sgd", "RMSprop": "rmsprop", "Adagrad": "adagrad", "Adadelta": "adadelta",
                          "Adam": "adam", "Adamax": "adamax", "Nadam": "nadam"}

# Canonical Keras 1.2.2 objective names (`keras/objectives.py`) -> help text.
LOSSES: dict[str, str] = {
    "mean_squared_error": "mean((y_pred - y_true)^2) over the last axis.",
    "mean_absolute_error": "mean(|y_pred - y_true|) over the last axis.",
    "mean_absolute_percentage_error": "100 * mean(|y_true - y_pred| / clip(|y_true|, 1e-7, inf)).",
    "mean_squared_logarithmic_error": "mean((log(clip(y_pred, 1e-7) + 1) - log(clip(y_true, 1e-7) + 1))^2).",
    "squared_hinge": "mean(max(1 - y_true * y_pred, 0)^2); targets in {-1, 1}.",
    "hinge": "mean(max(1 - y_true * y_pred, 0)); targets in {-1, 1}.",
    "binary_crossentropy": "Mean log loss of independent sigmoid outputs, predictions clipped to [1e-7, 1 - 1e-7].",
    "categorical_crossentropy": "-sum(y_true * log(p)) with p renormalised to sum 1 and clipped; one-hot targets.",
    "sparse_categorical_crossentropy": "categorical_crossentropy with integer class targets of shape (..., 1).",
    "kullback_leibler_divergence": "sum(y_true * log(y_true / y_pred)), both clipped to [1e-7, 1].",
    "poisson": "mean(y_pred - y_true * log(y_pred + 1e-7)).",
    "cosine_proximity": "-mean(l2_normalize(y_true) * l2_normalize(y_pred)) over the last axis.",
}

LOSS_ALIASES: dict[str, str] = {
    "mse": "mean_squared_error",
    "MSE": "mean_squared_error",
    "mae": "mean_absolute_error",
    "MAE": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "MAPE": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error",
    "MSLE": "mean_squared_logarithmic_error",
    "kld": "kullback_leibler_divergence",
    "KLD": "kullback_leibler_divergence",
    "cosine": "cosine_proximity",
}

_ACCURACY_HELP = "Accuracy: binary for binary_crossentropy or one output unit, sparse for sparse targets, else argmax."
ACCURACY_METRICS: dict[str, str] = {
    "accuracy": _ACCURACY_HELP,
    "acc": _ACCURACY_HELP,
    "binary_accuracy": "mean(y_true == round(y_pred)).",
    "categorical_accuracy": "argmax(y_true) == argmax(y_pred).",
    "sparse_categorical_accuracy": "integer y_true == argmax(y_pred).",
}

# Keras 1.2 `keras/metrics.py` metrics computed over a whole batch (not averaged per sample), plus the top-k
# accuracies. precision/recall/fbeta_score/fmeasure were removed in Keras 2.0: like Keras 1.2 they are batch-wise
# values (epoch logs average the batches' values), not global precision/recall over the epoch.
_BATCHWISE = " Computed per batch, as Keras 1.2 did; the epoch value is the mean of the batch values."
BATCH_METRICS: dict[str, str] = {
    "precision": "sum(round(clip(y_true * y_pred, 0, 1))) / (sum(round(clip(y_pred, 0, 1))) + 1e-7)." + _BATCHWISE,
    "recall": "sum(round(clip(y_true * y_pred, 0, 1))) / (sum(round(clip(y_true, 0, 1))) + 1e-7)." + _BATCHWISE,
    "fbeta_score": "(1 + b^2) p r / (b^2 p + r + 1e-7) with beta b = 1 (Keras 1's default)." + _BATCHWISE,
    "fmeasure": "F1: fbeta_score with beta = 1." + _BATCHWISE,
    "top_k_categorical_accuracy": "Whether argmax(y_true) is among the k = 5 largest predictions (ties count as in).",
    "sparse_top_k_categorical_accuracy": "Whether the integer y_true is among the k = 5 largest predictions (Keras 2 "
                                         "name; an rnncli extension to Keras 1).",
}

# Every name accepted in `metrics:` -> help text: the accuracies, the batch metrics, then every loss name and alias.
METRICS: dict[str, str] = {
    **ACCURACY_METRICS,
    **BATCH_METRICS,
    **LOSSES,
    **{alias: LOSSES[canonical] for alias, canonical in LOSS_ALIASES.items()},
}


def _unknown(kind: str, name: object, known: list[str]) -> ValueError:
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f"; did you mean `{close[0]}`?" if close else f"; expected one of: {', '.join(known)}"
    return ValueError(f"unknown {kind} `{name}`{hint}")


def resolve_loss(name: str) -> str:
    """The canonical Keras 1 objective name for ``name`` (a canonical name or an alias such as ``mse``).

    Raises ValueError naming the closest known objective.
    """
    if isinstance(name, str):
        if name in LOSSES:
            return name
        if name in LOSS_ALIASES:
            return LOSS_ALIASES[name]
    raise _unknown("loss", name, [*LOSSES, *LOSS_ALIASES])


def resolve_metric(name: str) -> str:
    """The canonical metric name: ``accuracy`` for ``acc``, the canonical objective for a loss name or alias."""
    if isinstance(name, str):
        if name in ("acc", "accuracy"):
            return "accuracy"
        if name in ACCURACY_METRICS or name in BATCH_METRICS:
            return name
        if name in LOSSES or name in LOSS_ALIASES:
            return resolve_loss(name)
    raise _unknown("metric", name, list(METRICS))


def metric_key(name: str) -> str:
    """The key Keras 1 reports a metric under in logs and history: ``acc`` for ``accuracy``/``acc``, the canonical
    function name otherwise (``mse`` is reported as ``mean_squared_error``). Validation keys add a ``val_`` prefix."""
    canonical = resolve_metric(name)
    return "acc" if canonical == "accuracy" else canonical
