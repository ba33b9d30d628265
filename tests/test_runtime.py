"""The process around a command: signals held during writes, SIGTERM as an interrupt."""

from __future__ import annotations

import os
import signal

import pytest

from rnncli.runtime import deferred_interrupts


def test_interrupt_during_a_save_waits_for_the_block() -> None:
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            finished.append(True)  # still runs: the signal is held until the block ends
    assert finished == [True]
