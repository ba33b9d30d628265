"""Tiny slices of the example datasets, so every example config trains for a handful of batches in seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
DATASETS = ROOT / "datasets"


def slice_npz(source: Path, target: Path, n: int) -> Path:
    with np.load(source, allow_pickle=False) as archive:
        np.savez(target, x=archive["x"][:n], y=archive["y"][:n])
    return target


def slice_named(source: Path, target: Path, n: int) -> Path:
    """The first ``n`` samples of every array of a graph's named .npz."""
    with np.load(source, allow_pickle=False) as archive:
        np.savez(target, **{k: archive[k][:n] for k in archive.files})
    return target


def tiny_corpus(target: Path, n: int = 2000) -> Path:
    """The first ``n`` characters of the corpus plus one line holding every character of the corpus, so the
    vocabulary (and hence the model's input/output size in configs/char_lm.yaml) is the full corpus's."""
    text = (DATASETS / "char_corpus.txt").read_text(encoding="utf-8")
    alphabet = "".join(sorted(set(text)))
    target.write_text(text[:n] + "\n" + alphabet + "\n", encoding="utf-8")
    return target


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """``--set`` overrides per example config: a few batches of training data and a small validation file."""
    d = tmp_path_factory.mktemp("tiny")
    return {
        "stateful_cosine": [f"data.train={slice_npz(DATASETS / 'cosine.npz', d / 'cosine.npz', 100)}"],
        "addition": [f"data.train={slice_npz(DATASETS / 'addition.npz', d / 'addition.npz', 256)}",
                     f"data.validation={slice_npz(DATASETS / 'addition_val.npz', d / 'addition_val.npz', 128)}"],
        "char_lm": [f"data.train={tiny_corpus(d / 'corpus.txt')}"],
        "digits_irnn": [f"data.train={slice_npz(DATASETS / 'digits.npz', d / 'digits.npz', 64)}",
                        f"data.validation={slice_npz(DATASETS / 'digits_test.npz', d / 'digits_test.npz', 32)}"],
        "masked_classification": [f"data.train={slice_npz(DATASETS / 'masked.npz', d / 'masked.npz', 256)}",
                                  f"data.validation={slice_npz(DATASETS / 'masked_val.npz', d / 'mval.npz', 64)}"],
        "bidirectional": [f"data.train={d / 'masked.npz'}", f"data.validation={d / 'mval.npz'}"],
        "sunspots_gru": [f"data.train={slice_npz(DATASETS / 'sunspots.npz', d / 'sunspots.npz', 64)}",
                         f"data.validation={slice_npz(DATASETS / 'sunspots_val.npz', d / 'sun_val.npz', 32)}"],
        # the series and ragged examples are small: one epoch of the whole files
        "series_forecast": ["data.series.stride=16"],
        "ragged_classifier": [],
        "stateful_series": [],
        # the graph examples read named arrays (history, static, sales; source, decoder_in, reversed)
        "store_forecast": [f"data.train={slice_named(DATASETS / 'store_sales.npz', d / 'sales.npz', 128)}",
                           f"data.validation={slice_named(DATASETS / 'store_sales_val.npz', d / 'sales_val.npz', 64)}"],
        "reverse_seq2seq": [f"data.train={slice_named(DATASETS / 'reverse.npz', d / 'reverse.npz', 128)}",
                            f"data.validation={slice_named(DATASETS / 'reverse_val.npz', d / 'reverse_val.npz', 64)}"],
    }


@pytest.fixture(scope="session")
def char_run(tiny_data: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """configs/char_lm.yaml trained for one epoch on the tiny corpus (shared by the example and generate tests)."""
    from click.testing import CliRunner

    from rnncli.cli.main import main

    run = tmp_path_factory.mktemp("char") / "run"
    sets = [a for s in tiny_data["char_lm"] + ["training.jit_compile=false"] for a in ("--set", s)]
    result = CliRunner().invoke(main, ["train", str(CONFIGS / "char_lm.yaml"), "-o", str(run), "--epochs", "1",
                                       "--no-progress", *sets], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return run
