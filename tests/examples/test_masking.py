"""Masking proven on the masked example: with Embedding(mask_zero) the predictions do not depend on how much left
padding there is; without the mask they do (datasets/README.md: accuracy alone does not show the difference)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rnncli.cli.main import main
from rnncli.commands.infer import predict

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs" / "masked_classification.yaml"


def train_variant(tmp_path: Path, tiny_data: dict, mask_zero: bool) -> Path:
    run = tmp_path / f"mask_{mask_zero}"
    sets = [a for s in tiny_data["masked_classification"] for a in ("--set", s)]
    # input_length null: the model accepts any sequence length, so the same run can predict padded inputs
    sets += ["--set", "model.layers.0.input_length=null", "--set", f"model.layers.0.mask_zero={str(mask_zero).lower()}"]
    result = CliRunner().invoke(main, ["train", str(CONFIG), "-o", str(run), "--epochs", "2", "--no-progress", *sets],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return run


def predictions_with_padding(run: Path, tmp_path: Path, k: int) -> tuple[np.ndarray, np.ndarray]:
    with np.load(ROOT / "datasets" / "masked_val.npz", allow_pickle=False) as archive:
        x = archive["x"][:64]
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "x_padded.npy", np.pad(x, ((0, 0), (k, 0))))
    plain, _ = predict(run, tmp_path / "x.npy", device_spec="cpu")
    padded, _ = predict(run, tmp_path / "x_padded.npy", device_spec="cpu")
    return plain, padded


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, tiny_data: dict) -> dict[bool, Path]:
    base = tmp_path_factory.mktemp("masking")
    return {mask_zero: train_variant(base, tiny_data, mask_zero) for mask_zero in (True, False)}


@pytest.mark.parametrize("k", [7, 60])
def test_mask_zero_makes_predictions_invariant_to_left_padding(runs: dict, tmp_path: Path, k: int) -> None:
    plain, padded = predictions_with_padding(runs[True], tmp_path, k)
    assert plain.shape == padded.shape == (64, 1)
    np.testing.assert_allclose(padded, plain, rtol=0, atol=1e-6)


@pytest.mark.parametrize("k", [7, 60])
def test_without_mask_left_padding_changes_predictions(runs: dict, tmp_path: Path, k: int) -> None:
    plain, padded = predictions_with_padding(runs[False], tmp_path, k)
    assert np.max(np.abs(padded - plain)) > 1e-3
