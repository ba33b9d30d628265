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


@pytest.mark.parametrize("body,status,message", [
    (b'{"inputs": [[NaN, 1]]}', 422, "NaN"),
    (b'{"inputs": [[1e400, 1]]}', 422, "not finite"),
    (b'{"inputs": [[1, 2]', 400, "malformed JSON"),
    (b'{"inputs": "\xff"}', 400, "UTF-8"),
    (b'{"inputs": [[1' + b"0" * 39 + b', 1]]}', 422, "too large for float32"),  # an integer past 64 bits
    (b'{"inputs": ' + b"[" * 100000 + b"]" * 100000 + b"}", 400, "nested too deeply"),
])
def test_bodies_orjson_refuses_get_the_json_modules_answer(body, status, message):
    with pytest.raises(BadRequest, match=message) as error:
        read(body)
    assert error.value.status == status


def test_a_utf8_byte_order_mark_is_accepted_and_values_survive_the_fast_parser():
    values = [[0.1, -2.5e-8], [3, 1e30]]
    assert read(b"\xef\xbb\xbf" + json.dumps({"inputs": values}).encode()).tolist() == \
        np.array(values, np.float32).tolist()
    assert read({"inputs": values}).tolist() == np.array(values, np.float32).tolist()


def test_outputs_read_back_as_the_same_float32_values():
    from rnncli.serve.app import encode_outputs

    y = np.random.default_rng(0).normal(size=(7, 3)).astype(np.float32) * np.float32(1e-3)
    decoded = np.array(json.loads(encode_outputs(y[2:5, 1:]))["outputs"], np.float32)  # non-contiguous view too
    assert decoded.dtype == np.float32 and np.array_equal(decoded, y[2:5, 1:])
