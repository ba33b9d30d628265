"""Every example config validates and trains for a handful of batches (CI catches a broken example)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rnncli.cli.main import main
from rnncli.data.examples import decode_addition, load_addition, sequence_accuracy
from rnncli.runs import RunStore

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
DATASETS = ROOT / "datasets"

EXAMPLES = ["stateful_cosine", "addition", "char_lm", "digits_irnn", "masked_classification", "sunspots_gru",
            "bidirectional", "series_forecast", "ragged_classifier", "stateful_series",
            "store_forecast", "reverse_seq2seq"]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_every_example_has_a_test_and_validates() -> None:
    assert sorted(p.stem for p in CONFIGS.glob("*.yaml")) == sorted(EXAMPLES)
    result = invoke("validate", *(str(CONFIGS / f"{name}.yaml") for name in EXAMPLES))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_trains_one_epoch_on_a_slice(name: str, tiny_data: dict, tmp_path: Path,
                                             request: pytest.FixtureRequest) -> None:
    if name == "char_lm":
        run = request.getfixturevalue("char_run")  # trained once, also used by test_generate.py
        assert (run / "vocab.json").exists()
    else:
        run = tmp_path / name
        # XLA compilation costs more than the few batches it would speed up; the slow test runs the configs as they are
        sets = [a for s in tiny_data[name] + ["training.jit_compile=false"] for a in ("--set", s)]
        result = invoke("train", str(CONFIGS / f"{name}.yaml"), "-o", str(run), "--epochs", "1", "--no-progress",
                        *sets)
        assert result.exit_code == 0, result.output
    rows = RunStore(run).read_history()
    assert len(rows) == 1 and math.isfinite(rows[0]["loss"])
    if "data.validation" in " ".join(tiny_data[name]):
        assert math.isfinite(rows[0]["val_loss"])  # validation ran (the slow test and scripts/ do the full runs)


def test_addition_decoding_of_the_true_answers() -> None:
    x, y, chars = load_addition(DATASETS / "addition_val.npz")
    samples = decode_addition(x[:200], y[:200].astype(np.float32), y[:200], chars)
    assert sequence_accuracy(samples) == 1.0
    for s in samples:
        a, b = s.question.split("+")
        assert int(a) + int(b) == int(s.answer)
