"""Validation of graph configs: every problem at FILE:LINE:COL, did-you-mean on names, cycles, shapes at merges,
unused inputs; chain configs are untouched by the graph surface; a resolved graph config means the same graph."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rnncli.config.graph_validate import is_graph_model
from rnncli.config.validate import load_config
from rnncli.documents.yaml_loader import load_yaml
from rnncli.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def _errors(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "g.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [f"{d.line}:{d.column}: {d.message}" for d in caught.value.diagnostics]


def test_unknown_names_unused_inputs_and_outputs_are_located_with_suggestions(tmp_path):
    errors = _errors(tmp_path, """\
model:
  inputs:
    history: {shape: [6, 3]}
    static: {shape: [4]}
  layers:
    - {type: LSTM, name: enc, output_dim: 5, input: histroy}
    - {type: Dense, name: feat, output_dim: 5, input: static}
    - {type: Merge, mode: concat, inputs: [enc, feta]}
""")
    assert errors == ["6:53: model.layers[0]: no input or layer named `histroy` (did you mean `history`?)",
                      "8:49: model.layers[2]: no input or layer named `feta` (did you mean `feat`?)"]
    errors = _errors(tmp_path, """\
model:
  inputs:
    history: {shape: [6, 3]}
    spare: {shape: [4]}
  layers:
    - {type: LSTM, name: enc, output_dim: 5, input: history}
  outputs: [enc, encc]
""")
    assert errors == ["7:18: model.outputs: no tensor named `encc` (did you mean `enc`?)"]
    errors = _errors(tmp_path, """\
model:
  inputs:
    history: {shape: [6, 3]}
    spare: {shape: [4]}
  layers:
    - {type: LSTM, name: enc, output_dim: 5, input: history}
""")
    assert errors == ["4:12: model.inputs.spare: input `spare` is not used by any layer"]


def test_cycles_are_refused(tmp_path):
    errors = _errors(tmp_path, """\
model:
  inputs:
    x: {shape: [4]}
  layers:
    - {type: Dense, name: a, output_dim: 5, input: c}
    - {type: Dense, name: b, output_dim: 5}
    - {type: Merge, name: c, inputs: [b, x]}
""")
    assert errors == ["5:7: model.layers[0]: the graph has a cycle: a -> c -> b -> a"]


def test_shape_problems_at_merges_shares_and_states(tmp_path):
    errors = _errors(tmp_path, """\
model:
  inputs:
    x: {shape: [4]}
    y: {shape: [6, 3]}
  layers:
    - {type: Dense, name: a, output_dim: 5, input: x}
    - {type: LSTM, name: b, output_dim: 4, input: y}
    - {type: Merge, name: c, mode: sum, inputs: [a, b]}
    - {type: Concatenate, name: d, inputs: [a, y]}
    - {type: Merge, name: e, mode: dot, dot_axes: 1, inputs: [a, b]}
    - {share: b, input: x}
    - {type: LSTM, name: dec, output_dim: 3, input: y, initial_state: [b:1]}
    - {type: Dense, name: f, output_dim: 3, input: y, return_state: true}
    - {type: LSTM, name: g, output_dim: 3, input: y, initial_state: [h]}
    - {type: LSTM, name: h, output_dim: 4, input: y, return_state: true}
""")
    assert errors == [
        "8:49: model.layers[2]: layer `c` (Merge mode sum) needs inputs of one shape, got (None, 5), (None, 4)",
        "9:44: model.layers[3]: layer `d` (Merge mode concat) needs inputs of one rank, got (None, 5), (None, 6, 3)",
        "10:62: model.layers[4]: layer `e` (Merge mode dot): axis 1 of the first input (5) and axis 1 of the second "
        "(4) differ: (None, 5), (None, 4)",
        "11:7: model.layers[5]: layer `b` (LSTM) expects 3-D input (batch, timesteps, features), got shape (None, 4)",
        "12:72: model.layers[6]: no tensor `b:1`: `b` outputs `b`; give it `return_state: true` for its states",
        "13:69: model.layers[7]: `return_state` needs a recurrent layer (SimpleRNN, GRU, LSTM), not Dense",
        "14:69: model.layers[8].initial_state: LSTM takes 2 states (h, c), got 1",
    ]


def test_graph_keys_and_inputs_are_checked(tmp_path):
    errors = _errors(tmp_path, """\
model:
  layers:
    - {type: Dense, output_dim: 5, input_shape: [3]}
    - {type: Merge, inputs: [dense_1, dense_1]}
""")
    assert errors == ["2:3: model: a graph (layers with `input`/`inputs`, merges, `share:` or `outputs:`) needs "
                      "`inputs:`, a mapping of input names to `{shape: [T, D]}`"]
    errors = _errors(tmp_path, """\
