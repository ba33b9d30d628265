"""The 38 keras-js cases: outputs Keras 1 recorded, reproduced through the import path to atol 1e-5.

Each case (one layer on an ``Input``) becomes what a Keras 1 user has on disk: a functional ``Model`` document
(``to_json()``, InputLayer + the layer) and a ``save_weights()`` .h5 with TensorFlow-backend names. The per-gate
weights load into the layer as recorded; the same numbers fused into the ``gpu`` layout (fused here independently
of rnncli) load into each ``consume_less`` mode. Stateful cases predict twice without a reset, as recorded.
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(os.environ.get("RNNCLI_KERAS1_FIXTURES")
                or Path(__file__).resolve().parents[2] / ".." / "shared" / "keras1-fixtures")
CASES = json.loads((FIXTURES / "kerasjs_keras1_layer_cases.json").read_text())
RECURRENT = ("SimpleRNN", "GRU", "LSTM")


def _call(code: str) -> ast.Call:
    node = ast.parse(code.split("=", 1)[1].strip()).body[0].value
    while isinstance(node.func, ast.Call):  # `Bidirectional(...)(layer_0)`
        node = node.func
    return node


def _kwargs(call: ast.Call) -> dict:
    return {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg not in ("input_length",)}


def _layer_entry(call: ast.Call, case: dict, name: str, consume_less: str) -> dict:
    kind = call.func.id
    if kind in ("Bidirectional", "TimeDistributed"):
        inner = _layer_entry(call.args[0], case, f"{name}_inner", consume_less)
        return {"class_name": kind, "config": {"name": name, "layer": inner, **_kwargs(call)}}
    config = {"name": name, **_kwargs(call)}
    if kind == "Embedding":
        config.update(input_dim=case["weights"][0]["shape"][0], output_dim=case["weights"][0]["shape"][1],
                      input_length=case["input"]["shape"][0])
    else:
        config["output_dim"] = ast.literal_eval(call.args[0])
    if kind in RECURRENT:
        config["consume_less"] = consume_less
    return {"class_name": kind, "config": config}


def _inner_kind(entry: dict) -> str:
    return entry["config"]["layer"]["class_name"] if "layer" in entry["config"] else entry["class_name"]


def model_document(case: dict, consume_less: str) -> dict:
    code = [line for line in case["keras1_code"] if not line.startswith("layer_0")][0]
    entry = _layer_entry(_call(code), case, "layer_1", consume_less)
    stateful = any("batch_shape" in line for line in case["keras1_code"])
    shape = ([1] if stateful else [None]) + case["input"]["shape"]
    dtype = "int32" if entry["class_name"] == "Embedding" else "float32"
    layers = [{"class_name": "InputLayer", "name": "input_1", "inbound_nodes": [],
               "config": {"batch_input_shape": shape, "input_dtype": dtype, "sparse": False, "name": "input_1"}},
              dict(entry, name="layer_1", inbound_nodes=[[["input_1", 0, 0]]])]
    return {"class_name": "Model", "keras_version": "1.2.2",
            "config": {"name": "model_1", "layers": layers, "input_layers": [["input_1", 0, 0]],
                       "output_layers": [["layer_1", 0, 0]]}}


def case_weights(case: dict, fused: bool, kind: str) -> list[tuple[str, np.ndarray]]:
    arrays = [np.asarray(w["data"], np.float32).reshape(w["shape"]) for w in case["weights"]]
    names = list(case["weight_names"])
    if fused and kind in ("GRU", "LSTM"):
        halves = [arrays] if len(arrays) in (9, 12) else [arrays[:len(arrays) // 2], arrays[len(arrays) // 2:]]
        from_kit = []
        for half in halves:
            order = [0, 2, 1, 3] if kind == "LSTM" else [0, 1, 2]
            from_kit += [np.concatenate([half[3 * g + part] for g in order], axis=-1) for part in range(3)]
        arrays, names = from_kit, ["W", "U", "b"] * len(halves)
    prefixes = ["forward_", "backward_"] if len(arrays) > 3 and len(names) != len(set(names)) else [""]
    per = len(arrays) // len(prefixes)
    return [(f"{prefixes[i // per]}layer_1_{n}:0", a) for i, (n, a) in enumerate(zip(names, arrays))]


def run_case(tmp_path: Path, k1, case: dict, mode: str, fused: bool) -> np.ndarray:
    from rnncli.commands.keras_import import build_imported_model

    document = model_document(case, mode)
    kind = _inner_kind(document["config"]["layers"][1])
    arch = tmp_path / f"model_{mode}_{fused}.json"
    arch.write_text(json.dumps(document))
    weights = k1.write_weights_file(tmp_path / f"weights_{mode}_{fused}.h5",
                                    [("input_1", []), ("layer_1", case_weights(case, fused, kind))])
    config, model = build_imported_model(arch, weights)
    x = np.asarray(case["input"]["data"], np.float32).reshape(case["input"]["shape"])[None]
    if config.model.input_dtype == "int32":
        x = x.astype(np.int32)
    for _ in range(case["predict_calls"]):
        y, _ = model(x)
    return y.numpy()[0]


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_case_reproduces_keras1_output(tmp_path: Path, k1, case_id: str) -> None:
    case = CASES[case_id]
    expected = np.asarray(case["expected"]["data"], np.float32).reshape(case["expected"]["shape"])
    got = run_case(tmp_path, k1, case, "cpu", fused=False)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


GATED = sorted(k for k, c in CASES.items() if any(g in " ".join(c["keras1_code"]) for g in ("GRU(", "LSTM(")))


@pytest.mark.parametrize("case_id", GATED)
def test_fused_gpu_layout_in_every_mode(tmp_path: Path, k1, case_id: str) -> None:
    case = CASES[case_id]
    expected = np.asarray(case["expected"]["data"], np.float32).reshape(case["expected"]["shape"])
    for mode in ("cpu", "mem", "gpu"):
        got = run_case(tmp_path, k1, case, mode, fused=True)
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0, err_msg=f"consume_less={mode}")


def test_all_38_cases_are_covered() -> None:
    assert len(CASES) == 38
    assert sum(c["predict_calls"] == 2 for c in CASES.values()) >= 12
