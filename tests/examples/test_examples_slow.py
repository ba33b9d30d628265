"""Full reproductions of the example configs, exactly as `rnncli train configs/NAME.yaml` runs them (minutes each on
2 CPU cores; skipped by default, run with `python -m pytest -m slow tests/examples`). The thresholds sit a little
below what the recorded runs in docs/examples.md reached, so a regression in training shows up here.
scripts/reproduce_examples.sh does the same runs and prints the results table."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from rnncli.cli.main import main
from rnncli.runs import RunStore

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

NAIVE_VAL_MSE = 0.108228  # datasets/README.md: "same as last year" on sunspots_val.npz

# example -> (history column of the last epoch, "min" or "max", threshold)
EXPECTED = {
    "stateful_cosine": ("loss", "min", 10.0),
    "addition": ("val_acc", "max", 0.98),
    "char_lm": ("loss", "min", 1.40),
    "digits_irnn": ("val_acc", "max", 0.75),
    "masked_classification": ("val_acc", "max", 0.98),
    "bidirectional": ("val_acc", "max", 0.98),
    "sunspots_gru": ("val_loss", "min", NAIVE_VAL_MSE),  # must beat the naive baseline
    # the data.series / data.pad examples (README: persistence 0.709 and 0.0675, majority class 0.71)
    "series_forecast": ("val_loss", "min", 0.15),
    "ragged_classifier": ("val_acc", "max", 0.95),
    "stateful_series": ("val_loss", "min", 0.03),
    # graphs (README: same weekday last week 0.539, the history alone 0.29; chance 0.1 per digit)
    "store_forecast": ("val_loss", "min", 0.02),
    "reverse_seq2seq": ("val_acc", "max", 0.97),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_full_reproduction(name: str, tmp_path: Path) -> None:
    run = tmp_path / name
    result = CliRunner().invoke(main, ["train", str(CONFIGS / f"{name}.yaml"), "-o", str(run), "--no-progress"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    last = RunStore(run).read_history()[-1]
    key, mode, threshold = EXPECTED[name]
    if mode == "min":
        assert last[key] < threshold, f"{name}: {key} {last[key]} not below {threshold}"
    else:
        assert last[key] > threshold, f"{name}: {key} {last[key]} not above {threshold}"
