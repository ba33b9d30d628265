"""Checkpoint cadence and keep-N in a run directory."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from rnncli.cli.main import main
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


def _values(prefix: str) -> dict:
    import tensorflow as tf

    reader = tf.train.load_checkpoint(prefix)
    return {key: reader.get_tensor(key) for key in reader.get_variable_to_shape_map()
            if key != "_CHECKPOINTABLE_OBJECT_GRAPH"}


def test_the_traced_writer_saves_what_an_eager_write_saves_and_follows_new_variables(tmp_path: Path) -> None:
    """The first save of a process is eager, later ones run as one traced function; their files hold exactly the
    values of an eager ``Checkpoint.write``, in one data shard, readable by ``Checkpoint.restore`` (an older
    rnncli), and a variable added after the trace is in the next save (the writer traces again)."""
    import numpy as np
    import tensorflow as tf

    from rnncli.runs.checkpoints import Checkpoints

    loop = tf.Module()
    loop.epoch = tf.Variable(3, dtype=tf.int64)
    model = tf.Module()
    model.kernel = tf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3))
    trackables = {"model": model, "optimizer": tf.Module(), "rng": tf.random.Generator.from_seed(1), "loop": loop}
    checkpoints = Checkpoints(trackables, tmp_path / "checkpoints", keep=3)
    first = checkpoints.save()
    assert checkpoints.writer._traced is None  # one save in a process is not worth a trace
    model.kernel.assign(model.kernel * 2.0)
    second = checkpoints.save()
    assert checkpoints.writer._traced is not None
    eager = tf.train.Checkpoint(**trackables)
    eager.save_counter.assign(2)
    eager.write(str(tmp_path / "eager"))
    expected = _values(str(tmp_path / "eager"))
    assert _values(second).keys() == expected.keys() == _values(first).keys()
    assert all(np.array_equal(_values(second)[k], v) for k, v in expected.items())
    assert len(list((tmp_path / "checkpoints").glob("ckpt-2.data-*"))) == 1
    # an older rnncli restores with Checkpoint.restore, which also needs TensorFlow's save counter in the files
    tf.train.Checkpoint(**trackables).restore(second).assert_existing_objects_matched()

    loop.best = tf.Variable(0.25)  # e.g. a hook binding its state after the trace
    model.kernel.assign(model.kernel + 1.0)
    values = _values(checkpoints.save())
    assert np.array_equal(values["model/kernel/.ATTRIBUTES/VARIABLE_VALUE"], model.kernel.numpy())
    assert values["loop/best/.ATTRIBUTES/VARIABLE_VALUE"] == np.float32(0.25)


def test_keep_n_and_the_state_file_across_instances(tmp_path: Path) -> None:
    """keep 2 deletes the oldest files; the state file lists relative names (a moved run still restores), and a
    new ``Checkpoints`` on the same folder (a resumed process) lists and restores the newest."""
    import shutil

    import tensorflow as tf

    from rnncli.runs.checkpoints import Checkpoints

    def make(folder: Path) -> tuple[Checkpoints, tf.Module]:
        loop = tf.Module()
        loop.epoch = tf.Variable(0, dtype=tf.int64)
        trackables = {"model": tf.Module(), "optimizer": tf.Module(), "rng": tf.random.Generator.from_seed(1),
                      "loop": loop}
        return Checkpoints(trackables, folder, keep=2), loop

    checkpoints, loop = make(tmp_path / "a" / "checkpoints")
    for epoch in (1, 2, 3):
        loop.epoch.assign(epoch)
        checkpoints.save()
    folder = tmp_path / "a" / "checkpoints"
    assert sorted(p.name for p in folder.glob("ckpt-*.index")) == ["ckpt-2.index", "ckpt-3.index"]
    state = (folder / "checkpoint").read_text()
    assert str(tmp_path) not in state and 'model_checkpoint_path: "ckpt-3"' in state
    shutil.move(str(tmp_path / "a"), str(tmp_path / "moved"))
    moved, loop = make(tmp_path / "moved" / "checkpoints")
    assert [Path(p).name for p in moved.recorded["latest"]] == ["ckpt-2", "ckpt-3"]
    path, notes = moved.restore()
    assert Path(path).name == "ckpt-3" and notes == [] and int(loop.epoch.numpy()) == 3
    assert moved.next_number == 4
    assert tf.train.latest_checkpoint(str(tmp_path / "moved" / "checkpoints")).endswith("ckpt-3")
