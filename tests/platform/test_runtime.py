"""The process around a command: signals held during writes, SIGTERM as an interrupt."""

from __future__ import annotations

import os
import signal

import pytest

from rnncli.platform.runtime import Terminated, deferred_interrupts, interrupt_reason, terminate_as_interrupt


def test_interrupt_during_a_save_waits_for_the_block() -> None:
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            finished.append(True)  # still runs: the signal is held until the block ends
    assert finished == [True]


def test_sigterm_inside_the_block_is_an_interrupt_and_the_handler_comes_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated) as raised:
        with terminate_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
    assert isinstance(raised.value, KeyboardInterrupt) and raised.value.exit_code == 143
    assert interrupt_reason(raised.value) == "SIGTERM" and interrupt_reason(KeyboardInterrupt()) == "SIGINT"
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigterm_during_a_save_waits_then_terminates() -> None:
    finished = []
    with pytest.raises(Terminated):
        with terminate_as_interrupt(), deferred_interrupts():
            os.kill(os.getpid(), signal.SIGTERM)
            finished.append(True)
    assert finished == [True]


def test_frozen_import_heap_freezes_what_the_block_made_and_restores_the_collector() -> None:
    import gc

    from rnncli.platform.runtime import frozen_import_heap

    before = gc.get_freeze_count()
    assert gc.isenabled()
    kept = []
    with frozen_import_heap():
        assert not gc.isenabled()
        kept.extend([[index] for index in range(1000)])  # stands for the import's objects
    assert gc.isenabled()
    assert gc.get_freeze_count() >= before + 1000
    gc.disable()
    try:
        with pytest.raises(ImportError):
            with frozen_import_heap():
                raise ImportError("a failed import")
        assert not gc.isenabled()  # a collector the caller had disabled stays disabled
    finally:
        gc.enable()
