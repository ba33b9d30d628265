"""Request bodies to arrays: every bad body is a BadRequest with its status, never another exception."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnncli.serve.inputs import BadRequest, check_stream_id, parse_json, read_inputs


def read(body, shape=(None, 2), vocab=None, batched=False, max_values=10_000):
    text = body if isinstance(body, (bytes, str)) else json.dumps(body)
    data = text.encode() if isinstance(text, str) else text
    return read_inputs(parse_json(data), list(shape), vocab, batched, max_values)


def test_free_length_and_batched_shapes():
    assert read({"inputs": [[1, 2.5]] * 3}).shape == (3, 2)
    assert read({"inputs": [[[1, 2]]] * 5}, batched=True).dtype == np.float32
    with pytest.raises(BadRequest, match=r"expected \[N\]\[T\]\[2\]") as error:
        read({"inputs": [[[1, 2, 3]]]}, batched=True)
    assert error.value.status == 422


def test_embedding_indices():
    assert read({"inputs": [1, 2.0, 0]}, shape=(None,), vocab=3).dtype == np.int32
    for bad in ([3], [-1], [0.5]):
        with pytest.raises(BadRequest, match="integer indices in 0..2"):
            read({"inputs": bad}, shape=(None,), vocab=3)


def test_value_budget_is_checked_before_building_arrays():
    with pytest.raises(BadRequest, match="more than 10 values") as error:
        read({"inputs": [[1, 2]] * 6}, max_values=10)
    assert error.value.status == 413


@pytest.mark.parametrize("stream_id", ["a", "sensor-1.b_c:2", "9" * 128])
def test_good_stream_ids(stream_id):
    assert check_stream_id(stream_id) == stream_id


@pytest.mark.parametrize("stream_id", ["", "-a", "a b", "a/b", "é", "a" * 129])
def test_bad_stream_ids(stream_id):
    with pytest.raises(BadRequest):
        check_stream_id(stream_id)


json_values = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=3),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner,
                                                                                        max_size=3),
                           max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(body=st.one_of(st.binary(max_size=40), json_values.map(lambda v: json.dumps({"inputs": v}).encode())))
def test_any_body_is_an_array_or_a_bad_request(body):
    try:
        array = read(body)
    except BadRequest as error:
        assert 400 <= error.status < 500 and "\n" not in error.message
    else:
        assert array.ndim == 2 and array.shape[1] == 2 and np.all(np.isfinite(array))
