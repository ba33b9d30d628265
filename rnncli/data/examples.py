"""Helpers for the example configs: decoding the addition task's one-hot questions and answers.

Nothing here prints; ``scripts/addition_samples.py`` is the command-line front end.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnncli.errors import DataError

ADDITION_CHARS = "0123456789+ "  # datasets/addition*.npz one-hot column order (also stored as `chars`)


@dataclass
class AdditionSample:
    question: str    # e.g. "12+345" (un-reversed, stripped)
    answer: str      # the model's decoded answer, stripped
    truth: str | None

    @property
    def correct(self) -> bool | None:
        return None if self.truth is None else self.answer == self.truth


def decode_onehot(array: np.ndarray, chars: str = ADDITION_CHARS) -> list[str]:
    """(N, T, C) one-hot or probabilities -> N strings of the argmax characters."""
    array = np.asarray(array)
    if array.ndim != 3 or array.shape[-1] != len(chars):
        raise DataError(f"expected (N, T, {len(chars)}) one-hot/probabilities, got shape {array.shape}")
    idx = array.argmax(axis=-1)
    return ["".join(chars[i] for i in row) for row in idx]


def load_addition(path: str | Path) -> tuple[np.ndarray, np.ndarray | None, str]:
    """x, y (or None) and the charset of an addition ``.npz`` (``chars`` if stored, else the default order)."""
    with np.load(path, allow_pickle=False) as archive:
        x = archive["x"]
        y = archive["y"] if "y" in archive.files else None
        chars = bytes(archive["chars"]).decode("ascii") if "chars" in archive.files else ADDITION_CHARS
    return x, y, chars


def decode_addition(x: np.ndarray, predictions: np.ndarray, y: np.ndarray | None = None,
                    chars: str = ADDITION_CHARS, inverted: bool = True) -> list[AdditionSample]:
    """Questions (reversed on input when ``inverted``, as in addition_rnn.py), the model's answers and the truth."""
    if len(x) != len(predictions):
        raise DataError(f"{len(x)} questions but {len(predictions)} predictions")
    questions = decode_onehot(x, chars)
    answers = decode_onehot(predictions, chars)
    truths = decode_onehot(y, chars) if y is not None else [None] * len(x)
    samples = []
    for q, a, t in zip(questions, answers, truths):
        q = q[::-1] if inverted else q
        samples.append(AdditionSample(q.strip(), a.strip(), None if t is None else t.strip()))
    return samples


def sequence_accuracy(samples: list[AdditionSample]) -> float:
    """Fraction of questions whose whole answer is right (stricter than the per-character `acc`)."""
    judged = [s.correct for s in samples if s.correct is not None]
    return float(np.mean(judged)) if judged else float("nan")
