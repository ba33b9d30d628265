"""The validator: every error is located at FILE:LINE:COL, names the key and suggests the fix; exit code 2."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnncli.cli.main import main
from rnncli.config.validate import load_config
from rnncli.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
model:
  layers:
    - type: LSTM
      output_dim: 8
      input_shape: [5, 3]
"""


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def errors_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return [str(d) for d in info.value.diagnostics]


CASES = {
    "misspelled key": ("""\
        model:
          layers:
            - type: LSTM
              output_dim: 8
              input_shape: [5, 3]
              inner_inti: orthogonal
        """, r"c.yaml:6:\d+: error: .*unknown key `inner_inti`.*did you mean `inner_init`"),
    "wrong type": ("""\
        model:
          layers:
            - type: LSTM
              output_dim: eight
              input_shape: [5, 3]
        """, r"c.yaml:4:\d+: error: model.layers\[0\].output_dim must be an integer"),
    "out of range": ("""\
        model:
          layers:
            - type: LSTM
              output_dim: 8
              input_shape: [5, 3]
              dropout_U: 1.0
        """, r"c.yaml:6:\d+: error: model.layers\[0\].dropout_U must be in \[0, 1\)"),
    "unknown activation": ("""\
        model:
          layers:
            - {type: LSTM, output_dim: 8, input_shape: [5, 3], activation: tanhh}
        """, r"c.yaml:3:\d+: error: .*unknown activation 'tanhh' \(did you mean `tanh`\?\)"),
    "unknown initializer": ("""\
        model:
          layers:
            - {type: LSTM, output_dim: 8, input_shape: [5, 3], init: glorot}
        """, r"c.yaml:3:\d+: error: .*unknown initializer 'glorot'"),
    "unknown consume_less": ("""\
        model:
          layers:
            - {type: GRU, output_dim: 8, input_shape: [5, 3], consume_less: fast}
        """, r"c.yaml:3:\d+: error: .*consume_less must be one of `cpu`, `mem`, `gpu`, got 'fast'"),
    "unknown layer type": ("""\
        model:
          layers:
            - {type: LSTM, output_dim: 8, input_shape: [5, 3]}
            - {type: Dens, output_dim: 1}
        """, r"c.yaml:4:\d+: error: .*unknown layer type 'Dens' \(did you mean `Dense`\?\)"),
    "stateful without batch size": ("""\
        model:
          layers:
            - type: LSTM
              output_dim: 8
              input_shape: [5, 3]
              stateful: true
        """, r"c.yaml:6:\d+: error: .*stateful, so it needs a fixed batch size.*batch_input_shape"),
    "unroll without length": ("""\
        model:
          layers:
            - type: LSTM
              output_dim: 8
              input_shape: [null, 3]
              unroll: true
        """, r"c.yaml:6:\d+: error: .*unroll: true.*number of timesteps is unknown"),
    "first layer without input": ("""\
        model:
          layers:
            - type: LSTM
              output_dim: 8
        """, r"c.yaml:3:\d+: error: model.layers\[0\]: the first layer must define its input"),
    "syntax error": ("""\
        model:
          layers: [
            - type: LSTM
        """, r"c.yaml:\d+:\d+: error: YAML syntax error"),
    "duplicate key": ("""\
        model:
          layers:
            - type: LSTM
              output_dim: 8
              output_dim: 9
              input_shape: [5, 3]
        """, r"c.yaml:5:\d+: error: .*duplicate key 'output_dim'"),
    "flatten needs length": ("""\
        model:
          layers:
            - {type: LSTM, output_dim: 8, input_shape: [null, 3], return_sequences: true}
            - {type: Flatten}
        """, r"Flatten\) needs a fully known input shape"),
    "mask into dense": ("""\
        model:
          layers:
            - {type: Embedding, input_dim: 10, output_dim: 4, mask_zero: true}
            - {type: LSTM, output_dim: 8, return_sequences: true}
            - {type: Dense, output_dim: 1}
        """, r"does not support masking, but receives a mask from `embedding_1`"),
    "shapes must chain": ("""\
        model:
          layers:
            - {type: LSTM, output_dim: 8, input_shape: [5, 3]}
            - {type: LSTM, output_dim: 8}
        """, r"expects 3-D input .* got shape \(None, 8\)"),
    "stateful shuffle": ("""\
        model:
          layers:
            - {type: LSTM, output_dim: 8, batch_input_shape: [4, 5, 3], stateful: true}
        training: {loss: mse, shuffle: true}
        """, r"c.yaml:4:\d+: error: training.shuffle: a stateful model must not shuffle"),
    "unknown loss": ("""\
        model:
          layers:
            - {type: LSTM, output_dim: 8, input_shape: [5, 3]}
        training: {loss: mean_squared_eror}
        """, r"unknown loss 'mean_squared_eror' \(did you mean `mean_squared_error`\?\)"),
    "unknown optimizer key": ("""\
        model:
          layers:
            - {type: LSTM, output_dim: 8, input_shape: [5, 3]}
        training: {loss: mse, optimizer: {name: adam, betta_1: 0.9}}
        """, r"unknown key `betta_1`.*did you mean `beta_1`"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_error_cases_are_located(tmp_path: Path, name: str) -> None:
    text, pattern = CASES[name]
    messages = errors_of(tmp_path, text)
    assert any(re.search(pattern, m) for m in messages), messages


def test_empty_and_missing_files(tmp_path: Path) -> None:
    assert "file is empty" in errors_of(tmp_path, "# only a comment\n")[0]
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


def test_all_errors_reported_at_once(tmp_path: Path) -> None:
    messages = errors_of(tmp_path, """\
        model:
          layers:
            - {type: LSTM, output_dim: -1, input_shape: [5, 3], activation: nope, dropout_W: 2}
            - {type: Dense, output_dim: 0}
        """)
    assert len(messages) >= 4


def test_keras1_to_yaml_document(tmp_path: Path) -> None:
    """A hand-written Keras 1.2.2 `model.to_yaml()` (spec §11.2) validates with Keras 1's parameter counts."""
    path = write(tmp_path, """\
        class_name: Sequential
        config:
        - class_name: LSTM
          config:
            U_regularizer: {l1: 0.0, l2: 0.009999999776482582, name: L1L2Regularizer}
            W_regularizer: null
            activation: tanh
            b_regularizer: null
            batch_input_shape: !!python/tuple [null, 10, 64]
            consume_less: cpu
            dropout_U: 0.0
            dropout_W: 0.0
            forget_bias_init: one
            go_backwards: false
            init: glorot_uniform
            inner_activation: hard_sigmoid
            inner_init: orthogonal
            input_dim: 64
            input_dtype: float32
            input_length: null
            name: lstm_1
            output_dim: 32
            return_sequences: false
            stateful: false
            trainable: true
            unroll: false
        - class_name: Dense
          config: {W_constraint: null, W_regularizer: null, activation: linear, activity_regularizer: null,
            b_constraint: null, b_regularizer: null, bias: true, init: glorot_uniform, input_dim: 32,
            name: dense_1, output_dim: 1, trainable: true}
        keras_version: 1.2.2
        """)
    config = load_config(path)
    assert [layer.params for layer in config.model.layers] == [12416, 33]
    assert config.model.layers[0].config["U_regularizer"] == {"l1": 0.0, "l2": pytest.approx(0.01)}
    result = CliRunner().invoke(main, ["summary", str(path)])
    assert result.exit_code == 0 and "12,416" in result.output


def test_keras1_document_rejects_python_objects(tmp_path: Path) -> None:
    messages = errors_of(tmp_path, "!!python/object/apply:os.system ['echo hi']\n")
    assert "unsupported YAML tag" in messages[0]


def test_billion_laughs_is_refused_quickly(tmp_path: Path) -> None:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    lines.append("model: *a9")
    started = time.perf_counter()
    messages = errors_of(tmp_path, "\n".join(lines) + "\n")
    assert time.perf_counter() - started < 2.0
    assert "alias bomb" in messages[0]


def test_every_shipped_config_validates() -> None:
    configs = sorted((ROOT / "configs").glob("*.yaml"))
    assert configs
    result = CliRunner().invoke(main, ["validate", *map(str, configs)])
    assert result.exit_code == 0, result.output


def test_validate_exit_codes_and_no_traceback(tmp_path: Path) -> None:
    bad = write(tmp_path, "model:\n  layers:\n    - {type: LSTM}\n")
    good = write(tmp_path, GOOD, "good.yaml")
    runner = CliRunner()
    ok = runner.invoke(main, ["validate", str(good)])
    assert ok.exit_code == 0 and "ok" in ok.output
    failed = runner.invoke(main, ["validate", str(bad)])
    assert failed.exit_code == 2
    assert "Traceback" not in failed.output and "missing required key `output_dim`" in failed.output


def test_help_and_validate_do_not_import_tensorflow(tmp_path: Path) -> None:
    good = write(tmp_path, GOOD)
    code = ("import sys; from rnncli.cli.main import main\n"
            "try:\n    main(['validate', sys.argv[1]])\nexcept SystemExit:\n    pass\n"
            "try:\n    main(['summary', sys.argv[1]])\nexcept SystemExit:\n    pass\n"
            "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, str(good)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert time.perf_counter() - started < 5.0


def test_summary_shows_execution_path(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["summary", str(write(tmp_path, GOOD)), "--device", "gpu"])
    assert result.exit_code == 0
    assert "consume_less=cpu" in result.output and "Execution of lstm_1 on gpu" in result.output


def test_keras1_addition_model_with_time_distributed_dense(tmp_path: Path) -> None:
    """Keras 1 writes `input_dim` on every Dense, also inside TimeDistributed on 3-D input: only the last axis."""
    path = write(tmp_path, """\
        class_name: Sequential
        config:
        - class_name: LSTM
          config: {batch_input_shape: !!python/tuple [null, 7, 12], input_dim: 12, name: lstm_1, output_dim: 128}
        - class_name: RepeatVector
          config: {n: 4, name: repeatvector_1, trainable: true}
        - class_name: LSTM
          config: {input_dim: 128, input_length: null, name: lstm_2, output_dim: 128, return_sequences: true}
        - class_name: TimeDistributed
          config:
            layer:
              class_name: Dense
              config: {W_constraint: null, activation: linear, bias: true, input_dim: 128, name: dense_1,
                output_dim: 12}
            name: timedistributed_1
        - class_name: Activation
          config: {activation: softmax, name: activation_1}
        keras_version: 1.2.2
        """)
    config = load_config(path)
    assert config.model.params == 205324  # Keras 1 addition_rnn.py
    bad = path.read_text().replace("input_dim: 128, name: dense_1", "input_dim: 64, name: dense_1")
    path.write_text(bad)
    with pytest.raises(ConfigError, match="declares 64 input features but the previous layer outputs 128"):
        load_config(path)
