#!/usr/bin/env python
"""Decode `rnncli predict` output of the addition example: questions, the model's answers, right or wrong.

    rnncli predict runs/addition --input datasets/addition_val.npz --output /tmp/addition_pred.npy
    python scripts/addition_samples.py datasets/addition_val.npz /tmp/addition_pred.npy -n 10
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rnncli.data.examples import decode_addition, load_addition, sequence_accuracy  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="the addition .npz given to `rnncli predict --input`")
    parser.add_argument("predictions", type=Path, help="the .npy written by `rnncli predict --output`")
    parser.add_argument("-n", type=int, default=10, help="how many samples to show (default 10)")
    args = parser.parse_args()
    x, y, chars = load_addition(args.data)
    samples = decode_addition(x, np.load(args.predictions, allow_pickle=False), y, chars)
    for s in samples[: args.n]:
        mark = "" if s.correct is None else ("ok" if s.correct else f"WRONG (expected {s.truth})")
        print(f"{s.question:>8} = {s.answer:<5} {mark}")
    if y is not None:
        print(f"whole-answer accuracy: {sequence_accuracy(samples):.4f} on {len(samples)} questions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
