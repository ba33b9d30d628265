"""Constraints and activity regularizers as config values: rnncli configs, Keras 1 documents (``W_constraint``,
``activity_regularizer`` with their ``name``), refusals located at FILE:LINE:COL (exit 2)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnncli.cli.main import main
from rnncli.config.validate import load_config
from rnncli.errors import ConfigError


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [str(d) for d in info.value.diagnostics]


def test_constraints_in_an_rnncli_config_are_resolved(tmp_path):
    config = load_config(write(tmp_path, """\
        model:
          layers:
            - {type: LSTM, output_dim: 4, input_shape: [5, 3], W_constraint: maxnorm,
               U_constraint: {name: UnitNorm, axis: 1}, b_constraint: non_neg,
               activity_regularizer: {l2: 0.01}}
            - {type: Dense, output_dim: 2, W_constraint: {name: MaxNorm, max_value: 3},
               b_constraint: {name: min_max_norm, low: 0.1, high: 0.2}}
        """))
    lstm, dense = (layer.config for layer in config.model.layers)
    assert lstm["W_constraint"] == {"name": "maxnorm", "m": 2.0, "axis": 0}
    assert lstm["U_constraint"] == {"name": "unitnorm", "axis": 1}
    assert lstm["b_constraint"] == {"name": "nonneg"}
    assert lstm["activity_regularizer"] == {"l1": 0.0, "l2": 0.01, "batch_mean": False}
    assert dense["W_constraint"] == {"name": "maxnorm", "m": 3.0, "axis": 0}
    assert dense["b_constraint"] == {"name": "min_max_norm", "min_value": 0.1, "max_value": 0.2, "rate": 1.0,
                                     "axis": 0}
    assert dense["activity_regularizer"] is None


@pytest.mark.parametrize("value, message", [
    ("{name: maxnrom}", "c.yaml:4:57: error: model.layers[0].W_constraint: unknown constraint 'maxnrom'"),
    ("sideways", "c.yaml:4:50: error: model.layers[0].W_constraint: unknown constraint 'sideways'"),
    ("{name: maxnorm, m: -1}", "model.layers[0].W_constraint.m must be a number >= 0, got -1"),
    ("{name: nonneg, axis: 0}", "constraint `nonneg` has no argument `axis`"),
    ("{name: unitnorm, axis: 2}", "model.layers[0].W_constraint: axis 2 is out of range for a weight of rank 2"),
    ("{name: min_max_norm, min_value: 2, max_value: 1}", "min_value 2.0 is above max_value 1.0"),
])
def test_bad_constraints_are_located(tmp_path, value, message):
    path = write(tmp_path, f"""\
        model:
          layers:
            - {{type: Dense, output_dim: 2, input_shape: [3]}}
            - {{type: Dense, output_dim: 2, W_constraint: {value}}}
        """.replace("layers[0]", "layers[1]"))
    found = errors_of(path)
    expected = message.replace("layers[0]", "layers[1]")
    assert len(found) == 1 and (expected in found[0]), found


def test_the_gru_reset_after_bias_has_rank_2(tmp_path):
    text = """\
        model:
          layers:
            - {{type: GRU, output_dim: 3, input_shape: [5, 2], reset_after: {flag}, b_constraint: {{name: maxnorm, axis: 1}}}}
        """
    assert load_config(write(tmp_path, text.format(flag="true"))).model.layers[0].config["b_constraint"]["axis"] == 1
    assert "axis 1 is out of range for a weight of rank 1" in errors_of(write(tmp_path, text.format(flag="false")))[0]


def test_activity_regularizer_inside_a_wrapper_is_refused_at_its_line(tmp_path):
    path = write(tmp_path, """\
        model:
          layers:
            - type: Bidirectional
              input_shape: [5, 2]
              layer: {type: LSTM, output_dim: 3, activity_regularizer: {l1: 0.1}}
        """)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert "c.yaml:5:" in result.output and "not supported on a layer inside TimeDistributed or Bidirectional" \
        in result.output and "Traceback" not in result.output


def keras1_dense(**config):
    return {"class_name": "Dense", "config": {"name": "dense_1", "output_dim": 2, "input_dim": 3, "init": "glorot_uniform",
                                              "activation": "linear", "W_regularizer": None, "b_regularizer": None,
                                              "activity_regularizer": None, "W_constraint": None, "b_constraint": None,
                                              "bias": True, **config}}


def keras1_document(tmp_path, *layers):
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"class_name": "Sequential", "keras_version": "1.2.2", "config": list(layers)}))
    return path


def test_keras1_constraints_and_activity_regularizers_are_read(tmp_path):
    dense = keras1_dense(W_constraint={"name": "MaxNorm", "m": 2, "axis": 0}, b_constraint={"name": "NonNeg"},
                         activity_regularizer={"name": "L1L2Regularizer", "l1": 0.0, "l2": 0.01})
    older = keras1_dense(name="dense_2", input_dim=None, W_constraint={"name": "UnitNorm", "axis": 0},
                         activity_regularizer={"name": "ActivityRegularizer", "l1": 0.1, "l2": 0.0})
    first, second = (layer.config for layer in load_config(keras1_document(tmp_path, dense, older)).model.layers)
    assert first["W_constraint"] == {"name": "maxnorm", "m": 2.0, "axis": 0}
    assert first["b_constraint"] == {"name": "nonneg"}
    # Keras 1.2's L1L2Regularizer sums over the batch; 1.0-1.1's ActivityRegularizer averaged over it
    assert first["activity_regularizer"] == {"l1": 0.0, "l2": 0.01, "batch_mean": False}
    assert second["W_constraint"] == {"name": "unitnorm", "axis": 0}
    assert second["activity_regularizer"] == {"l1": 0.1, "l2": 0.0, "batch_mean": True}


def test_keras1_constraints_rnncli_cannot_apply_are_refused(tmp_path):
    highway = {"class_name": "Highway", "config": {"name": "highway_1", "input_dim": 3, "W_constraint":
                                                   {"name": "MaxNorm", "m": 2, "axis": 0}}}
    found = errors_of(keras1_document(tmp_path, highway))
    assert len(found) == 1 and "`W_constraint` is not supported by rnncli on Highway (only null)" in found[0]
    conv = {"class_name": "Convolution1D", "config": {"name": "conv_1", "nb_filter": 2, "filter_length": 2,
                                                      "input_dim": 3, "input_length": 5,
                                                      "W_constraint": {"name": "MaxNorm", "m": 2, "axis": 0}}}
    found = errors_of(keras1_document(tmp_path, conv))
    assert len(found) == 1 and "only nonneg or null is imported" in found[0], found
    conv["config"]["W_constraint"] = {"name": "NonNeg"}
    assert load_config(keras1_document(tmp_path, conv)).model.layers[0].config["W_constraint"] == {"name": "nonneg"}
