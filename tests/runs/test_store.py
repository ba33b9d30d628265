"""The run store: status and failure reasons in run.json, the lock, history, starting over."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rnncli.errors import DataError, RunError, TrainingDiverged
from rnncli.runs import RunStore
from rnncli.platform.runtime import Terminated


def test_status_records_running_then_finished_and_keeps_what_the_block_adds(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    with store.lock(), store.status({"seed": 3}) as record:
        assert json.loads(store.run_json_path.read_text())["status"] == "running"
        record["epochs_completed"] = 2
    info = store.read_run_json()
    assert info["status"] == "finished" and info["epochs_completed"] == 2 and info["seed"] == 3
    assert "reason" not in info and info["started"] <= info["ended"]
    assert not (store.path / "run.lock").exists()


@pytest.mark.parametrize("error,status,kind", [
    (KeyboardInterrupt(), "interrupted", "interrupt"),
    (Terminated(), "interrupted", "interrupt"),
    (TrainingDiverged("the loss became nan at epoch 2, batch 3"), "failed", "diverged"),
    (DataError("x.npy: x contains NaN"), "failed", "data"),
    (RunError("disk full"), "failed", "runtime"),
    (ZeroDivisionError("bug"), "failed", "internal"),
])
def test_every_early_end_is_recorded_with_its_reason(tmp_path: Path, error: BaseException, status: str,
                                                     kind: str) -> None:
    store = RunStore(tmp_path)
    with pytest.raises(type(error)):
        with store.status({"seed": 1}):
            raise error
    info = store.read_run_json()
    assert info["status"] == status and info["reason"]["kind"] == kind and "ended" in info
    if kind == "interrupt":
        assert info["reason"]["signal"] == ("SIGTERM" if isinstance(error, Terminated) else "SIGINT")
    else:
        assert info["reason"]["message"] == str(error)


def test_a_new_attempt_clears_the_old_reason_but_keeps_the_start(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    with pytest.raises(KeyboardInterrupt), store.status({}):
        raise KeyboardInterrupt
    started = store.read_run_json()["started"]
    with store.status({}):
        assert "reason" not in store.read_run_json() and "ended" not in store.read_run_json()
    assert store.read_run_json()["started"] == started


def test_record_failure_only_touches_an_existing_record(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.record_failure(DataError("bad"))
    assert not store.run_json_path.exists()
    store.write_run_json({"status": "finished"})
    store.record_failure(DataError("bad"))
    assert store.read_run_json()["status"] == "failed" and store.read_run_json()["reason"]["kind"] == "data"


def test_lock_refuses_a_live_owner_and_takes_over_a_stale_one(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    (tmp_path / "run.lock").write_text(str(os.getppid()))
    with pytest.raises(RunError, match="in use by another rnncli process"):
        store.lock().acquire()
    (tmp_path / "run.lock").write_text("999999999")
    with store.lock():
        assert (tmp_path / "run.lock").read_text() == str(os.getpid())
    assert not (tmp_path / "run.lock").exists()


def test_history_round_trip_and_best_epoch(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    rows = [{"epoch": 1, "loss": 0.5, "lr": 0.001}, {"epoch": 2, "loss": 0.25, "lr": 0.001, "val_loss": 0.3}]
    store.write_history(rows)
    assert store.read_history() == rows
    assert store.best_epoch() is None
    store.write_run_json({"best": {"epoch": 2, "monitor": "loss", "value": 0.25}})
    assert store.best_epoch() == 2


def test_discard_training_state_starts_over(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    (store.checkpoints / "best").mkdir(parents=True)
    (store.checkpoints / "checkpoint").write_text("x")
    store.write_history([{"epoch": 1, "loss": 1.0}])
    store.write_run_json({"status": "finished", "started": "then"})
    assert store.has_checkpoint()
    store.discard_training_state()
    assert not store.has_checkpoint() and not store.history_path.exists() and store.read_run_json() == {}