model:
  inputs:
    x: {shape: [4], dtpye: float32}
    y: {}
  layers:
    - {type: Dense, name: a, output_dim: 5, input: x}
    - {type: Merge, name: m, mode: avg, inputs: [a, y]}
    - {type: Dense, name: n, output_dim: 5, inputs: [a, m]}
    - {share: aa, input: x}
""")
    assert errors == [
        "3:21: model.inputs.x: unknown key `dtpye` for a model input (did you mean `dtype`?)",
        "4:8: model.inputs.y: give its `shape: [T, D]` (without the batch axis) or `batch_shape`",
    ]
    errors = _errors(tmp_path, """\
model:
  inputs:
    x: {shape: [4]}
  layers:
    - {type: Dense, name: a, output_dim: 5, input: x}
    - {type: Merge, name: m, mode: avg, inputs: [a, a]}
    - {type: Dense, name: n, output_dim: 5, inputs: [a, m]}
    - {share: aa, input: x}
    - {type: Dense, name: a, output_dim: 2}
""")
    assert errors[0].startswith("6:36: model.layers[1].mode must be one of ")
    assert "avg" in errors[0]
    assert errors[1:] == []  # the other problems surface once the layers resolve
    errors = _errors(tmp_path, """\
model:
  inputs:
    x: {shape: [4]}
  layers:
    - {type: Dense, name: a, output_dim: 5, input: x}
    - {type: Dense, name: n, output_dim: 5, inputs: [a, a]}
    - {share: aa, input: x}
    - {type: Dense, name: a, output_dim: 2}
""")
    assert errors == ["8:27: model.layers[3]: duplicate name `a` (also used by model.layers[0])",
                      "7:15: model.layers[2].share: no layer named `aa` (did you mean `a`?)"]


def test_embedding_inputs_become_integer_and_mixed_readers_are_refused(tmp_path):
    errors = _errors(tmp_path, """\
model:
  inputs:
    words: {shape: [5]}
  layers:
    - {type: Embedding, name: e, input_dim: 9, output_dim: 3, input: words}
    - {type: Dense, name: d, output_dim: 3, input: words}
""")
    assert errors == ["3:12: model.inputs.words: read by an Embedding (integer indices) and by other layers "
                      "(floats); give each its own input"]


def test_every_shipped_config_is_a_chain():
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        model = load_yaml(path).get("model")
        if not isinstance(model, dict) or "inputs" not in model:
            assert not is_graph_model(model), path


def test_resolved_graph_config_means_the_same_graph(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump({"model": {
        "inputs": {"src": {"shape": [5, 3]}, "tgt": {"shape": [4, 2]}},
        "layers": [
            {"type": "LSTM", "name": "enc", "output_dim": 4, "return_state": True, "input": "src"},
            {"type": "LSTM", "name": "dec", "output_dim": 4, "return_sequences": True, "input": "tgt",
             "initial_state": ["enc:1", "enc:2"]},
            {"share": "dec", "name": "dec2", "input": "tgt", "initial_state": ["enc:1", "enc:2"]},
            {"type": "Add", "inputs": ["dec", "dec2"]},
        ]}}))
    first = load_config(path)
    again = tmp_path / "resolved.yaml"
    again.write_text(yaml.safe_dump(first.resolved(), sort_keys=False))
    second = load_config(again)
    assert second.resolved() == first.resolved()
    assert [(n.name, n.owner, n.inbound, n.initial_state, n.outputs) for n in second.model.nodes] == \
        [(n.name, n.owner, n.inbound, n.initial_state, n.outputs) for n in first.model.nodes]


def test_validate_and_summary_commands_show_the_graph(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("""\
model:
  inputs:
    forward: {shape: [6, 3]}
    reverse: {shape: [6, 3]}
  layers:
    - {type: GRU, name: trunk, output_dim: 4, input: forward}
    - {share: trunk, name: trunk_rc, input: reverse}
    - {type: Merge, mode: ave, name: avg, inputs: [trunk, trunk_rc]}
""")
    run = [sys.executable, "-m", "rnncli"]
    out = subprocess.run(run + ["validate", str(path)], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "ok (2 layers, 96 parameters)" in out.stdout + out.stderr
    out = subprocess.run(run + ["summary", str(path)], capture_output=True, text=True, cwd=ROOT,
                         env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "Connected to" in text
    assert "trunk_rc (GRU)" in text and "shares trunk" in text
    assert "trunk, trunk_rc" in text and "mode=ave" in text
    assert "Inputs: forward (None, 6, 3) float32, reverse (None, 6, 3) float32" in text
