"""``rnncli import --check [--check-input X.npy --check-output Y.npy --atol A]``: a forward pass after the import,
compared with outputs recorded in the old environment (here: a NumPy forward of the same Keras 1 weights)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rnncli.cli.main import main

T, D, U = 4, 3, 5
RNG = np.random.default_rng(21)
W, UW, B = (RNG.uniform(-0.5, 0.5, s).astype(np.float32) for s in ((D, U), (U, U), (U,)))
WD, BD = RNG.uniform(-0.5, 0.5, (U, 2)).astype(np.float32), RNG.uniform(-0.5, 0.5, 2).astype(np.float32)


def recorded(x: np.ndarray) -> np.ndarray:
    h = np.zeros((len(x), U))
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ W + B + h @ UW)
    return h @ WD + BD


@pytest.fixture
def source(tmp_path: Path, k1) -> Path:
    doc = k1.sequential({"class_name": "SimpleRNN", "config": {"name": "simplernn_1", "output_dim": U,
                                                               "batch_input_shape": [None, T, D]}},
                        {"class_name": "Dense", "config": {"name": "dense_1", "output_dim": 2}})
    return k1.write_full_model(tmp_path / "model.h5", doc, [
        ("simplernn_1", [("simplernn_1_W:0", W), ("simplernn_1_U:0", UW), ("simplernn_1_b:0", B)]),
        ("dense_1", [("dense_1_W:0", WD), ("dense_1_b:0", BD)])])


def _import(source: Path, tmp_path: Path, *args: str):
    return CliRunner().invoke(main, ["import", str(source), "-o", str(tmp_path / "run"), "--force", *args])


def test_recorded_outputs_within_atol_pass_and_beyond_fail(source: Path, tmp_path: Path) -> None:
    x = RNG.normal(size=(7, T, D)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", recorded(x))
    np.save(tmp_path / "y_off.npy", recorded(x) + 1e-3)
    good = _import(source, tmp_path, "--check-input", str(tmp_path / "x.npy"), "--check-output",
                   str(tmp_path / "y.npy"))
    assert good.exit_code == 0, good.output
    assert "outputs (7, 2)" in good.output and "(atol 1e-05): ok" in good.output
    bad = _import(source, tmp_path, "--check-input", str(tmp_path / "x.npy"), "--check-output",
                  str(tmp_path / "y_off.npy"))
    assert bad.exit_code == 1 and "max |rnncli - recorded| = 0.001" in bad.output and "FAILED" in bad.output
    loose = _import(source, tmp_path, "--check-input", str(tmp_path / "x.npy"), "--check-output",
                    str(tmp_path / "y_off.npy"), "--atol", "0.01")
    assert loose.exit_code == 0 and ": ok" in loose.output


def test_check_alone_reports_the_output_range(source: Path, tmp_path: Path) -> None:
    result = _import(source, tmp_path, "--check")
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.output.splitlines() if ln.startswith("check:"))
    assert "a synthetic batch: outputs (4, 2), range [" in line
    low, high = (float(v) for v in line.split("range [")[1].rstrip("]").split(", "))
    from rnncli.commands.import_check import synthetic_input
    from rnncli.config.validate import load_config

    expected = recorded(synthetic_input(load_config(tmp_path / "run" / "config.yaml").model))
    assert low == pytest.approx(expected.min(), abs=1e-5) and high == pytest.approx(expected.max(), abs=1e-5)


def test_bad_check_arguments_are_one_line_errors(source: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", RNG.normal(size=(3, T, D)).astype(np.float32))
    np.save(tmp_path / "y.npy", np.zeros((3, 5), np.float32))
    alone = _import(source, tmp_path, "--check-output", str(tmp_path / "y.npy"))
    assert alone.exit_code == 2 and "--check-output needs --check-input" in alone.output
    shape = _import(source, tmp_path, "--check-input", str(tmp_path / "x.npy"), "--check-output",
                    str(tmp_path / "y.npy"))
    assert shape.exit_code == 2 and "recorded outputs have shape (3, 5)" in shape.output
    assert "Traceback" not in shape.output
