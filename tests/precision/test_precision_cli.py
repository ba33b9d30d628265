"""``--precision`` through the commands: exact resume in bf16, the same checkpoint in both precisions (resume,
predict and evaluate in either), stateful states saved as float32, the refusal, summary and doctor.

The CPU check is pinned with ``RNNCLI_NATIVE_BF16`` so these pass on any CI machine (emulated bf16 still computes).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from rnncli.cli.main import main
from rnncli.platform.precision import OVERRIDE_ENV


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _history(run: Path) -> list[list[str]]:
    """history.csv without its ``seconds`` column (wall time differs between any two runs)."""
    rows = [line.split(",") for line in (run / "history.csv").read_text().splitlines()]
    drop = rows[0].index("seconds")
    return [row[:drop] + row[drop + 1:] for row in rows]


def _checkpoint_layout(run: Path) -> list[tuple[str, list[int]]]:
    latest = tf.train.latest_checkpoint(str(run / "checkpoints"))
    assert latest is not None
    reader = tf.train.load_checkpoint(latest)
    dtypes = reader.get_variable_to_dtype_map()
    assert all(dtype != tf.bfloat16 for dtype in dtypes.values())
    return sorted((name, shape) for name, shape in tf.train.list_variables(latest))


@pytest.fixture
def native(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OVERRIDE_ENV, "1")


def test_bf16_resume_is_exact_and_checkpoints_match_float32(regression: Path, tmp_path: Path, native) -> None:
    whole, split, plain = tmp_path / "whole", tmp_path / "split", tmp_path / "float32"
    assert invoke("train", str(regression), "-o", str(whole), "--precision", "mixed_bfloat16").exit_code == 0
    assert invoke("train", str(regression), "-o", str(split), "--epochs", "2",
                  "--precision", "mixed_bfloat16").exit_code == 0
    resumed = invoke("train", str(regression), "-o", str(split), "--resume", "--precision", "mixed_bfloat16")
    assert resumed.exit_code == 0, resumed.output
    assert _history(whole) == _history(split)  # dropout, shuffling and the bf16 steps continue bit for bit
    assert invoke("train", str(regression), "-o", str(plain)).exit_code == 0
    assert _history(plain) != _history(whole)
    assert _checkpoint_layout(plain) == _checkpoint_layout(whole)

    # a bf16 run resumes in float32 without --force, and predicts and evaluates in either precision
    switched = invoke("train", str(regression), "-o", str(whole), "--resume", "--epochs", "5",
                      "--precision", "float32")
    assert switched.exit_code == 0, switched.output
    x = regression.parent / "val.npz"
    outputs = {}
    for precision in ("float32", "mixed_bfloat16"):
        out = tmp_path / f"y_{precision}.npy"
        assert invoke("predict", str(whole), "--input", str(x), "--output", str(out),
                      "--precision", precision).exit_code == 0
        outputs[precision] = np.load(out)
        evaluated = invoke("evaluate", str(whole), "--json", "--precision", precision)
        assert evaluated.exit_code == 0 and json.loads(evaluated.output)["loss"] > 0
    a, b = outputs["float32"], outputs["mixed_bfloat16"]
    assert a.dtype == b.dtype == np.float32
    assert 0 < np.abs(a - b).max() <= 8 * 2.0 ** -8 * max(1.0, np.abs(a).max())


def test_stateful_bf16_predict_saves_float32_states(stateful: Path, tmp_path: Path, native) -> None:
    run = tmp_path / "run"
    assert invoke("train", str(stateful), "-o", str(run), "--precision", "mixed_bfloat16").exit_code == 0
    before = _checkpoint_layout(run)
    predicted = invoke("predict", str(run), "--input", str(stateful.parent / "x.npy"),
                       "--precision", "mixed_bfloat16")
    assert predicted.exit_code == 0, predicted.output
    assert "saved the final states" in predicted.output
    assert _checkpoint_layout(run) == before
    states = invoke("states", str(run))
    assert states.exit_code == 0, states.output


def test_mixed_bfloat16_refused_without_native_bf16(regression: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OVERRIDE_ENV, "0")
    run = tmp_path / "run"
    result = invoke("train", str(regression), "-o", str(run), "--precision", "mixed_bfloat16")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "mixed_bfloat16 refused" in lines[0] and "Traceback" not in result.output
    assert not (run / "checkpoints").exists() or not any((run / "checkpoints").iterdir())
    assert invoke("train", str(regression), "-o", str(run), "--epochs", "1").exit_code == 0
    refused = invoke("predict", str(run), "--input", str(regression.parent / "val.npz"),
                     "--precision", "mixed_bfloat16")
    assert refused.exit_code == 1 and "mixed_bfloat16 refused" in refused.output


def test_config_precision_is_validated_with_a_suggestion(regression: Path) -> None:
    text = regression.read_text().replace("jit_compile: \"false\"", "jit_compile: \"false\"\n  precision: bfloat16")
    regression.write_text(text)
    result = invoke("validate", str(regression))
    assert result.exit_code == 2
    assert "precision" in result.output and "mixed_bfloat16" in result.output


def test_summary_shows_each_layers_precision(regression: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    plain = invoke("summary", str(regression))
    assert plain.exit_code == 0 and "Compute" in plain.output and "Precision: float32" in plain.output
    assert "bfloat16" not in plain.output
    regression.write_text(regression.read_text().replace("nb_epoch: 4", "nb_epoch: 4\n  precision: mixed_bfloat16"))
    mixed = invoke("summary", str(regression))
    rows = [line for line in mixed.output.splitlines() if line.startswith("│") and ("lstm_1" in line or "dense_1" in line)]
    assert rows and all("bfloat16" in row for row in rows)
    assert "Precision: mixed_bfloat16" in mixed.output


def test_doctor_reports_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv(OVERRIDE_ENV, "0")
    result = invoke("doctor")
    assert "bfloat16" in result.output and "mixed_bfloat16 refused" in result.output
