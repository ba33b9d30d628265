"""Storage faults for the tests: a small real file system (tmpfs) where ``mount`` works, a folder made read-only.

Where this process may mount (root with CAP_SYS_ADMIN, as on the development machine), ``small_disk`` is a real
tmpfs of a given size, so TensorFlow's own SaveV2 fails with ENOSPC, and ``read_only`` bind-mounts a folder
read-only (EROFS, also for root). Elsewhere (a CI runner without mount rights) the same tests run on the
fallbacks: ``small_disk`` is a plain folder (``real`` False; the test injects the failure), and ``read_only``
removes the write permission (EACCES for a non-root user) or, for root, makes Python's writes under the folder
fail with EROFS. ``RNNCLI_TEST_NO_MOUNT=1`` runs the fallbacks where mounting works.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest


def _mount(*args: str) -> bool:
    if os.environ.get("RNNCLI_TEST_NO_MOUNT"):  # try the fallbacks where mounting works
        return False
    try:
        return subprocess.run(["mount", *args], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=20)


class SmallDisk:
    """A folder on a tmpfs of ``size`` bytes (``real``), or a plain folder where mounting is not allowed."""

    def __init__(self, path: Path, size: int):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.real = _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))

    def resize(self, size: int) -> None:
        """Give the file system ``size`` bytes (space is back)."""
        if self.real:
            assert _mount("-o", f"remount,size={size}", str(self.path))

    def close(self) -> None:
        if self.real:
            _umount(self.path)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator:
    """``small_disk(size)`` -> ``SmallDisk``; unmounted after the test."""
    disks: list[SmallDisk] = []

    def make(size: int) -> SmallDisk:
        disk = SmallDisk(tmp_path / f"disk{len(disks)}", size)
        disks.append(disk)
        return disk

    yield make
    for disk in disks:
        disk.close()


@pytest.fixture
def read_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """``read_only(folder)`` -> the path of ``folder``'s contents, read-only, and the ``run.json`` kind expected
    (``read_only``, or ``permission`` for the chmod fallback)."""
    mounts: list[Path] = []
    chmodded: list[Path] = []

    def make(folder: Path) -> tuple[Path, str]:
        view = tmp_path / f"ro-{folder.name}"
        view.mkdir()
        if _mount("--bind", str(folder), str(view)):
            mounts.append(view)
            if _mount("-o", "remount,ro,bind", str(view)):
                return view, "read_only"
            _umount(view)
            mounts.pop()
        shutil.copytree(folder, view, dirs_exist_ok=True, symlinks=True)
        if os.geteuid() != 0:
            for path in [view, *view.rglob("*")]:
                if path.is_dir():
                    path.chmod(0o555)
                    chmodded.append(path)
            return view, "permission"
        _refuse_python_writes_under(view, monkeypatch)
        return view, "read_only"

    yield make
    for view in mounts:
        _umount(view)
    for path in chmodded:
        with contextlib.suppress(OSError):
            path.chmod(0o755)


def _refuse_python_writes_under(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root without mount rights: writes through Python's ``os`` under ``folder`` fail with EROFS."""
    root = str(folder.resolve())

    def inside(path: object) -> bool:
        try:
            return os.path.abspath(os.fspath(path)).startswith(root)  # type: ignore[arg-type]
        except TypeError:
            return False

    real_open, real_mkdir = os.open, os.mkdir

    def guarded_open(path, flags, *args, **kwargs):  # noqa: ANN001, ANN202
        if inside(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    def guarded_mkdir(path, *args, **kwargs):  # noqa: ANN001, ANN202
        if inside(path):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded_open)
    monkeypatch.setattr(os, "mkdir", guarded_mkdir)
