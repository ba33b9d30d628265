"""Checkpoint cadence and keep-N in a run directory."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from rnncli.cli import main
from rnncli.runs import RunStore


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_checkpoint_every_n_epochs(regression: Path, tmp_path: Path) -> None:
    import tensorflow as tf

    run = tmp_path / "every"
    result = invoke("train", str(regression), "-o", str(run), "--epochs", "3",
                    "--set", "training.checkpoint={every_n_epochs: 2, keep: 5}")
    assert result.exit_code == 0, result.output
    saved = sorted(int(tf.train.load_checkpoint(str(p.with_suffix(""))).get_tensor(
        "loop/epoch/.ATTRIBUTES/VARIABLE_VALUE")) for p in (run / "checkpoints").glob("ckpt-*.index"))
    assert saved == [2, 3]
    assert [r["epoch"] for r in RunStore(run).read_history()] == [1, 2, 3]
