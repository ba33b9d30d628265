"""The constraint projections against Keras 3's ``keras.constraints`` on the same arrays, and the fused-kernel
question: rnncli (like Keras 2/3) constrains the fused matrices ``[D, G*u]``; with ``axis: 0`` each column lies in
one gate block, so the result equals constraining each gate's matrix on its own (Keras 1's per-gate view)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")

CASES = [
    ({"name": "maxnorm", "m": 0.7, "axis": 0}, lambda: keras.constraints.MaxNorm(0.7, axis=0)),
    ({"name": "maxnorm", "m": 1.5, "axis": 1}, lambda: keras.constraints.MaxNorm(1.5, axis=1)),
    ({"name": "maxnorm", "m": 2.0, "axis": [0, 1]}, lambda: keras.constraints.MaxNorm(2.0, axis=[0, 1])),
    ({"name": "nonneg"}, lambda: keras.constraints.NonNeg()),
    ({"name": "unitnorm", "axis": 0}, lambda: keras.constraints.UnitNorm(axis=0)),
    ({"name": "unitnorm", "axis": -1}, lambda: keras.constraints.UnitNorm(axis=-1)),
    ({"name": "min_max_norm", "min_value": 0.5, "max_value": 0.9, "rate": 0.6, "axis": 0},
     lambda: keras.constraints.MinMaxNorm(0.5, 0.9, rate=0.6, axis=0)),
    ({"name": "min_max_norm", "min_value": 0.0, "max_value": 0.3, "rate": 1.0, "axis": [0, 2]},
     lambda: keras.constraints.MinMaxNorm(0.0, 0.3, rate=1.0, axis=[0, 2])),
]


@pytest.mark.parametrize("constraint, oracle", CASES, ids=[str(c[0]) for c in CASES])
def test_projection_matches_keras3(constraint, oracle):
    from rnncli.layers.constraints import project

    rng = np.random.default_rng(0)
    shape = (3, 4, 5) if isinstance(constraint.get("axis"), list) and 2 in constraint["axis"] else (6, 8)
    w = rng.normal(size=shape).astype(np.float32)
    expected = np.asarray(oracle()(keras.ops.convert_to_tensor(w)))
    actual = project(w, constraint).numpy()
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-7)
    assert np.abs(actual - w).max() > 1e-2  # the projection changes these weights


@pytest.mark.parametrize("constraint", [c for c, _ in CASES if c.get("axis") in (0, None)],
                         ids=lambda c: c["name"])
def test_axis0_on_the_fused_kernel_equals_per_gate(constraint):
    from rnncli.layers.constraints import project

    rng = np.random.default_rng(1)
    units, gates = 3, 4
    fused = rng.normal(size=(5, gates * units)).astype(np.float32)
    per_gate = np.concatenate([project(fused[:, g * units:(g + 1) * units], constraint).numpy()
                               for g in range(gates)], axis=1)
    np.testing.assert_allclose(project(fused, constraint).numpy(), per_gate, rtol=1e-6, atol=1e-7)


def test_axis1_on_the_fused_kernel_norms_across_gates():
    """Row norms (axis 1) span every gate of the fused matrix, as Keras 2/3 compute them; per gate they differ."""
    from rnncli.layers.constraints import project

    rng = np.random.default_rng(2)
    fused = rng.normal(size=(5, 12)).astype(np.float32)
    constraint = {"name": "unitnorm", "axis": 1}
    per_gate = np.concatenate([project(fused[:, g * 3:(g + 1) * 3], constraint).numpy() for g in range(4)], axis=1)
    assert np.abs(project(fused, constraint).numpy() - per_gate).max() > 0.1


def test_constrained_variables_of_wrapped_layers(kit):
    model = kit.model([
        {"type": "Bidirectional", "layer": {"type": "LSTM", "output_dim": 3, "return_sequences": True,
                                            "U_constraint": "nonneg"}, "input_shape": [5, 2]},
        {"type": "TimeDistributed", "layer": {"type": "Dense", "output_dim": 2, "W_constraint": {"name": "MaxNorm",
                                                                                              "m": 1}}},
    ])
    bidirectional, dense = model.layers
    pairs = bidirectional.constrained_variables()
    assert [v.shape.as_list() for v, _ in pairs] == [[3, 12], [3, 12]]
    assert [c["name"] for _, c in pairs + dense.constrained_variables()] == ["nonneg", "nonneg", "maxnorm"]
