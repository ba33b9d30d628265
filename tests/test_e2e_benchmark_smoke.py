"""benchmarks/e2e.py still runs and writes its report structure. Never gates on times (they depend on the host)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
E2E = ROOT / "benchmarks" / "e2e.py"


def _load_e2e():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import e2e
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return e2e


def _run(tmp_path: Path, *args: str) -> dict:
    output = tmp_path / "e2e.json"
    run = subprocess.run([sys.executable, str(E2E), "--quick", "--json", "--output", str(output), *args],
                         capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(output.read_text())
    assert json.loads(run.stdout) == report
    assert report["schema"] == 1 and report["quick"] is True and report["rounds"] == 1
    return report


def test_paired_ratios_are_theirs_over_ours_per_round():
    e2e = _load_e2e()
    rounds = [{"rnncli": {"wall_s": 2.0, "cpu_s": 1.0}, "keras": {"wall_s": 4.0, "cpu_s": 3.0},
               "torch": {"wall_s": 1.0, "cpu_s": 1.0, "first_step_s": 0.5}},
              {"torch": {"wall_s": 3.0, "cpu_s": 1.0}, "rnncli": {"wall_s": 3.0, "cpu_s": 2.0, "first_step_s": 1.0},
               "keras": {"wall_s": 3.0, "cpu_s": 2.0}}]
    summary = e2e.summarize("small", rounds)
    assert summary["medians"]["wall_s"] == {"rnncli": 2.5, "keras": 3.5, "torch": 2.0}
    assert summary["ratios"]["wall_s"]["keras"]["rounds"] == [2.0, 1.0]
    assert summary["ratios"]["wall_s"]["torch"]["median"] == 0.75
    assert "first_step_s" not in summary["ratios"]  # never both in one round: no paired ratio
    table = e2e.format_table({"scenarios": {"small": {"summary": summary}}})
    assert "| small | wall_s | 2.500 | torch (ref) | 2.000 | 0.75x (0.50-1.00) |" in table


def test_quick_epoch_scenario_runs_every_framework(tmp_path: Path):
    report = _run(tmp_path, "--scenarios", "epoch")
    block = report["scenarios"]["epoch"]
    (row,) = block["rounds"]
    assert set(row) == {"rnncli", "keras", "torch"} and block["setup"]["shape"]["batch"] == 16
    for result in row.values():
        assert len(result["epoch_s"]) == 2 and result["first_step_s"] > 0
        assert result["wall_s"] >= result["first_step_s"] and result["cpu_s"] > 0
    medians, ratios = block["summary"]["medians"], block["summary"]["ratios"]
    assert set(medians) == {"steady_epoch_s", "first_epoch_s", "first_step_s", "wall_s", "cpu_s"}
    assert set(ratios["steady_epoch_s"]) == {"keras", "torch"}


@pytest.mark.slow
def test_quick_small_and_predict_scenarios_with_a_baseline(tmp_path: Path):
    report = _run(tmp_path, "--scenarios", "small", "predict", "--baseline", str(ROOT))
    small, predict = report["scenarios"]["small"], report["scenarios"]["predict"]
    assert set(small["rounds"][0]) == {"rnncli", "keras", "torch", "rnncli_base"}
    assert small["same_math"]["torch"] is False and small["rounds"][0]["rnncli"]["first_step_s"] > 0
    assert set(predict["rounds"][0]) == {"rnncli", "import_tensorflow", "rnncli_base"}
    assert predict["summary"]["ratios"]["wall_s"]["import_tensorflow"]["median"] > 0
