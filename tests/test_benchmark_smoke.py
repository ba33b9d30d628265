"""The benchmark still runs and writes the JSON that benchmarks/results/latest.json keeps (structure only).

Never gates on times: those depend on the machine and its load. One process, a tiny LSTM, every implementation.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks" / "bench.py"


def test_quick_benchmark_writes_the_report_structure(tmp_path):
    output = tmp_path / "report.json"
    run = subprocess.run([sys.executable, str(BENCH), "--quick", "--cells", "LSTM", "--json", "--output", str(output)],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(output.read_text())
    assert json.loads(run.stdout) == report
    assert report["schema"] == 1 and report["quick"] is True
    assert {"machine", "settings", "loadavg_start", "loadavg_end", "runs", "memory", "summary"} <= set(report)
    assert report["machine"]["cpus"] >= 1 and report["settings"]["shapes"]["tiny"]["batch"] == 4

    (run_,) = report["runs"]
    assert run_["threads"] == "default" and run_["matmul_gflops"]["peak"] > 0
    # --quick reads memory from the timing worker's resident set, so it asks for malloc (a pool would hide it);
    # where oneDNN is on, TensorFlow puts oneDNN's pool in malloc's place, and the report says so
    assert report["settings"]["allocator"] == "malloc"
    assert run_["host_allocator"] == ("onednn" if run_["onednn"] else "malloc"), run_["host_allocator"]
    cases = {(c["impl"], c["phase"]): c for c in run_["cases"]}
    assert set(cases) == {(impl, phase) for impl in ("rnncli", "keras", "torch") for phase in ("train", "infer")}
    for case in cases.values():
        assert case["cell"] == "LSTM" and case["shape"] == "tiny" and case["same_math"] is True
        assert case["median_s"] > 0 and len(case["samples_s"]) == 1
        assert case["gflops"] > 0 and case["peak_fraction"] > 0 and case["first_call_s"] > 0
    assert cases["rnncli", "train"]["jit_compile"]["train"] is True
    assert cases["rnncli", "infer"]["jit_compile"]["predict"] is True

    assert {(m["impl"], m["cell"]) for m in report["memory"]} == {(i, "LSTM") for i in ("rnncli", "keras", "torch")}
    rows = {row["phase"]: row for row in report["summary"]}
    assert set(rows) == {"train", "infer"}
    for row in rows.values():
        assert row["speedup_vs_keras"] > 0 and row["speedup_vs_torch"] > 0 and row["torch_same_math"] is True
        assert {"rnncli_ms", "keras_ms", "torch_ms", "rnncli_gflops", "rnncli_peak_fraction"} <= set(row)


def test_xla_profile_sorts_thunk_events_by_kind():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import xla_profile
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    expected = {
        "MatMul.18": "matmul", "MatMul_1.23": "matmul", "dot.4": "matmul",
        "subtract_multiply_fusion.2": "fusion", "wrapped_add.3": "fusion", "add_divide_fusion.2": "fusion",
        "copy.19": "copy", "dynamic-update-slice.3": "copy",
        "concat.7": "other", "broadcast.2": "other",
        # runtime wrappers contain the thunks above: counting them would count time twice
        "ThunkExecutor::Execute": None, "while.9": None, "EagerExecute": None, "__inference_g_332:x": None,
        "BlockUntilReady": None, "g": None,
    }
    assert {name: xla_profile.kind_of(name) for name in expected} == expected
