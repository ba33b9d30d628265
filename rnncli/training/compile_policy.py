"""Whether XLA compilation pays for a run: ``jit_compile: auto`` weighs the expected saving against the compile.

XLA makes each step cheaper (one fused program instead of TensorFlow's per-op dispatch inside the ``while`` loop of
every recurrent layer) but compiling costs seconds of CPU per recurrent layer before the first step. Measured on
this project's 2-core machine (CPU seconds, so that the shared machine's load does not enter):

* sunspots GRU (16 units, 10 steps, batch 16): XLA saves 0.8 ms per training step and costs about 4.5 s to
  compile the training step (0.7 s more for evaluation); the config's 300 steps for 20 epochs save 0.24 s.
* small LSTM (32 × 50 × 32 → 128): XLA saves about 20 ms per step (21 vs 40 ms): after a few hundred steps it
  pays back, and medium/large shapes (hundreds of ms per step) pay back within an epoch or two.

So the saving is modelled as a per-step dispatch term proportional to timesteps × recurrent layers plus a term
proportional to the recurrence's floating-point work, and compilation as a fixed cost per recurrent layer. The
decision only ever depends on the config and the number of steps, so the same run always makes the same choice
(a resumed run reuses the one recorded in ``run.json``, because XLA and the plain graph round differently).
"""

from __future__ import annotations

import math
from typing import Any

from rnncli.config.plan import GATES, LayerPlan, ModelPlan

DISPATCH_SAVING_S = 80e-6        # per timestep and recurrent layer, per training step (sunspots GRU: 0.8 ms / 10)
FLOP_SAVING_S = 20e-3 / 0.79e9   # per training FLOP of the recurrence (small LSTM: 20 ms on 0.79 GFLOP)
COMPILE_S = {"train": 5.0, "infer": 1.5}  # per recurrent layer: train covers the training and evaluation steps
INFER_FACTOR = 1.0 / 3.0          # a forward pass does a third of a training step's work and dispatches


def _recurrent_layers(layers: list[LayerPlan]) -> list[tuple[LayerPlan, int]]:
    """(recurrent layer, directions) for every recurrent layer, looking inside wrappers."""
    found = []
    for layer in layers:
        directions = 2 if layer.type == "Bidirectional" else 1
        core = layer.inner if layer.inner is not None else layer
        if core.type in GATES:
            found.append((core, directions))
    return found


def step_costs(plan: ModelPlan, batch_size: int) -> tuple[float, int, int]:
    """(training FLOPs of the recurrences per step, timesteps × recurrent layers, recurrent layers)."""
    flops = 0.0
    dispatch = 0
    layers = _recurrent_layers(plan.layers)
    for core, directions in layers:
        timesteps = core.input_shape[1] or 1
        features = core.input_shape[-1] or 1
        units = core.config["output_dim"]
        flops += directions * 3 * 2.0 * batch_size * timesteps * (features + units) * GATES[core.type] * units
        dispatch += directions * timesteps
    return flops, dispatch, len(layers)


def expected_saving_s(plan: ModelPlan, batch_size: int, steps: int, phase: str = "train") -> float:
    flops, dispatch, _ = step_costs(plan, batch_size)
    per_step = dispatch * DISPATCH_SAVING_S + flops * FLOP_SAVING_S
    return steps * per_step * (1.0 if phase == "train" else INFER_FACTOR)


def compile_cost_s(plan: ModelPlan, phase: str = "train") -> float:
    return COMPILE_S[phase] * max(1, step_costs(plan, 1)[2])


def worth_compiling(plan: ModelPlan, batch_size: int, steps: int, phase: str = "train") -> bool:
    """True when ``steps`` steps of ``phase`` ("train" or "infer") are expected to save more than XLA costs."""
    return expected_saving_s(plan, batch_size, steps, phase) > compile_cost_s(plan, phase)


def jit_plan(config: Any, train_samples: int, recorded: Any = None) -> dict:
    """``Engine`` arguments that settle ``jit_compile: auto`` for a run: from the steps the config plans, or, on
    resume, the choice ``recorded`` in run.json (XLA and the plain graph round differently; a resumed run must not
    switch, or it would stop being bit-identical to an uninterrupted one)."""
    training = config.training
    if training["jit_compile"] != "auto":
        return {}
    if isinstance(recorded, bool):
        return {"jit_compile": recorded}
    return {"expected_steps": math.ceil(train_samples / training["batch_size"]) * training["nb_epoch"]}


def inference_compiles(engine: Any, config: Any, samples: int, batch_size: int) -> bool:
    """XLA for one predict/evaluate call only when its batches pay for the compilation."""
    return bool(engine.predict_jit_compile) and worth_compiling(config.model, batch_size,
                                                                math.ceil(samples / batch_size), "infer")
