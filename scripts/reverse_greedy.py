#!/usr/bin/env python
"""Greedy decoding of a configs/reverse_seq2seq.yaml run: the decoder reads its own answers instead of the true ones.

    python scripts/reverse_greedy.py RUN [datasets/reverse_val.npz]

Teacher forcing (the trained graph as it is) feeds the true previous digit; here step t's input is the digit the
model answered at step t-1, starting from the start symbol, one full predict per step (8 in all). Prints the share
of digits and of whole sequences right both ways.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rnncli.commands.source import load_source  # noqa: E402

START = 10  # datasets/generate_graphs.py: the start symbol's one-hot index


def main() -> int:
    run = Path(sys.argv[1])
    data = np.load(sys.argv[2] if len(sys.argv) > 2 else Path(__file__).resolve().parents[1] / "datasets" /
                   "reverse_val.npz")
    source, truth = data["source"].astype(np.float32), data["reversed"].argmax(-1)
    engine = load_source(run).engine
    forced = engine.predict({"source": source, "decoder_in": data["decoder_in"].astype(np.float32)}, 256)
    forced = forced["reversed"].argmax(-1)
    decoder_in = np.zeros(data["decoder_in"].shape, np.float32)
    decoder_in[:, 0, START] = 1
    steps = truth.shape[1]
    for t in range(steps):
        answer = engine.predict({"source": source, "decoder_in": decoder_in}, 256)["reversed"].argmax(-1)
        if t + 1 < steps:
            decoder_in[np.arange(len(source)), t + 1, answer[:, t]] = 1
    for name, guess in (("teacher forcing", forced), ("greedy", answer)):
        print(f"{name}: digits {np.mean(guess == truth):.4f}, whole sequences {np.mean((guess == truth).all(1)):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
