#!/usr/bin/env python
"""Print the markdown results table of the example runs made by scripts/reproduce_examples.sh.

    python scripts/examples_table.py runs/examples [NAME ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rnncli.runs import RunStore  # noqa: E402

KERAS1 = {
    "stateful_cosine": "none reported (plots expected vs predicted), 25 epochs",
    "addition": "99% train/test acc after ~100 epochs (3 digits, 50k examples)",
    "char_lm": "qualitative: coherent text after ≥20 epochs",
    "digits_irnn": "MNIST 28x28: 0.93 train/test acc after 900 epochs (lr 1e-6)",
    "masked_classification": "imdb_lstm.py: no number reported",
    "bidirectional": "IMDB: ~0.8146 test acc after 4 epochs",
    "sunspots_gru": "(no Keras 1 script) naive same-as-last-year: val MSE 0.108228, MAE 0.250533",
    "series_forecast": "(no Keras 1 script) persistence, the next 6 hours = the last one: val MSE 0.709 (normalized)",
    "ragged_classifier": "(no Keras 1 script) majority class: val acc 0.71",
    "stateful_series": "stateful_lstm.py laid out its batches by hand; persistence: val MSE 0.0675 (normalized)",
    "store_forecast": "(no Keras 1 script) same weekday last week: val MSE 0.539; the history alone (a chain LSTM): "
                      "val MSE 0.29",
    "reverse_seq2seq": "(Keras 2 lstm_seq2seq.py layout) the decoder without the encoder's states: chance, 0.1",
}
NAIVE_MSE, NAIVE_MAE = 0.108228, 0.250533


def first_epoch(rows: list[dict], key: str, threshold: float) -> str:
    for row in rows:
        if row.get(key, float("-inf")) >= threshold:
            return f"first ≥ {threshold:g} at epoch {int(row['epoch'])}"
    return f"never ≥ {threshold:g}"


def measured(name: str, rows: list[dict], out: Path) -> str:
    last = rows[-1]
    if name == "stateful_cosine":
        return f"train MSE {last['loss']:.4g} (epoch 1: {rows[0]['loss']:.4g})"
    if name == "addition":
        text = f"val acc (per char) {last['val_acc']:.4f}, train acc {last['acc']:.4f}; " \
               f"{first_epoch(rows, 'val_acc', 0.99)}"
        samples = out / "addition_samples.txt"
        if samples.exists():
            for line in samples.read_text().splitlines():
                if line.startswith("whole-answer accuracy"):
                    text += f"; val whole-answer acc {line.split()[2]}"
        return text
    if name == "char_lm":
        return f"train loss {last['loss']:.4f} (epoch 1: {rows[0]['loss']:.4f})"
    if name in ("digits_irnn", "masked_classification", "bidirectional"):
        best = max(rows, key=lambda r: r["val_acc"])
        return f"test/val acc {last['val_acc']:.4f} (best {best['val_acc']:.4f} at epoch {int(best['epoch'])}), " \
               f"train acc {last['acc']:.4f}"
    if name == "sunspots_gru":
        mae = next(k for k in last if k.startswith("val_") and k not in ("val_loss",))
        best = min(rows, key=lambda r: r["val_loss"])
        return f"val MSE {last['val_loss']:.4f}, MAE {last[mae]:.4f} (best val MSE {best['val_loss']:.4f} at epoch " \
               f"{int(best['epoch'])}); naive {NAIVE_MSE} / {NAIVE_MAE}"
    if name == "store_forecast":
        best = min(rows, key=lambda r: r["val_loss"])
        return f"val MSE {last['val_loss']:.4f} (best {best['val_loss']:.4f} at epoch {int(best['epoch'])})"
    if name == "reverse_seq2seq":
        return f"val acc (per digit, teacher forcing) {last['val_acc']:.4f}, train acc {last['acc']:.4f}"
    return f"loss {last['loss']:.4g}"


def main() -> int:
    out = Path(sys.argv[1])
    names = sys.argv[2:] or sorted(p.name for p in out.iterdir() if (p / "history.csv").exists())
    print("| example | Keras 1 result | ours (metric) | epochs | wall time | command |")
    print("|---|---|---|---|---|---|")
    for name in names:
        run = RunStore(out / name)
        rows = run.read_history()
        if not rows:
            print(f"| {name} | {KERAS1.get(name, '')} | (no completed epoch) | 0 | | |")
            continue
        wall = float((out / f"{name}.wall").read_text()) if (out / f"{name}.wall").exists() else \
            sum(r["seconds"] for r in rows)
        info = json.loads((out / name / "run.json").read_text())
        per_epoch = sum(r["seconds"] for r in rows) / len(rows)
        print(f"| {name} | {KERAS1.get(name, '')} | {measured(name, rows, out)} | {len(rows)} | "
              f"{wall / 60:.1f} min ({per_epoch:.1f} s/epoch, {info.get('device', '?')}) | "
              f"`rnncli train configs/{name}.yaml` |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
