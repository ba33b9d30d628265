"""Run files honour the umask, an unwritable mounted folder is one permission error with the ``docker --user``
hint, a cache folder that cannot be written is reported by ``doctor``, the serving states file fails like any
other write, and normal use prints no TensorFlow deprecation warning (issue 30, items 16-18; issue 25)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import rnncli
from rnncli.cli.main import main
from rnncli.platform import compile_cache
from rnncli.runs import atomic_write_text
from rnncli.runs.faults import StorageError, storage_error

REPO = Path(rnncli.__file__).parents[1]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask,expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_writes_honour_the_umask(tmp_path: Path, umask: int, expected: int) -> None:
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "run.json", "{}\n")
        atomic_write_text(tmp_path / "run.json", "{}\n")  # a replacement too
    finally:
        os.umask(old)
    assert mode(tmp_path / "run.json") == expected
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_a_trained_run_is_readable_by_other_users(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3, 2)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=x.sum(axis=(1, 2))[:, None])
    (tmp_path / "c.yaml").write_text(textwrap.dedent("""\
        model:
          layers:
            - {type: SimpleRNN, output_dim: 2, input_shape: [3, 2]}
            - {type: Dense, output_dim: 1}
        data: {train: d.npz}
        training: {loss: mse, batch_size: 8, nb_epoch: 1, jit_compile: "false"}
        """))
    old = os.umask(0o022)
    try:
        result = CliRunner().invoke(main, ["train", str(tmp_path / "c.yaml"), "-o", str(tmp_path / "run"),
                                           "--no-progress"], catch_exceptions=False)
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    for name in ("run.json", "history.csv", "config.yaml", "config.resolved.yaml", "checkpoints/checkpoint",
                 "checkpoints/best/checkpoint"):
        assert mode(run / name) == 0o644, name


def test_storage_errors_are_recognised() -> None:
    import tensorflow as tf

    for number, kind in ((errno.ENOSPC, "disk_full"), (errno.EDQUOT, "disk_full"), (errno.EROFS, "read_only"),
                         (errno.EACCES, "permission"), (errno.EPERM, "permission")):
        error = storage_error(OSError(number, os.strerror(number), "/r/run.json"))
        assert (error.kind, error.path, error.reason) == (kind, "/r/run.json", os.strerror(number))
        assert isinstance(error, OSError) and error.errno in (number, errno.ENOSPC, errno.EACCES)
    saved = tf.errors.ResourceExhaustedError(None, None, "{{function_node __inference_write_47}} r/checkpoints/"
                                             "ckpt-2_temp/part-00000-of-00001.data-00000-of-00001.tempstate29; No "
                                             "space left on device\n\t [[{{node SaveV2}}]]")
    assert storage_error(saved, "r/checkpoints").record() == {
        "kind": "disk_full", "path": "r/checkpoints",
        "message": "cannot write r/checkpoints: No space left on device (the disk is full: free some space, then "
                   "run the command again)"}
    assert storage_error(saved).path.startswith("r/checkpoints/ckpt-2_temp/")
    for other in (OSError(errno.ENOENT, "No such file or directory", "x"), ValueError("Permission denied"),
                  tf.errors.InvalidArgumentError(None, None, "shapes differ")):
        assert storage_error(other) is None


def test_stream_states_that_cannot_be_saved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--state-dir``'s file: the same error, still an ``OSError`` (the periodic save logs it and goes on)."""
    from rnncli.serve.store import StateDir

    state_dir = StateDir(tmp_path / "streams")
    state_dir.open()
    state_dir.write(b"old")
    real = os.replace

    def full(src, dst, *args, **kwargs):  # noqa: ANN001, ANN202
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OSError) as raised:
        state_dir.write(b"new")
    monkeypatch.setattr(os, "replace", real)
    assert isinstance(raised.value, StorageError) and raised.value.kind == "disk_full"
    assert str(raised.value).startswith(f"cannot write {state_dir.file}: No space left on device")
    assert state_dir.file.read_bytes() == b"old"
    assert sorted(p.name for p in state_dir.path.iterdir()) == ["run.lock", state_dir.file.name]
    state_dir.close()


def test_doctor_reports_a_cache_it_cannot_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")  # the cache folder would be below a file: nothing can be created there
    environ = {"RNNCLI_CACHE_DIR": str(blocked)}
    described = compile_cache.describe(environ)
    assert described["state"] == "off (cannot write it: Not a directory; set RNNCLI_CACHE_DIR)"
    assert compile_cache.apply(dict(environ)) is None
    assert compile_cache.hints(described)[0].startswith(f"the XLA compilation cache cannot be written "
                                                        f"({described['directory']})")
    assert compile_cache.hints(compile_cache.describe({"RNNCLI_CACHE_DIR": str(tmp_path)})) == []
    monkeypatch.setenv("RNNCLI_CACHE_DIR", str(blocked))
    monkeypatch.delenv("RNNCLI_NO_CACHE", raising=False)
    monkeypatch.delenv("TF_XLA_FLAGS", raising=False)
    result = CliRunner().invoke(main, ["doctor", "--json"], catch_exceptions=False)
    report = json.loads(result.stdout)
    assert report["compile_cache"]["state"].startswith("off (cannot write it")
    assert any("RNNCLI_CACHE_DIR" in hint for hint in report["hints"])


