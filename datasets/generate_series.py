#!/usr/bin/env python
"""(Re)create the series and ragged-sequence datasets of the `data.series` / `data.pad` examples.

    python datasets/generate_series.py           # writes weather.csv, ragged.jsonl, ragged_val.jsonl
    python datasets/generate_series.py --check   # regenerate in memory, compare with the shipped files

Deterministic (``numpy.random.RandomState`` with fixed seeds; values rounded to 2 decimals).

* ``weather.csv``: 4000 hourly steps of a synthetic weather station, header ``hour,temp,humidity,pressure``:
  a daily temperature cycle plus a slow drift and AR(1) noise; humidity falls as temperature rises; pressure is a
  slow random walk. Used by ``configs/series_forecast.yaml`` (multi-column, multi-step) and
  ``configs/stateful_series.yaml`` (truncated BPTT).
* ``ragged.jsonl`` (2000 lines) / ``ragged_val.jsonl`` (500): ``{"x": [ids], "y": 0|1}``, 3..40 token ids in
  1..19; y = 1 when token 7 occurs more often than token 3 (a counting task an RNN must read the whole
  sequence for). Used by ``configs/ragged_classifier.yaml``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def weather_text(steps: int = 4000, seed: int = 26) -> str:
    rng = np.random.RandomState(seed)
    hour = np.arange(steps)
    noise = np.zeros(steps)
    shocks = rng.normal(0.0, 0.6, steps)
    for t in range(1, steps):
        noise[t] = 0.9 * noise[t - 1] + shocks[t]
    temp = 12 + 6 * np.sin(2 * np.pi * (hour - 9) / 24) + 3 * np.sin(2 * np.pi * hour / (24 * 30)) + noise
    humidity = np.clip(70 - 2.5 * (temp - 12) + rng.normal(0, 3, steps), 5, 100)
    pressure = 1013 + np.cumsum(rng.normal(0, 0.3, steps))
    lines = ["hour,temp,humidity,pressure"] + [f"{h},{a:.2f},{b:.2f},{c:.2f}"
                                               for h, a, b, c in zip(hour, temp, humidity, pressure)]
    return "\n".join(lines) + "\n"


def ragged_text(n: int, seed: int) -> str:
    rng = np.random.RandomState(seed)
    lines = []
    for _ in range(n):
        x = rng.randint(1, 20, size=rng.randint(3, 41))
        lines.append(json.dumps({"x": x.tolist(), "y": int((x == 7).sum() > (x == 3).sum())}))
    return "\n".join(lines) + "\n"


FILES = {"weather.csv": lambda: weather_text(), "ragged.jsonl": lambda: ragged_text(2000, 261),
         "ragged_val.jsonl": lambda: ragged_text(500, 262)}


def main(argv: list[str]) -> int:
    differ = []
    for name, make in FILES.items():
        text = make()
        path = HERE / name
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                differ.append(name)
        elif not path.exists() or path.read_text() != text:
            path.write_text(text)
    if differ:
        print("differ: " + ", ".join(differ))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
