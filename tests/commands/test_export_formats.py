"""`rnncli export --format tflite|onnx` checked against `rnncli predict` (TFLite via tf.lite.Interpreter, ONNX via
onnxruntime), stateless and stateful (states as explicit inputs and outputs)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rnncli.cli.main import main

TOLERANCE = dict(rtol=1e-5, atol=1e-5)


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def rnncli_predict(run: Path, x: np.ndarray, tmp_path: Path) -> np.ndarray:
    np.save(tmp_path / "in.npy", x)
    result = invoke("predict", str(run), "-i", str(tmp_path / "in.npy"), "-o", str(tmp_path / "out.npy"),
                    "--no-save-states")
    assert result.exit_code == 0, result.output
    return np.load(tmp_path / "out.npy")


class TFLiteRunner:
    def __init__(self, path: Path):
        import tensorflow as tf

        self.runner = tf.lite.Interpreter(model_path=str(path)).get_signature_runner("serving_default")

    def __call__(self, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        return self.runner(**inputs)


class OnnxRunner:
    def __init__(self, path: Path):
        import onnxruntime

        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.names = [o.name for o in self.session.get_outputs()]

    def __call__(self, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(self.names, self.session.run(None, inputs)))


RUNNERS = {"tflite": TFLiteRunner, "onnx": OnnxRunner}


def export(run: Path, fmt: str, tmp_path: Path) -> Path:
    path = tmp_path / f"model.{fmt}"
    result = invoke("export", str(run), "--format", fmt, "-o", str(path))
    assert result.exit_code == 0, result.output
    return path


def stream(runner, x: np.ndarray, batch: int, states: dict[str, np.ndarray]) -> np.ndarray:
    """Feed x batch by batch, carrying every state from one call to the next (what `rnncli predict` does)."""
    outputs = []
    for start in range(0, len(x), batch):
        result = runner(x=x[start:start + batch], **states)
        states = {name: result[name + "_next"] for name in states}
        outputs.append(result["y"])
    return np.concatenate(outputs)


def _train(tmp: Path, layers: str, x: np.ndarray, y: np.ndarray, loss: str) -> Path:
    np.savez(tmp / "d.npz", x=x, y=y)
    np.save(tmp / "x.npy", x)
    (tmp / "c.yaml").write_text(textwrap.dedent("""\
        seed: 2
        model:
          layers:
        """) + textwrap.indent(textwrap.dedent(layers), "    ") + textwrap.dedent(f"""\
        data: {{train: d.npz}}
        training: {{loss: {loss}, optimizer: {{name: adam, lr: 0.05}}, batch_size: 8, nb_epoch: 1,
                   jit_compile: "false"}}
        """))
    result = invoke("train", str(tmp / "c.yaml"), "-o", str(tmp / "run"))
    assert result.exit_code == 0, result.output
    return tmp / "run"


@pytest.fixture(scope="module")
def masked_run(tmp_path_factory) -> Path:
    """Embedding(mask_zero) -> GRU(return_sequences) -> GRU(reset_after, zero_output_for_mask) -> LSTM(go_backwards)
    -> Dense over a variable number of timesteps: the time loops stay while loops (ONNX Loop; TFLite with a fixed
    batch of training.batch_size)."""
    rng = np.random.default_rng(0)
    x = rng.integers(1, 7, (24, 6)).astype(np.float32)
    x[:, :2][rng.uniform(size=(24, 2)) < 0.5] = 0  # pre-padding: masked steps
    return _train(tmp_path_factory.mktemp("masked"), """\
        - {type: Embedding, input_dim: 7, output_dim: 4, mask_zero: true}
        - {type: GRU, output_dim: 5, return_sequences: true}
        - {type: GRU, output_dim: 5, return_sequences: true, reset_after: true, zero_output_for_mask: true}
        - {type: LSTM, output_dim: 5, go_backwards: true}
        - {type: Dense, output_dim: 3, activation: softmax}
        """, x, np.eye(3, dtype=np.float32)[rng.integers(0, 3, 24)], "categorical_crossentropy")


@pytest.fixture(scope="module")
def fixed_run(tmp_path_factory) -> Path:
    """A fixed number of timesteps (with dropout, off at inference): the exports unroll the time loops."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 7, 2)).astype(np.float32)
    return _train(tmp_path_factory.mktemp("fixed"), """\
        - {type: LSTM, output_dim: 6, input_shape: [7, 2], return_sequences: true, dropout_W: 0.2, dropout_U: 0.2}
        - {type: SimpleRNN, output_dim: 4}
        - {type: Dense, output_dim: 1}
        """, x, x.mean(axis=(1, 2))[:, None], "mse")


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_fixed_steps_export_matches_predict_at_any_batch_size(fixed_run: Path, fmt: str, tmp_path: Path) -> None:
    x = np.load(fixed_run.parent / "x.npy")
    expected = rnncli_predict(fixed_run, x, tmp_path)
    runner = RUNNERS[fmt](export(fixed_run, fmt, tmp_path))
    np.testing.assert_allclose(runner(x=x)["y"], expected, **TOLERANCE)
    np.testing.assert_allclose(runner(x=x[:3])["y"], expected[:3], **TOLERANCE)
    assert not (tmp_path / "model.states.npz").exists()


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_variable_steps_export_matches_predict(masked_run: Path, fmt: str, tmp_path: Path) -> None:
    x = np.load(masked_run.parent / "x.npy")
    expected = rnncli_predict(masked_run, x, tmp_path)
    runner = RUNNERS[fmt](export(masked_run, fmt, tmp_path))
    ints = x.astype(np.int32)
    if fmt == "tflite":  # the batch is fixed to training.batch_size (8)
        got = np.concatenate([runner(x=ints[i:i + 8])["y"] for i in range(0, 24, 8)])
    else:
        got = runner(x=ints)["y"]
        np.testing.assert_allclose(runner(x=ints[:5, 1:])["y"], rnncli_predict(masked_run, x[:5, 1:], tmp_path),
                                   **TOLERANCE)  # another length
    np.testing.assert_allclose(got, expected, **TOLERANCE)


