"""The process around a command: TensorFlow start-up, and signals that must not cut a write in half.

``prepare_tensorflow`` imports TensorFlow quietly and fixes the process-wide settings that must precede its first
op. ``deferred_interrupts`` holds SIGINT/SIGTERM while a checkpoint is written; ``terminate_as_interrupt`` makes
SIGTERM (what Kubernetes, Slurm and ``docker stop`` send) end a command the way Ctrl-C does.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import threading
from typing import Any, Iterator

from rnncli.platform import tf_env


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the main thread was, so that cleanup runs exactly as for Ctrl-C (exit 143)."""

    signal_name = "SIGTERM"
    exit_code = 128 + signal.SIGTERM


def interrupt_reason(exc: BaseException) -> str:
    """``SIGTERM`` or ``SIGINT`` for an interrupt raised by Ctrl-C or ``terminate_as_interrupt``."""
    return exc.signal_name if isinstance(exc, Terminated) else "SIGINT"


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Inside the block SIGTERM raises ``Terminated`` (a ``KeyboardInterrupt``) instead of killing the process."""
    if not _main_thread():
        yield
        return

    def terminated(number: int, frame: Any) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block (a checkpoint write) is complete, then deliver them.

    Python handlers are swapped for ones that only record the signal (blocking the signal mask would not help:
    TensorFlow's threads would still take it); after the block the old handlers are back and the signal is raised.
    """
    if not _main_thread():
        yield
        return
    received: list[int] = []
    previous = {sig: signal.signal(sig, lambda number, frame: received.append(number))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in received[:1]:
            signal.raise_signal(sig)


@contextlib.contextmanager
def frozen_import_heap() -> Iterator[None]:
    """No garbage collection while the block imports, then ``gc.freeze()`` what it created.

    Importing TensorFlow leaves hundreds of thousands of long-lived objects that the collector tracks. While the
    import runs, full collections traverse all of them again and again, and after it every full pass (one falls in a
    training step's trace) still does: measured 0.6-0.9 s of collection during the import and 0.2-0.3 s in the
    sunspots job after it. Frozen objects are never traversed again; the cost is that cyclic garbage made by the
    import itself is kept (1,536 unreachable objects in TensorFlow 2.21's import).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def prepare_tensorflow(deterministic: bool = True, distribute: str = "none", devices: list[str] | None = None
                       ) -> Any:
    """Import TensorFlow quietly (its C++ log lines never reach the terminal: ``rnncli.platform.native_logs``), create the
    distribution strategy before the first op runs (TensorFlow requires that), and set determinism. Returns the
    ``tensorflow`` module; the strategy is ``rnncli.platform.distribute.current()``."""
    from rnncli.platform import compile_cache
    from rnncli.platform import distribute as dist
    from rnncli.platform.native_logs import filter_native_stderr

    compile_cache.apply()
    tf_env.apply()
    filter_native_stderr()
    with frozen_import_heap(), tf_env.skip_keras():
        import tensorflow as tf

    dist.activate(distribute, devices)
    tf.constant(0.0) + 1.0
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    return tf
