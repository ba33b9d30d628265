"""``validate`` of a graph's ``data:`` (rnncli/config/graph_data.py): chain-only keys refused at their position, and
the named arrays of each .npz checked from their headers (names, sample shapes, counts), with no TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from rnncli.config.validate import load_config
from rnncli.errors import ConfigError

N, T, D = 10, 4, 3


def _arrays(**changes) -> dict:
    arrays = {"history": np.zeros((N, T, D), np.float32), "static": np.zeros((N, 2), np.float32),
              "out": np.zeros((N, 2), np.float32), "flag": np.zeros((N, 1), np.float32)}
    arrays.update(changes)
    return {k: v for k, v in arrays.items() if v is not None}


def _write(tmp_path: Path, data: dict, arrays: dict | None = None, loss: object = "mse") -> Path:
    np.savez(tmp_path / "train.npz", **(arrays or _arrays()))
    model = {"inputs": {"history": {"shape": [T, D]}, "static": {"shape": [2]}},
             "layers": [{"type": "GRU", "name": "enc", "output_dim": 3, "input": "history"},
                        {"type": "Dense", "name": "feat", "output_dim": 2, "input": "static"},
                        {"type": "Concatenate", "name": "both", "inputs": ["enc", "feat"]},
                        {"type": "Dense", "name": "out", "output_dim": 2},
                        {"type": "Dense", "name": "flag", "output_dim": 1, "activation": "sigmoid", "input": "both"}],
             "outputs": ["out", "flag"]}
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump({"model": model, "data": {"train": "train.npz", **data},
                                    "training": {"loss": loss}}, sort_keys=False))
    return path


def _only(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert len(caught.value.diagnostics) == 1, [d.message for d in caught.value.diagnostics]
    return caught.value.diagnostics[0].message


@pytest.mark.parametrize("key, value", [("series", {"inputs": ["a"], "targets": ["a"], "window": 2}),
                                        ("pad", {"length": 5}), ("sample_weight", "w"), ("missing", "zero")])
def test_chain_only_keys_are_refused(tmp_path, key, value):
    assert _only(_write(tmp_path, {key: value})) == (
        f"data.{key} does not apply to a model with several inputs or outputs, which reads one .npz per set with an "
        f"array per input and output by name; remove it")


def test_missing_array_wrong_shape_and_count(tmp_path):
    message = _only(_write(tmp_path, {}, _arrays(flag=None)))
    assert message == ("data.train: train.npz: no array named `flag` (found: history, out, static); the model's "
                       "inputs and outputs are history, static, out, flag")
    message = _only(_write(tmp_path, {}, _arrays(static=np.zeros((N, 3), np.float32))))
    assert message == "data.train: train.npz: input `static` has samples of shape (3), the model expects (2)"
    message = _only(_write(tmp_path, {}, _arrays(out=np.zeros((N, 2, 1), np.float32))))
    assert message == "data.train: train.npz: target `out` has samples of shape (2, 1), the model outputs (2)"
    message = _only(_write(tmp_path, {}, _arrays(flag=np.zeros((N + 1, 1), np.float32))))
    assert message == "data.train: train.npz: target `flag` has 11 samples, `history` has 10"


def test_a_csv_is_refused_with_the_npz_layout(tmp_path):
    (tmp_path / "train.csv").write_text("1,2\n")
    path = _write(tmp_path, {})
    path.write_text(path.read_text().replace("train: train.npz", "train: train.csv"))
    assert _only(path) == ("data.train: train.csv: a model with several inputs or outputs reads an .npz with one "
                           "array per input and output, by name (np.savez(path, history=..., static=..., out=..., "
                           "flag=...))")


def test_good_data_validates_and_validate_starts_no_tensorflow(tmp_path):
    path = _write(tmp_path, {"validation_split": 0.2})
    assert load_config(path).data["validation_split"] == 0.2
    code = ("import sys; from rnncli.config.validate import load_config; load_config(sys.argv[1]); "
            "assert 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, cwd=Path(__file__).resolve().parents[2])
