"""Keras 1 initializers, computed in numpy from a seeded generator (so initial weights do not depend on TF kernels).

Fans follow Keras 1 ``get_fans``: for a 2-D shape (r, c), fan_in = r and fan_out = c; otherwise both are
sqrt(prod(shape)). ``orthogonal`` has Keras 1's default gain of 1.1.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rnncli.config.args import INITIALIZER_SCALES


def _fans(shape: tuple[int, ...]) -> tuple[float, float]:
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    size = math.sqrt(float(np.prod(shape)))
    return size, size


def initialize(spec: Any, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Draw an array of ``shape`` (float32) for an initializer given as a name or ``{name, scale}``."""
    name = spec["name"] if isinstance(spec, dict) else spec
    scale = spec.get("scale") if isinstance(spec, dict) else None
    if scale is None:
        scale = INITIALIZER_SCALES.get(name)
    fan_in, fan_out = _fans(shape)
    if name == "uniform":
        value = rng.uniform(-scale, scale, shape)
    elif name == "normal":
        value = rng.normal(0.0, scale, shape)
    elif name == "glorot_uniform":
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        value = rng.uniform(-limit, limit, shape)
    elif name == "glorot_normal":
        value = rng.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), shape)
    elif name == "lecun_uniform":
        limit = math.sqrt(3.0 / fan_in)
        value = rng.uniform(-limit, limit, shape)
    elif name == "he_normal":
        value = rng.normal(0.0, math.sqrt(2.0 / fan_in), shape)
    elif name == "he_uniform":
        limit = math.sqrt(6.0 / fan_in)
        value = rng.uniform(-limit, limit, shape)
    elif name == "orthogonal":
        value = _orthogonal(shape, scale, rng)
    elif name == "identity":
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"identity initialization needs a square 2-D shape, got {shape}")
        value = scale * np.eye(shape[0])
    elif name == "zero":
        value = np.zeros(shape)
    elif name == "one":
        value = np.ones(shape)
    else:
        raise ValueError(f"unknown initializer {name!r}")
    return np.asarray(value, dtype=np.float32)


def _orthogonal(shape: tuple[int, ...], gain: float, rng: np.random.Generator) -> np.ndarray:
    """Keras 1: SVD of a standard normal (r, prod(rest)) matrix; keep the factor with that shape; times gain."""
    flat = (shape[0], int(np.prod(shape[1:])))
    draw = rng.normal(0.0, 1.0, flat)
    u, _, v = np.linalg.svd(draw, full_matrices=False)
    q = u if u.shape == flat else v
    return gain * q.reshape(shape)


def initialize_blocks(spec: Any, block_shape: tuple[int, int], blocks: int, rng: np.random.Generator) -> np.ndarray:
    """``blocks`` independent draws of ``block_shape`` concatenated on the last axis (Keras 1 per-gate layout)."""
    return np.concatenate([initialize(spec, block_shape, rng) for _ in range(blocks)], axis=-1)
