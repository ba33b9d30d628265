"""Reshape, Permute, Convolution1D, pooling and InputLayer: Keras 1 arguments, shapes from the plan, values against
Keras 3 layers and numpy, Keras 1 weight layouts, and Keras 1's refusal of masks."""

from __future__ import annotations

import numpy as np
import pytest

from rnncli.errors import ConfigError

T, D = 7, 4


def x_in(shape=(3, T, D), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def run(kit, layers: list[dict], x: np.ndarray):
    model = kit.model(layers)
    y, mask = model(x)
    assert tuple(y.shape[1:]) == tuple(model.plan.output_shape[1:])  # the plan's shapes are the real ones
    return model, y.numpy(), mask


@pytest.mark.parametrize("border_mode", ["valid", "same"])
@pytest.mark.parametrize("stride", [1, 2])
def test_convolution1d_matches_keras3(kit, border_mode: str, stride: int) -> None:
    import keras

    x = x_in()
    model, y, mask = run(kit, [{"type": "Convolution1D", "nb_filter": 5, "filter_length": 3, "input_shape": [T, D],
                                "border_mode": border_mode, "subsample_length": stride, "activation": "relu"}], x)
    assert mask is None and model.plan.params == 3 * D * 5 + 5
    oracle = keras.layers.Conv1D(5, 3, strides=stride, padding=border_mode, activation="relu")
    oracle.build((None, T, D))
    layer = model.layers[0]
    oracle.set_weights([layer.kernel.numpy(), layer.bias.numpy()])
    np.testing.assert_allclose(y, oracle(x).numpy(), atol=1e-5)


def test_convolution1d_takes_keras1_kernel_layouts(kit) -> None:
    rng = np.random.default_rng(1)
    kernel = rng.normal(size=(3, D, 2)).astype(np.float32)
    bias = rng.normal(size=2).astype(np.float32)
    x = x_in()
    outputs = []
    for layout in (kernel[:, None], np.transpose(kernel, (2, 1, 0))[..., None], kernel):  # 1.1+, 1.0.x, rnncli
        name = kit.save_weights([layout, bias])
        _, y, _ = run(kit, [{"type": "Convolution1D", "nb_filter": 2, "filter_length": 3, "input_dim": D,
                             "input_length": T, "weights": str(kit.directory / name)}], x)
        outputs.append(y)
    reference = np.stack([np.einsum("blf,lfo->bo", x[:, t:t + 3], kernel) + bias for t in range(T - 2)], axis=1)
    for y in outputs:
        np.testing.assert_allclose(y, reference, atol=1e-5)


@pytest.mark.parametrize("kind", ["MaxPooling1D", "AveragePooling1D"])
@pytest.mark.parametrize("pool, stride, border_mode", [(2, None, "valid"), (3, 2, "valid"), (3, 2, "same"),
                                                       (2, 1, "same")])
def test_pooling_matches_keras3(kit, kind: str, pool: int, stride, border_mode: str) -> None:
    import keras

    x = x_in()
    _, y, _ = run(kit, [{"type": kind, "pool_length": pool, "stride": stride, "border_mode": border_mode,
                         "input_shape": [T, D]}], x)
    oracle = getattr(keras.layers, kind)(pool, strides=stride, padding=border_mode)
    np.testing.assert_allclose(y, oracle(x).numpy(), atol=1e-6)


def test_global_pooling_reshape_permute(kit) -> None:
    x = x_in()
    np.testing.assert_allclose(run(kit, [{"type": "GlobalMaxPooling1D", "input_shape": [T, D]}], x)[1], x.max(1))
    np.testing.assert_allclose(run(kit, [{"type": "GlobalAveragePooling1D", "input_shape": [T, D]}], x)[1],
                               x.mean(1), atol=1e-6)
    np.testing.assert_array_equal(run(kit, [{"type": "Permute", "dims": [2, 1], "input_shape": [T, D]}], x)[1],
                                  np.transpose(x, (0, 2, 1)))
    np.testing.assert_array_equal(run(kit, [{"type": "Reshape", "target_shape": [-1, 2], "input_shape": [T, D]}],
                                      x)[1], x.reshape(3, -1, 2))


def test_input_layer_leads_an_embedding_and_a_recurrent_stack(kit) -> None:
    ids = np.array([[1, 2, 0, 0], [3, 1, 2, 1]], np.int32)
    model = kit.model([{"type": "InputLayer", "batch_input_shape": [None, 4], "input_dtype": "int32"},
                       {"type": "Embedding", "input_dim": 5, "output_dim": 3, "mask_zero": True},
                       {"type": "LSTM", "output_dim": 2}])
    assert model.plan.input_dtype == "int32"
    y, _ = model(ids)
    assert y.shape == (2, 2)


@pytest.mark.parametrize("kind, args", [("Convolution1D", {"nb_filter": 2, "filter_length": 2}),
                                        ("GlobalAveragePooling1D", {}), ("Reshape", {"target_shape": [-1]}),
                                        ("MaxPooling1D", {})])
def test_masks_are_refused_as_keras1_refused_them(kit, kind: str, args: dict) -> None:
    with pytest.raises(ConfigError, match=f"\\({kind}\\) does not support masking"):
        kit.model([{"type": "Embedding", "input_dim": 5, "output_dim": 3, "mask_zero": True, "input_length": 6},
                   {"type": kind, **args}])


@pytest.mark.parametrize("layer, message", [
    ({"type": "Reshape", "target_shape": [5, 5]}, "holds 25 values per sample, the input (None, 7, 4) holds 28"),
    ({"type": "Permute", "dims": [1, 1]}, "`dims` must be a permutation of [1, 2]"),
    ({"type": "Convolution1D", "nb_filter": 2, "filter_length": 9}, "fewer than `filter_length: 9`"),
    ({"type": "InputLayer", "sparse": True}, "sparse inputs are not supported"),
])
def test_shape_errors_name_the_argument(kit, layer: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        kit.model([dict(layer, input_shape=[T, D])])
    assert message in str(info.value)


@pytest.mark.parametrize("kind, pool", [("MaxPooling1D", "max_pool1d"), ("AveragePooling1D", "avg_pool1d")])
@pytest.mark.parametrize("border_mode", ["valid", "same"])
def test_pooling_gradients_compile_with_xla_and_match_tensorflow(kit, kind: str, pool: str, border_mode: str) -> None:
    """rnncli trains with XLA and op determinism, where TensorFlow's MaxPool gradient is refused: the pooling is
    written so that it compiles, and its gradient equals TensorFlow's pooling gradient."""
    import tensorflow as tf

    x = tf.constant(x_in())
    model = kit.model([{"type": kind, "pool_length": 3, "stride": 2, "border_mode": border_mode,
                        "input_shape": [T, D]}])
    padding = "VALID" if border_mode == "valid" else "SAME"
    shape = getattr(tf.nn, pool)(x, 3, 2, padding).shape
    weights = tf.constant(np.random.default_rng(4).normal(size=shape).astype(np.float32))

    @tf.function(jit_compile=True)
    def ours(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            loss = tf.reduce_sum(model(inputs)[0] * weights)
        return tape.gradient(loss, inputs)

    with tf.GradientTape() as tape:
        tape.watch(x)
        reference = getattr(tf.nn, pool)(x, 3, 2, padding)
        loss = tf.reduce_sum(reference * weights)
    np.testing.assert_allclose(ours(x).numpy(), tape.gradient(loss, x).numpy(), atol=1e-6)