def test_stateful_export_carries_states_as_inputs_and_outputs(stateful: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert invoke("train", str(stateful), "-o", str(run)).exit_code == 0
    x = np.load(tmp_path / "x.npy")  # 20 rows = 10 batches of the 2 streams
    expected = rnncli_predict(run, x, tmp_path)
    paths = {fmt: export(run, fmt, tmp_path) for fmt in RUNNERS}
    states = dict(np.load(tmp_path / "model.states.npz"))
    assert sorted(states) == ["lstm_1_c", "lstm_1_h", "lstm_2_c", "lstm_2_h"]
    assert all(v.shape == (2, 6) and np.abs(v).sum() > 0 for v in states.values())  # the run's saved states
    runners = {fmt: RUNNERS[fmt](path) for fmt, path in paths.items()}
    for fmt, runner in runners.items():
        np.testing.assert_allclose(stream(runner, x, 2, states), expected, **TOLERANCE, err_msg=fmt)
    # from zeroed states, as after `rnncli reset-states`
    assert invoke("reset-states", str(run)).exit_code == 0
    expected = rnncli_predict(run, x, tmp_path)
    zeros = {name: np.zeros_like(v) for name, v in states.items()}
    for fmt, runner in runners.items():
        np.testing.assert_allclose(stream(runner, x, 2, zeros), expected, **TOLERANCE, err_msg=fmt)


def test_export_refusals(fixed_run: Path, tmp_path: Path) -> None:
    wrong = invoke("export", str(fixed_run), "--format", "tflite", "-o", str(tmp_path / "model.onnx"))
    assert wrong.exit_code == 2 and "ending in .tflite" in wrong.output
    (tmp_path / "m.onnx").write_text("x")
    exists = invoke("export", str(fixed_run), "--format", "onnx", "-o", str(tmp_path / "m.onnx"))
    assert exists.exit_code == 2 and "--force" in exists.output
    assert (tmp_path / "m.onnx").read_text() == "x"
