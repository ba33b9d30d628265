"""The process around a command: signals held during writes, SIGTERM as an interrupt."""

from __future__ import annotations

import os
import signal

import pytest

from rnncli.runtime import Terminated, deferred_interrupts, interrupt_reason, terminate_as_interrupt


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
