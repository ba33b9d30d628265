"""A full, read-only or forbidden disk during any write: one line naming the path and the OS reason, exit 1,
``run.json`` reason ``{kind, path}`` where it can be written, no temporary file left, the last good checkpoint
intact, and ``--resume`` continues once the disk is usable again (issue 25, part 3; issue 30, items 16-18).

The commands run in this process (``CliRunner``): TensorFlow is imported once for all of them.
"""

from __future__ import annotations

import errno
import json
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from rnncli.cli.main import main
from rnncli.runs import RunStore
from rnncli.runs.checkpoints import CheckpointWriter


def write_config(folder: Path, layer: str = "{type: GRU, output_dim: 4, input_shape: [3, 2]}", samples: int = 16,
                 optimizer: str = "sgd", batch: int = 8) -> Path:
    """A tiny regression config with its data (``d.npz``) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, 3, 2)).astype(np.float32)
    np.savez(folder / "d.npz", x=x, y=x.sum(axis=(1, 2))[:, None])
    path = folder / "c.yaml"
    path.write_text(textwrap.dedent(f"""\
        model:
          layers:
            - {layer}
            - {{type: Dense, output_dim: 1}}
        data: {{train: d.npz}}
        training: {{loss: mse, optimizer: {optimizer}, batch_size: {batch}, nb_epoch: 2, jit_compile: "false",
                   checkpoint: {{keep: 2}}}}
        """))
    return path


def cli(*args: str):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result


def error_line(result) -> str:
    """The one line a failed command printed (a traceback or an internal error fails the test)."""
    text = result.output.strip()
    assert "Traceback" not in text and "internal error" not in text and "This is a bug" not in text, text
    lines = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, text
    return lines[0]


def leftovers(run: Path) -> list[str]:
    """Temporary files and unfinished checkpoints under ``run``."""
    return sorted(str(p.relative_to(run)) for p in run.rglob("*")
                  if p.name.endswith((".tmp", ".linking")) or p.name.endswith("_temp") or ".pruning-" in p.name)


def saved_epoch(run: Path) -> int:
    return int(tf.train.load_checkpoint(str(run / "checkpoints")).get_tensor("loop/epoch/.ATTRIBUTES/VARIABLE_VALUE"))


def reason(run: Path) -> dict:
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "failed", info
    return info["reason"]


def assert_resumes(config: Path, run: Path, epochs: int) -> None:
    result = cli("train", config, "-o", run, "--resume", "--epochs", epochs, "--no-progress")
    assert result.exit_code == 0, result.output
    assert [r["epoch"] for r in RunStore(run).read_history()] == list(range(1, epochs + 1))
    assert saved_epoch(run) == epochs and not leftovers(run)


def test_disk_full_in_tensorflows_traced_checkpoint_save(tmp_path: Path, small_disk, monkeypatch) -> None:
    """The second save of a process is one traced function: its SaveV2 fails on a full tmpfs. A checkpoint takes
    about 210 kB (LSTM(64) with Adam's slots), the disk 360 kB: epoch 1's fits, epoch 2's does not."""
    config = write_config(tmp_path / "cfg", "{type: LSTM, output_dim: 64, input_shape: [3, 2]}", optimizer="adam")
    disk = small_disk(360 * 1024)
    run = disk.path / "run"
    if not disk.real:  # no mount rights: TensorFlow's error as a full disk raises it, with its leftover folder
        write = CheckpointWriter.write

        def failing(self, prefix: str) -> None:
            if self.writes >= 1:
                Path(prefix + "_temp").mkdir()
                raise tf.errors.ResourceExhaustedError(None, None, f"{prefix}_temp/part-00000-of-00001.data-00000-"
                                                       f"of-00001.tempstate1; No space left on device\n\t [[{{{{node "
                                                       f"SaveV2}}}}]]")
            write(self, prefix)

        monkeypatch.setattr(CheckpointWriter, "write", failing)
    result = cli("train", config, "-o", run, "--epochs", 3, "--no-progress")
    assert result.exit_code == 1
    line = error_line(result)
    assert line.startswith(f"error: cannot write {run / 'checkpoints'}: No space left on device (the disk is full")
    assert f"rnncli train {config} -o {run} --resume --epochs 3" in line
    assert reason(run) | {"message": ""} == {"kind": "disk_full", "path": str(run / "checkpoints"), "message": ""}
    assert leftovers(run) == []
    assert saved_epoch(run) == 1 and [r["epoch"] for r in RunStore(run).read_history()] == [1]
    monkeypatch.undo()
    disk.resize(4 * 1024 * 1024)
    assert_resumes(config, run, 3)


def fails_for(name: str, number: int):
    """An ``os.replace`` that fails with ``number`` when it would replace a file called ``name``."""
    real = os.replace

    def replace(src, dst, *args, **kwargs):  # noqa: ANN001, ANN202
        if Path(dst).name == name:
            raise OSError(number, os.strerror(number), str(dst))
        return real(src, dst, *args, **kwargs)

    return replace


@pytest.mark.parametrize("name,number,kind", [("history.csv", errno.ENOSPC, "disk_full"),
                                              ("checkpoint", errno.EDQUOT, "disk_full")])
def test_full_disk_writing_history_or_the_checkpoint_list(tmp_path: Path, monkeypatch, name: str, number: int,
                                                          kind: str) -> None:
    """history.csv fails after epoch 1's checkpoint of a new run; the checkpoint list when a resumed run saves."""
    config = write_config(tmp_path)
    run = tmp_path / "run"
    listed = None
    if name == "checkpoint":
        assert cli("train", config, "-o", run, "--epochs", 1, "--no-progress").exit_code == 0
        listed = (run / "checkpoints" / "checkpoint").read_text()
    monkeypatch.setattr(os, "replace", fails_for(name, number))
    result = cli("train", config, "-o", run, *(["--resume"] if listed else []), "--epochs", 2, "--no-progress")
    monkeypatch.undo()
    assert result.exit_code == 1
    path = run / name if name == "history.csv" else run / "checkpoints" / name
    assert error_line(result).startswith(f"error: cannot write {path}: {os.strerror(number)} (the disk is full")
    assert reason(run) | {"message": ""} == {"kind": kind, "path": str(path), "message": ""}
    assert leftovers(run) == []
    if name == "checkpoint":  # the list still names the last good checkpoint, and the unlisted one is gone
        assert (run / "checkpoints" / "checkpoint").read_text() == listed
        assert sorted(p.name for p in (run / "checkpoints").glob("ckpt-*.index")) == ["ckpt-1.index"]
    assert saved_epoch(run) == 1
    assert [r["epoch"] for r in RunStore(run).read_history()] == ([] if listed is None else [1])
    assert_resumes(config, run, 2)


def test_run_json_that_cannot_be_written(tmp_path: Path, monkeypatch) -> None:
    config = write_config(tmp_path)
    run = tmp_path / "run"
    monkeypatch.setattr(os, "replace", fails_for("run.json", errno.EACCES))
    result = cli("train", config, "-o", run, "--no-progress")
    monkeypatch.undo()
    assert result.exit_code == 1
    line = error_line(result)
    assert line.startswith(f"error: cannot write {run / 'run.json'}: Permission denied")
    assert '--user "$(id -u):$(id -g)"' in line
    assert not (run / "run.json").exists() and leftovers(run) == []


def test_event_file_flush_on_a_full_disk(tmp_path: Path, monkeypatch) -> None:
    """TensorBoard's event writer fails in C++ (FlushSummaryWriter); its text carries the path and the reason."""
    config = write_config(tmp_path)
    run = tmp_path / "run"
    events = run / "logs" / "train" / "events.out.tfevents.1.host.1.0.v2"
    from tensorflow.python.ops.summary_ops_v2 import _ResourceSummaryWriter

    def flush(self) -> None:
        raise tf.errors.ResourceExhaustedError(None, None, f"{events}; No space left on device\n\tFailed to flush "
                                               f"3 events to {events}\n\tCould not flush events file.")

    monkeypatch.setattr(_ResourceSummaryWriter, "flush", flush)
    result = cli("train", config, "-o", run, "--no-progress")
    monkeypatch.undo()
    assert result.exit_code == 1
    assert error_line(result).startswith(f"error: cannot write {events}: No space left on device")
    assert reason(run) | {"message": ""} == {"kind": "disk_full", "path": str(events), "message": ""}


def test_read_only_run_directory_serves_what_only_reads(tmp_path: Path, read_only) -> None:
    stateless = write_config(tmp_path / "a")
    stateful = write_config(tmp_path / "b", "{type: LSTM, output_dim: 3, batch_input_shape: [4, 3, 2], "
                                            "stateful: true}", batch=4)
    runs = tmp_path / "runs"
    for config, name in ((stateless, "plain"), (stateful, "streams")):
        assert cli("train", config, "-o", runs / name, "--epochs", 1, "--no-progress").exit_code == 0
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((4, 3, 2), np.float32))
    view, kind = read_only(runs)
    plain, streams = view / "plain", view / "streams"
    reason_text = "Read-only file system" if kind == "read_only" else "Permission denied"

    for args in (["predict", plain, "-i", x], ["predict", streams, "-i", x, "--no-save-states"],
                 ["evaluate", plain, "--data", tmp_path / "a" / "d.npz"], ["summary", plain], ["history", plain],
                 ["states", streams], ["export", plain, "--format", "savedmodel", "-o", tmp_path / "exported"]):
        result = cli(*args)
        assert result.exit_code == 0, (args, result.output)
    assert (tmp_path / "exported" / "saved_model.pb").exists()

    for args, path, hint in ((["predict", streams, "-i", x], streams / "run.lock", "--no-save-states"),
                             (["reset-states", streams], streams / "run.lock", "copy the run"),
                             (["train", stateless, "-o", plain, "--resume", "--epochs", 2], plain / "run.lock", ""),
                             (["export", plain, "--format", "tflite", "-o", view / "m.tflite"], view / "m.tflite", "")):
        result = cli(*args)
        assert result.exit_code == 1, (args, result.output)
        line = error_line(result)
        assert line.startswith(f"error: cannot write {path}: {reason_text}"), line
        assert hint in line


