"""benchmarks/bf16_paths.py: the measurement behind issue #31's conclusion (no timing asserted).

The one fact asserted about TensorFlow itself is the reason mixed_bfloat16 runs in the plain graph: XLA:CPU (TF 2.21)
computes a bfloat16 dot in float32, converting its operands first. When a TensorFlow upgrade makes that test fail,
XLA computes bf16 natively and ``Engine``'s rule (bf16 steps never compile with XLA) should be measured again.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _paths():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bf16_paths

        return bf16_paths
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def test_dot_dtype_is_read_from_the_first_dot_of_an_hlo_text() -> None:
    paths = _paths()
    hlo = ("%wrapped_convert = f32[64,64]{1,0} fusion(%arg0), kind=kLoop\n"
           "  %MatMul.0 = f32[64,64]{1,0} dot(%param_0, %param_1), lhs_contracting_dims={1}\n"
           "  %later = bf16[2,2]{1,0} dot(%a, %b)\n")
    assert paths.dot_dtype_in(hlo) == "f32"
    assert paths.dot_dtype_in("ROOT %d = bf16[8,8] dot(%a, %b)") == "bf16"
    assert paths.dot_dtype_in("%c = f32[8,8]{1,0} convert(%a)") is None


def test_alternate_times_every_case_and_records_the_one_that_fails() -> None:
    paths = _paths()
    calls = {"ok": 0}

    def ok() -> None:
        calls["ok"] += 1

    def broken() -> None:
        raise RuntimeError("partition compile failed\nmore detail")

    results = paths._alternate({"ok": ok, "broken": broken}, reps=3, warmup=1, min_rep_s=0.0)
    assert results["broken"] == {"error": "RuntimeError: partition compile failed"}
    assert len(results["ok"]["reps_ms"]) == 3 and results["ok"]["ms"] >= 0.0
    assert calls["ok"] == 4  # one warm-up call, then one per rep
    table = paths.format_tables({"dot": {"default": {"square_xla_bfloat16": {"ms": 2.0, "gflops": 5.0,
                                                                             "xla_dot_dtype": "f32"}},
                                         "onednn_dot": {"error": "process exited -4: partition compile failed"}},
                                 "step": {"default": results}})
    assert "| default | square_xla_bfloat16 | 2.000 | 5 | nan | f32 |" in table
    assert "| onednn_dot | (process) | process exited -4: partition compile failed |" in table
    assert "| default | broken | RuntimeError: partition compile failed |" in table


def test_xla_cpu_computes_a_bfloat16_dot_in_float32() -> None:
    """The dot worker on tiny shapes, in this process: every case timed, and XLA's bf16 dot is an f32 dot."""
    from tensorflow.python.framework import config

    paths = _paths()
    before = config.is_op_determinism_enabled()
    config.enable_op_determinism()  # as `rnncli train` leaves a process: reading the HLO must still work
    try:
        report = paths.dot_worker({"size": "quick", "environment": "default", "reps": 1, "warmup": 1,
                                   "min_rep_s": 0.0})
        assert config.is_op_determinism_enabled()  # restored
    finally:
        if not before:
            config.disable_op_determinism()
    expected = {f"{kind}_{mode}_{dtype}" for kind in ("square", "chain") for mode in ("graph", "xla")
                for dtype in ("float32", "bfloat16")}
    assert set(report) == expected
    assert all(report[name]["ms"] > 0.0 for name in expected)
    assert report["square_xla_float32"]["xla_dot_dtype"] == "f32"
    assert report["square_xla_bfloat16"]["xla_dot_dtype"] == "f32", (
        "XLA:CPU now computes bfloat16 dots natively: measure mixed_bfloat16 under XLA again "
        "(rnncli.training.loop.Engine keeps bf16 steps out of XLA because of this)")
    assert "xla_dot_dtype" not in report["square_graph_bfloat16"]


def test_step_worker_times_every_training_and_inference_form() -> None:
    """The step worker on tiny shapes, in this process: each form runs and is timed (none is an error)."""
    paths = _paths()
    report = paths.step_worker({"size": "quick", "environment": "default", "reps": 1, "warmup": 1,
                                "min_rep_s": 0.0})
    forms = {"rnncli_fp32", "rnncli_bf16", "rnncli_bf16_xla", "torch_fp32", "torch_bf16"}
    expected = ({f"train_{form}" for form in forms} | {f"infer_{form}" for form in forms}
                | {"train_graph_bf16_fp32_gates", "train_graph_bf16_fused_grad", "train_graph_bf16_static_unroll"})
    assert set(report) == expected
    assert {name: result.get("error") for name, result in report.items() if "error" in result} == {}