def _without_override() -> None:
    """In the child, before exec: root loses CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (PR_CAPBSET_DROP), so file
    modes bind it as they bind any user (a root-owned 0555 folder cannot be written)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):
        if libc.prctl(24, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _unwritable_for_children(folder: Path) -> dict:
    """Popen arguments under which ``folder`` (mode 0555) cannot be written: none for a plain user, the
    capability drop for root; None when this root cannot drop them."""
    if os.geteuid() != 0:
        return {}
    probe = subprocess.run([sys.executable, "-c", f"open({str(folder / 'probe')!r}, 'w')"], capture_output=True,
                           preexec_fn=_without_override)
    return {"preexec_fn": _without_override} if probe.returncode != 0 else None


def test_an_unwritable_mounted_folder_gives_the_docker_user_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """As ``docker run -v "$PWD:/work" -w /work`` without ``--user``: the work folder belongs to someone else."""
    folder = Path(tempfile.mkdtemp(prefix="rnncli-mounted-"))
    try:
        (folder / "c.yaml").write_text(textwrap.dedent("""\
            model:
              layers:
                - {type: GRU, output_dim: 2, input_shape: [3, 2]}
            data: {train: d.npz}
            training: {loss: mse, nb_epoch: 1}
            """))
        np.savez(folder / "d.npz", x=np.zeros((4, 3, 2), np.float32), y=np.zeros((4, 2), np.float32))
        folder.chmod(0o555)
        extra = _unwritable_for_children(folder)
        env = {**os.environ, "PYTHONPATH": str(REPO), "RNNCLI_NO_CACHE": "1"}
        for args, path in ((["train", "c.yaml"], "runs"), (["train", "c.yaml", "-o", "out"], "out")):
            expected = (f"error: cannot write {path}: Permission denied (this user may not write there: give the "
                        f'folder to this user, or in Docker run with --user "$(id -u):$(id -g)")')
            if extra is not None:
                done = subprocess.run([sys.executable, "-m", "rnncli", *args], cwd=folder, capture_output=True,
                                      text=True, env=env, timeout=120, **extra)
                assert (done.returncode, done.stderr.strip()) == (1, expected)
                continue
            real = os.mkdir  # a root that keeps its override: the refusal from the OS is simulated

            def refused(target, *rest, **kwargs):  # noqa: ANN001, ANN202
                if Path(target).parent == Path("."):
                    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(target))
                return real(target, *rest, **kwargs)

            monkeypatch.chdir(folder)
            monkeypatch.setattr(os, "mkdir", refused)
            result = CliRunner().invoke(main, args, catch_exceptions=False)
            monkeypatch.undo()
            assert (result.exit_code, result.output.strip()) == (1, expected)
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder, ignore_errors=True)


def test_no_tensorflow_deprecation_warning_in_normal_use(tmp_path: Path) -> None:
    """train, stateful predict and reset-states in one process: TensorFlow's warnings are logged once per
    process, so a fresh one shows them all."""
    x = np.random.default_rng(0).normal(size=(8, 3, 1)).astype(np.float32)
    np.savez(tmp_path / "s.npz", x=x, y=x.sum(axis=(1, 2))[:, None])
    np.save(tmp_path / "x.npy", x[:4])
    (tmp_path / "s.yaml").write_text(textwrap.dedent("""\
        model:
          layers:
            - {type: LSTM, output_dim: 3, batch_input_shape: [4, 3, 1], stateful: true}
            - {type: Dense, output_dim: 1}
        data: {train: s.npz}
        training: {loss: mse, batch_size: 4, nb_epoch: 2, jit_compile: "false"}
        """))
    script = textwrap.dedent("""\
        import sys
        from rnncli.cli.main import main
        for args in (["train", "s.yaml", "-o", "run", "--no-progress"], ["predict", "run", "-i", "x.npy"],
                     ["predict", "run", "-i", "x.npy"], ["reset-states", "run"]):
            try:
                main(args, standalone_mode=False)
            except SystemExit as exc:
                sys.exit(f"{args}: exit {exc.code}")
        """)
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO), "RNNCLI_NO_CACHE": "1"}, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "deprecat" not in done.stderr.lower() and "WARNING" not in done.stderr, done.stderr


def test_any_command_reports_a_storage_error_of_unknown_origin_in_one_line(tmp_path: Path) -> None:
    """``handle_errors``: an ``OSError`` or a TensorFlow write error nobody translated is no "bug in rnncli"."""
    import click
    import tensorflow as tf

    from rnncli.cli.common import handle_errors

    raised: list[BaseException] = [
        PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(tmp_path / "x.npy")),
        OSError(errno.EROFS, os.strerror(errno.EROFS), str(tmp_path / "out")),
        tf.errors.UnknownError(None, None, f"{tmp_path}/model/variables/variables.data-00000-of-00001; Disk quota "
                                           f"exceeded [Op:SaveV2]")]

    @click.command()
    @click.argument("index", type=int)
    @handle_errors
    def command(index: int) -> None:
        raise raised[index]

    expected = [f"error: cannot access {tmp_path / 'x.npy'}: Permission denied (this user may not use it: give it "
                f'to this user, or in Docker run with --user "$(id -u):$(id -g)")',
                f"error: cannot write {tmp_path / 'out'}: Read-only file system (the file system is read-only: "
                f"write to another folder)",
                f"error: cannot write {tmp_path}/model/variables/variables.data-00000-of-00001: Disk quota exceeded "
                f"(the disk is full: free some space, then run the command again)"]
    for index, line in enumerate(expected):
        result = CliRunner().invoke(command, [str(index)])
        assert (result.exit_code, result.output.strip()) == (1, line)
