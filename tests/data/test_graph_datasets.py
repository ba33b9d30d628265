"""The graph examples' named-array datasets (datasets/generate_graphs.py): reproducible, laid out as the configs read
them, and the baselines datasets/README.md states (no TensorFlow)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[2] / "datasets"


def _generator():
    spec = importlib.util.spec_from_file_location("rnncli_generate_graphs", DATA / "generate_graphs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _generator()


@pytest.mark.parametrize("name", sorted(gen.FILES))
def test_shipped_file_is_what_the_generator_makes(name):
    made = gen.FILES[name]()
    with np.load(DATA / f"{name}.npz", allow_pickle=False) as shipped:
        assert sorted(shipped.files) == sorted(made)
        for key, value in made.items():
            assert shipped[key].dtype == value.dtype and np.array_equal(shipped[key], value), (name, key)


def test_store_sales_layout_and_baselines():
    val = gen.FILES["store_sales_val"]()
    assert {k: v.shape for k, v in val.items()} == {"history": (1000, 28, 2), "static": (1000, 3), "sales": (1000, 1)}
    promo = val["static"][:, 1]
    assert set(np.unique(promo)) == {0.0, 1.0} and np.all(val["static"][promo == 0, 2] == 0)
    baselines = gen.baselines(val)
    assert baselines["persistence_mse"] == pytest.approx(0.697, abs=5e-4)
    assert baselines["seasonal_naive_mse"] == pytest.approx(0.539, abs=5e-4)
    # the promotion is in the target: promotion days sell more than others
    assert val["sales"][promo == 1].mean() > 1.5 * val["sales"][promo == 0].mean()


def test_reverse_targets_are_the_reversed_source_and_the_shifted_decoder_input():
    data = gen.FILES["reverse_val"]()
    source, decoder_in, answer = (data[k].argmax(-1) for k in ("source", "decoder_in", "reversed"))
    np.testing.assert_array_equal(answer, source[:, ::-1])
    assert np.all(decoder_in[:, 0] == gen.REVERSE_DIGITS)
    np.testing.assert_array_equal(decoder_in[:, 1:], answer[:, :-1])
    assert all(data[k].sum(-1).min() == 1 for k in data)  # one-hot
