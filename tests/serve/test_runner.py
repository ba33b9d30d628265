"""The runner without a server: batch size 1 is ready first and larger batches run as steps of the sizes compiled
so far; which models take stream chunks of any length."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from rnncli.serve.runner import ModelInfo, ModelRunner, StateSpec, free_length


class Doubler:
    """call_with_states: y = 2 x + h, h' = h + x (x [b, 1, 1], h [b, 1])."""

    def call_with_states(self, x, states):
        h = states[0] + x[:, 0, :]
        return 2.0 * x[:, 0, :] + states[0], [h]


def runner(max_batch: int = 8) -> ModelRunner:
    plan = SimpleNamespace(input_shape=(None, 1, 1), input_dtype="float32", layers=[])
    info = ModelInfo("run", None, [1, 1], "float32", [1], True, [StateSpec("lstm_1", "h", 1)], [], False)
    return ModelRunner(Doubler(), plan, False, max_batch, info)


def test_batch_size_one_is_ready_first_and_big_batches_use_the_compiled_sizes(monkeypatch):
    model = runner()
    seen_at_ready: list[list[int]] = []
    model.compile(ready=lambda: seen_at_ready.append(list(model.ready_sizes)))
    assert seen_at_ready == [[1]] and model.ready_sizes == [1, 2, 4, 8]

    calls: list[tuple[int, int]] = []
    original = model._run_piece

    def record(piece, states, size):
        calls.append((len(piece), size))
        return original(piece, states, size)

    monkeypatch.setattr(model, "_run_piece", record)
    x = np.arange(5, dtype=np.float32).reshape(5, 1, 1)
    h = [np.ones((5, 1), np.float32)]
    model.ready_sizes = [1, 2]                              # 4 and 8 still compiling in the background
    y, (new,) = model.run(x, h)
    assert calls == [(2, 2), (2, 2), (1, 1)]
    np.testing.assert_allclose(y[:, 0], 2 * np.arange(5) + 1)
    np.testing.assert_allclose(new[:, 0], np.arange(5) + 1)
    calls.clear()
    model.ready_sizes = [1, 2, 4, 8]
    y_all, _ = model.run(x, h)
    assert calls == [(5, 8)]
    np.testing.assert_array_equal(y_all, y)


def layer(kind: str, **config):
    return SimpleNamespace(type=kind, config={"type": kind, **config}, inner=None)


@pytest.mark.parametrize("layers,free", [
    ([layer("Masking"), layer("LSTM", return_sequences=True), layer("TimeDistributed")], True),
    ([layer("LSTM", return_sequences=True), layer("LSTM"), layer("Dense"), layer("Flatten")], True),
    ([layer("Embedding"), layer("GRU", return_sequences=True), layer("Flatten"), layer("Dense")], False),
    ([layer("Convolution1D"), layer("LSTM")], False),
    ([layer("LSTM", unroll=True)], False),
    ([layer("SimpleRNN", return_sequences=True), layer("RepeatVector")], False),
])
def test_free_length(layers, free: bool):
    assert free_length(SimpleNamespace(layers=layers)) is free
