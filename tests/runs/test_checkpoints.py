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


def _epoch_of(prefix: Path) -> int:
    import tensorflow as tf

    return int(tf.train.load_checkpoint(str(prefix)).get_tensor("loop/epoch/.ATTRIBUTES/VARIABLE_VALUE"))


def test_the_best_checkpoint_is_a_link_to_the_newest_one_of_its_epoch(regression: Path, tmp_path: Path) -> None:
    """Each new best shares the newest checkpoint's files (same inode: nothing serialized twice); the previous best
    is removed; rotating the newest ones away (keep 1) leaves the best intact and restorable."""
    import tensorflow as tf

    run = tmp_path / "linked"
    result = invoke("train", str(regression), "-o", str(run), "--epochs", "4",
                    "--set", "training.checkpoint={keep: 1}")
    assert result.exit_code == 0, result.output
    best_dir = run / "checkpoints" / "best"
    best = Path(tf.train.latest_checkpoint(str(best_dir)))
    best_files = sorted(best_dir.glob("ckpt-*"))
    assert [p.name.split(".")[0] for p in best_files] == [best.name] * len(best_files) == [best.name] * 2
    best_epoch = RunStore(run).read_run_json()["best"]["epoch"]
    assert _epoch_of(best) == best_epoch
    newest = Path(tf.train.latest_checkpoint(str(run / "checkpoints")))
    if _epoch_of(newest) == best_epoch:
        assert (newest.with_suffix(".index")).stat().st_ino == best.with_suffix(".index").stat().st_ino
    else:  # the newest one of the best epoch was rotated away; the link keeps its data
        assert best.with_suffix(".index").stat().st_nlink == 1
    result = invoke("evaluate", str(run), "--checkpoint", "best")
    assert result.exit_code == 0, result.output


def test_linking_falls_back_to_a_normal_save(regression: Path, tmp_path: Path, monkeypatch) -> None:
    import os

    def no_links(*args, **kwargs):
        raise OSError(95, "Operation not supported")

    monkeypatch.setattr(os, "link", no_links)
    run = tmp_path / "copied"
    result = invoke("train", str(regression), "-o", str(run), "--epochs", "2")
    assert result.exit_code == 0, result.output
    import tensorflow as tf

    best = Path(tf.train.latest_checkpoint(str(run / "checkpoints" / "best")))
    assert best.with_suffix(".index").stat().st_nlink == 1
    assert _epoch_of(best) == RunStore(run).read_run_json()["best"]["epoch"]


def test_a_resumed_run_numbers_its_checkpoints_after_the_existing_ones(regression: Path, tmp_path: Path) -> None:
    """keep 2 after a resume keeps the two newest epochs (the save counter restarts at zero in a new process; reused
    numbers overwrote older files and kept the wrong ones)."""
    run = tmp_path / "resumed"
    assert invoke("train", str(regression), "-o", str(run), "--epochs", "2",
                  "--set", "training.checkpoint={keep: 2}").exit_code == 0
    for epochs in ("3", "4"):
        result = invoke("train", str(regression), "-o", str(run), "--resume", "--epochs", epochs,
                        "--set", "training.checkpoint={keep: 2}")
        assert result.exit_code == 0, result.output
    kept = sorted((run / "checkpoints").glob("ckpt-*.index"), key=lambda p: int(p.name[5:-6]))
    assert [_epoch_of(p.with_suffix("")) for p in kept] == [3, 4]