def test_stateless_predict_takes_no_lock(tmp_path: Path) -> None:
    import subprocess
    import sys

    config = write_config(tmp_path)
    run = tmp_path / "run"
    assert cli("train", config, "-o", run, "--epochs", 1, "--no-progress").exit_code == 0
    np.save(tmp_path / "x.npy", np.zeros((2, 3, 2), np.float32))
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (run / "run.lock").write_text(str(owner.pid))  # a training in progress
        result = cli("predict", run, "-i", tmp_path / "x.npy")
        assert result.exit_code == 0, result.output
        assert (run / "run.lock").read_text() == str(owner.pid)
    finally:
        owner.kill()
        owner.wait()


def test_locked_run_is_refused_before_tensorflow_is_imported(tmp_path: Path) -> None:
    """A second ``train --resume``: with a ``tensorflow`` that cannot be imported, the refusal still comes."""
    import subprocess
    import sys

    config = write_config(tmp_path)
    run = tmp_path / "run"
    assert cli("train", config, "-o", run, "--epochs", 1, "--no-progress").exit_code == 0
    fake = tmp_path / "fake" / "tensorflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('tensorflow was imported')\n")
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (run / "run.lock").write_text(str(owner.pid))
        import rnncli

        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake.parent), str(Path(rnncli.__file__).parents[1]),
                                                              os.environ.get("PYTHONPATH", "")])}
        done = subprocess.run([sys.executable, "-m", "rnncli", "train", str(config), "-o", str(run), "--resume",
                               "--epochs", "2"], capture_output=True, text=True, env=env, timeout=120)
    finally:
        owner.kill()
        owner.wait()
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == (f"error: {run} is in use by another rnncli process (pid {owner.pid}); wait for "
                                   f"it to finish or pick another run directory")
