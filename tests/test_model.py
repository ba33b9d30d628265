"""``rnncli.model``: the layer tree (``children``/``walk``), variable paths, stateful cores, masks flowing through a stack
(weights files: ``tests/layers/test_weights_loading.py``)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from rnncli.layers.recurrent import Recurrent

B, T, D, U = 3, 5, 4, 5


def _wrapped(kit, stateful: bool = False):
    first = {"type": "Bidirectional", "layer": {"type": "GRU", "output_dim": U, "return_sequences": True,
                                                "stateful": stateful}}
    first |= {"batch_input_shape": [B, T, D]} if stateful else {"input_shape": [T, D]}
    return kit.model([first,
                      {"type": "TimeDistributed", "layer": {"type": "Dense", "output_dim": 2}},
                      {"type": "Flatten"},
                      {"type": "Dense", "output_dim": 1, "bias": False}])


def test_trainable_paths_name_roles_through_wrappers(kit):
    """These paths key the optimizer slots in every checkpoint: they must never change."""
    model = _wrapped(kit)
    names = [layer.layer_name for layer in model.layers]
    bidi, td, _, dense = names
    expected = [f"{bidi}__forward__{w}" for w in ("kernel", "recurrent_kernel", "bias")]
    expected += [f"{bidi}__backward__{w}" for w in ("kernel", "recurrent_kernel", "bias")]
    expected += [f"{td}__inner__kernel", f"{td}__inner__bias", f"{dense}__kernel"]
    paths = model.trainable_by_path()
    assert list(paths) == expected
    assert {v.ref() for v in paths.values()} == {v.ref() for v in model.trainable_variables}


def test_children_and_walk(kit):
    model = _wrapped(kit)
    bidi, td, flatten, dense = model.layers
    assert list(bidi.children()) == ["forward", "backward"] and list(td.children()) == ["inner"]
    assert flatten.children() == {} and dense.children() == {}
    walked = bidi.walk()
    assert walked[0] is bidi and walked[1:] == list(bidi.children().values())
    assert all(isinstance(core, Recurrent) for core in walked[1:])
    # the Keras 1 weight list of a wrapper is its children's, in order
    assert bidi.weight_variables() == walked[1].weight_variables() + walked[2].weight_variables()
    assert td.weight_variables() == td.children()["inner"].weight_variables()


def test_stateful_cores_are_found_inside_wrappers(kit):
    assert _wrapped(kit).stateful_cores() == []
    model = _wrapped(kit, stateful=True)
    bidi = model.layers[0]
    assert model.stateful_cores() == [bidi.children()["forward"], bidi.children()["backward"]]
    model(tf.zeros([B, T, D]))
    assert [int(core.steps_since_reset) for core in model.stateful_cores()] == [T, T]


# ---------------------------------------------------------------------------------------------------------------
# Masks flowing through a stack
# ---------------------------------------------------------------------------------------------------------------


def test_mask_flows_embedding_lstm_time_distributed_like_keras3(kit):
    keras = pytest.importorskip("keras")
    vocab, embed = 12, 4
    model = kit.model([
        {"type": "Embedding", "input_dim": vocab, "output_dim": embed, "mask_zero": True, "input_length": T},
        {"type": "LSTM", "output_dim": U, "return_sequences": True, "consume_less": "cpu"},
        {"type": "TimeDistributed", "layer": {"type": "Dense", "output_dim": 3}},
        {"type": "Activation", "activation": "softmax"},
    ])
    ids = np.array([[0, 0, 3, 4, 5], [1, 2, 0, 7, 0], [6, 7, 8, 9, 11]])
    y, mask = model(tf.constant(ids))
    np.testing.assert_array_equal(mask.numpy(), ids != 0)

    reference = keras.Sequential([
        keras.Input((T,), dtype="int32"),
        keras.layers.Embedding(vocab, embed, mask_zero=True),
        keras.layers.LSTM(U, return_sequences=True, use_cudnn=False, recurrent_activation=kit.keras_hard_sigmoid()),
        keras.layers.TimeDistributed(keras.layers.Dense(3)),
        keras.layers.Activation("softmax"),
    ])
    for ours, theirs in zip(model.layers[:3], reference.layers[:3]):
        theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(y.numpy(), np.asarray(reference(ids)), rtol=1e-5, atol=1e-6)
    # carry-forward: a masked step repeats the previous output, zeros before the first valid step
    hidden, _ = model.layers[1](*model.layers[0](tf.constant(ids)))
    np.testing.assert_array_equal(hidden.numpy()[0, :2], 0.0)
    np.testing.assert_array_equal(hidden.numpy()[1, 2], hidden.numpy()[1, 1])
