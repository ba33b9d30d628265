"""TensorBoard event files of `rnncli train`, read back with TensorBoard's own EventAccumulator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from rnncli.cli.main import main
from rnncli.runs import RunStore


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def events(folder: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(folder), size_guidance={"tensors": 0}, purge_orphaned_data=False)
    accumulator.Reload()
    return accumulator


def scalars(accumulator: EventAccumulator, tag: str) -> dict[int, float]:
    """{step: value}; every step logged once (a step logged twice would hide behind a dict)."""
    logged = accumulator.Tensors(tag)
    assert len({e.step for e in logged}) == len(logged), [e.step for e in logged]
    return {e.step: float(tf.make_ndarray(e.tensor_proto)) for e in logged}


def test_events_hold_the_history_and_resume_continues_them(regression: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    flags = ["--set", "training.log_every_n_batches=2", "--set", "training.log_histograms=true"]
    assert invoke("train", str(regression), "-o", str(run), "--epochs", "2", *flags).exit_code == 0
    # an attempt that logged epoch 3 and part of its batches, then died before its checkpoint (and mid-write)
    stale = tf.summary.create_file_writer(str(run / "logs" / "train"))
    with stale.as_default():
        tf.summary.scalar("epoch_loss", 99.0, step=3)
        tf.summary.scalar("batch_loss", 99.0, step=12)
    stale.close()
    newest = sorted((run / "logs" / "train").glob("events.out.tfevents.*"))[-1]
    with newest.open("ab") as handle:
        handle.write(b"\x07\x00\x00")
    resumed = invoke("train", str(regression), "-o", str(run), "--resume", "--epochs", "4", *flags)
    assert resumed.exit_code == 0, resumed.output

    rows = RunStore(run).read_history()
    train, validation = events(run / "logs" / "train"), events(run / "logs" / "validation")
    for accumulator, prefix in ((train, ""), (validation, "val_")):
        for name in ("loss", "mean_absolute_error"):
            logged = scalars(accumulator, f"epoch_{name}")
            assert sorted(logged) == [1, 2, 3, 4]
            for row in rows:
                assert logged[row["epoch"]] == pytest.approx(row[prefix + name], rel=1e-6)
    rates = scalars(train, "epoch_learning_rate")
    assert [rates[r["epoch"]] for r in rows] == pytest.approx([r["lr"] for r in rows], rel=1e-6)
    # 80 samples / 16 = 5 batches per epoch; every 2nd batch: steps 2, 4 | 7, 9 | ...; the stale 12 is gone
    batch = scalars(train, "batch_loss")
    assert sorted(batch) == [2, 4, 7, 9, 12, 14, 17, 19] and 99.0 not in batch.values()
    weights = [t for t in train.Tags()["tensors"] if t.startswith("weights/")]
    assert len(weights) == 5  # LSTM kernel, recurrent kernel, bias; Dense W, b
    assert sorted(e.step for e in train.Tensors(weights[0])) == [1, 2, 3, 4]

    root = events(run / "logs")
    [text] = root.Tensors("config")  # rewritten by the resumed attempt, not duplicated
    assert b"loss: mse" in tf.make_ndarray(text.tensor_proto).item()
    [session] = root.Tensors("_hparams_/session_start_info")
    content = root.SummaryMetadata("_hparams_/session_start_info").plugin_data.content
    hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    assert hparams["training.optimizer.name"].string_value == "adam"
    assert hparams["training.optimizer.lr"].number_value == pytest.approx(0.01)
    assert hparams["model.layers.0.output_dim"].number_value == 8 and session.step == 0


def test_state_norm_histograms_of_a_stateful_run(stateful: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = invoke("train", str(stateful), "-o", str(run), "--set", "training.log_histograms=true",
                    "--set", "training.reset_states=never")
    assert result.exit_code == 0, result.output
    train = events(run / "logs" / "train")
    tags = [t for t in train.Tags()["tensors"] if t.startswith("states/")]
    assert sorted(tags) == ["states/lstm_1/c_norm", "states/lstm_1/h_norm", "states/lstm_2/c_norm",
                            "states/lstm_2/h_norm"]
    buckets = tf.make_ndarray(train.Tensors("states/lstm_2/h_norm")[-1].tensor_proto)
    assert buckets[:, 2].sum() == 2  # one norm per stream of the batch of 2
    assert (buckets[:, 1] > 0).any()  # the states are not zero after training with reset_states: never
    assert not np.isnan(buckets).any()
