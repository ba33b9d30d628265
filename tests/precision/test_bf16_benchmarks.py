"""The bf16 rows of benchmarks/bench.py and benchmarks/e2e.py: ratios against rnncli_bf16 (no timing asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def _case(impl: str, samples: list[float]) -> dict:
    return {"cell": "LSTM", "shape": "medium", "impl": impl, "phase": "train", "same_math": True,
            "median_s": sorted(samples)[len(samples) // 2], "samples_s": samples, "gflops": 1.0,
            "peak_fraction": 0.1, "first_call_s": 1.0}


def test_bench_bf16_ratios_are_theirs_over_rnncli_bf16() -> None:
    bench = _load("bench")
    cases = [_case("rnncli", [2.0, 2.0]), _case("torch", [3.0, 1.0]), _case("rnncli_bf16", [1.0, 2.0]),
             _case("torch_bf16", [1.5, 1.0]), _case("keras_bf16", [4.0, 4.0])]
    report = {"runs": [{"threads": "default", "cases": cases}], "memory": []}
    (row,) = bench.summarize(report)
    assert row["speedup_vs_rnncli_bf16"] == 0.75  # rnncli (float32) / ... as before: theirs / rnncli
    assert row["bf16_speedup_vs_rnncli"] == 1.5  # median of 2/1, 2/2
    assert row["bf16_speedup_vs_torch"] == 1.75  # median of 3/1, 1/2
    assert row["bf16_speedup_vs_torch_bf16"] == 1.0  # median of 1.5, 0.5
    assert "bf16_speedup_vs_rnncli_bf16" not in row
    report["summary"] = [row]
    table = "\n".join(bench._bf16_table(report))
    assert "| default | LSTM | medium | train |" in table and "| 1.50 | 3.00 | 1.75 | 1.00 |" in table


def test_e2e_bf16_summary_uses_rnncli_bf16_as_reference() -> None:
    e2e = _load("e2e")
    rounds = [{impl: {"epoch_s": [9.0, s, s], "wall_s": 10.0, "cpu_s": 20.0}
               for impl, s in (("rnncli", 3.0), ("torch", 4.0), ("rnncli_bf16", 2.0), ("torch_bf16", 2.5))}]
    summary = e2e.summarize("epoch", rounds, "rnncli_bf16")
    ratios = summary["ratios"]["steady_epoch_s"]
    assert ratios["torch"]["median"] == 2.0 and ratios["torch_bf16"]["median"] == 1.25
    assert ratios["rnncli"]["median"] == 1.5 and "rnncli_bf16" not in ratios
    table = e2e.format_table({"scenarios": {"epoch": {"bf16_summary": summary}}}, "bf16_summary", "rnncli_bf16")
    assert "| epoch | steady_epoch_s | 2.000 | torch | 4.000 | 2.00x (2.00-2.00) |" in table
