#!/usr/bin/env python
"""(Re)create the named-array datasets of the two graph examples (several inputs, states between layers).

    python datasets/generate_graphs.py           # writes store_sales*.npz and reverse*.npz
    python datasets/generate_graphs.py --check   # regenerate in memory, compare with the shipped files (exit 1)

Deterministic (``numpy.random.RandomState`` with fixed seeds). Each file holds one array per model input and
output, by name, as a graph's data does (``np.savez(path, history=..., static=..., sales=...)``).

* ``store_sales.npz`` (4000 samples) / ``store_sales_val.npz`` (1000): next-day sales of a shop.
  ``history`` [28, 2] float32: the last 28 days' sales and whether each day had a promotion; ``static`` [3]
  float32: the shop's size, whether tomorrow has a promotion and its discount (0 without one); ``sales`` [1]:
  tomorrow's sales. Sales = size x weekly pattern (shop-specific phase) x (1 + lift), lift = 0.5 + 2 x discount
  on promotion days, plus noise of 3% of the size. Tomorrow's promotion is only in ``static``: a model of the
  history alone cannot know it. Used by ``configs/store_forecast.yaml``.
* ``reverse.npz`` (8000) / ``reverse_val.npz`` (1000): reverse a sequence of 8 digits, the Keras ``lstm_seq2seq``
  layout with teacher forcing. ``source`` [8, 10] uint8 one-hot digits; ``decoder_in`` [8, 11] uint8 one-hot: a
  start symbol (index 10) then the reversed digits shifted by one step; ``reversed`` [8, 10] uint8 one-hot: the
  reversed digits. The decoder sees only the previous answer digit, so without the encoder's states it is at
  chance (0.1 per digit). Used by ``configs/reverse_seq2seq.yaml``.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

SALES_DAYS = 28
SALES_P_PROMO = 0.15
REVERSE_LENGTH = 8
REVERSE_DIGITS = 10


def store_sales(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.RandomState(seed)
    size = rng.uniform(0.5, 2.0, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    days = np.arange(SALES_DAYS + 1)
    promo = (rng.uniform(size=(n, SALES_DAYS + 1)) < SALES_P_PROMO).astype(np.float64)
    discount = promo * rng.uniform(0.1, 0.5, (n, SALES_DAYS + 1))
    weekly = 1 + 0.3 * np.sin(2 * np.pi * days[None, :] / 7 + phase[:, None])
    lift = promo * (0.5 + 2 * discount)
    sales = size[:, None] * weekly * (1 + lift) + rng.normal(0, 0.03, (n, SALES_DAYS + 1)) * size[:, None]
    sales = np.round(sales, 2)  # as a shop records them (and the file compresses to a third)
    history = np.stack([sales[:, :-1], promo[:, :-1]], axis=-1)
    static = np.stack([size, promo[:, -1], discount[:, -1]], axis=-1).round(2)
    return {"history": history.astype(np.float32), "static": static.astype(np.float32),
            "sales": sales[:, -1:].astype(np.float32)}


def reverse(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.RandomState(seed)
    digits = rng.randint(0, REVERSE_DIGITS, (n, REVERSE_LENGTH))
    answer = digits[:, ::-1]
    decoder_in = np.concatenate([np.full((n, 1), REVERSE_DIGITS), answer[:, :-1]], axis=1)
    eye = np.eye(REVERSE_DIGITS + 1, dtype=np.uint8)
    return {"source": eye[digits][..., :REVERSE_DIGITS], "decoder_in": eye[decoder_in],
            "reversed": eye[answer][..., :REVERSE_DIGITS]}


def baselines(val: dict[str, np.ndarray]) -> dict[str, float]:
    """Naive forecasts of ``store_sales_val``: yesterday's sales, and the same weekday last week (MSE)."""
    y = val["sales"][:, 0]
    return {"persistence_mse": float(np.mean((val["history"][:, -1, 0] - y) ** 2)),
            "seasonal_naive_mse": float(np.mean((val["history"][:, -7, 0] - y) ** 2))}


FILES = {"store_sales": lambda: store_sales(4000, 2701), "store_sales_val": lambda: store_sales(1000, 2702),
         "reverse": lambda: reverse(8000, 2703), "reverse_val": lambda: reverse(1000, 2704)}


def _same(path: Path, arrays: dict[str, np.ndarray]) -> bool:
    if not path.exists():
        return False
    with np.load(path, allow_pickle=False) as old:
        return set(old.files) == set(arrays) and all(
            old[k].dtype == v.dtype and np.array_equal(old[k], v) for k, v in arrays.items())


def main(argv: list[str]) -> int:
    differ = []
    for name, make in FILES.items():
        arrays = make()
        path = HERE / f"{name}.npz"
        if "--check" in argv:
            if not _same(path, arrays):
                differ.append(path.name)
        elif not _same(path, arrays):
            fd, tmp = tempfile.mkstemp(suffix=".npz", dir=HERE)
            os.close(fd)
            np.savez_compressed(tmp, **arrays)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
    if differ:
        print("differ: " + ", ".join(differ))
        return 1
    print("store_sales_val baselines: " + ", ".join(f"{k} {v:.4f}" for k, v in baselines(FILES["store_sales_val"]())
                                                     .items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
