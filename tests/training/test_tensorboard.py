"""Pruning the events of an interrupted attempt before a resumed one appends (rnncli.training.tensorboard)."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rnncli.training.tensorboard import prune_events


def steps(folder: Path) -> dict[str, list[int]]:
    accumulator = EventAccumulator(str(folder), size_guidance={"tensors": 0}, purge_orphaned_data=False)
    accumulator.Reload()
    return {tag: [e.step for e in accumulator.Tensors(tag)] for tag in accumulator.Tags()["tensors"]}


def test_prune_keeps_what_the_checkpoint_covers(tmp_path: Path) -> None:
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        tf.summary.text("config", "old", step=0)
        for epoch in (1, 2, 3):
            tf.summary.scalar("epoch_loss", float(epoch), step=epoch)
            tf.summary.histogram("weights/w", [1.0, 2.0], step=epoch)
            for batch in (1, 2):
                tf.summary.scalar("batch_loss", 0.5, step=(epoch - 1) * 2 + batch)
    writer.close()
    [path] = tmp_path.glob("events.out.tfevents.*")
    with path.open("ab") as handle:
        handle.write(b"\x10\x00\x00\x00")  # a record cut short by a crash
    assert prune_events(tmp_path, epoch_limit=2, batch_limit=4) == 1 + 2 + 2
    assert steps(tmp_path) == {"epoch_loss": [1, 2], "weights/w": [1, 2], "batch_loss": [1, 2, 3, 4]}
    assert prune_events(tmp_path, epoch_limit=2, batch_limit=4) == 0
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
