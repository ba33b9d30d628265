"""jit_compile: auto compiles with XLA only when the planned steps pay for the compilation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnncli.config.validate import load_config
from rnncli.training import compile_policy
from rnncli.training.compile_policy import jit_plan

ROOT = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, layer: str, batch: int = 16, jit: str = "auto"):
    path = tmp_path / "c.yaml"
    path.write_text(f"model:\n  layers:\n    - {layer}\n    - {{type: Dense, output_dim: 1}}\n"
                    f"training: {{loss: mse, batch_size: {batch}, jit_compile: '{jit}'}}\n")
    return load_config(path)


def test_the_sunspots_job_does_not_wait_for_xla():
    config = load_config(ROOT / "configs" / "sunspots_gru.yaml")
    steps = 15 * 20  # 239 samples in batches of 16, 20 epochs
    assert not compile_policy.worth_compiling(config.model, 16, steps)
    assert compile_policy.expected_saving_s(config.model, 16, steps) < 1.0
    assert not compile_policy.worth_compiling(config.model, 16, 4, "infer")  # predict of 60 rows


def test_medium_and_long_runs_compile(tmp_path: Path):
    medium = _config(tmp_path, "{type: LSTM, output_dim: 256, input_shape: [100, 64]}", batch=64)
    assert compile_policy.worth_compiling(medium.model, 64, 16 * 4)  # 4 epochs of 1024 samples
    small = _config(tmp_path, "{type: LSTM, output_dim: 128, input_shape: [50, 32]}", batch=32)
    assert not compile_policy.worth_compiling(small.model, 32, 50)
    assert compile_policy.worth_compiling(small.model, 32, 2000)


def test_wrappers_and_stacks_count_every_recurrence(tmp_path: Path):
    single = _config(tmp_path, "{type: GRU, output_dim: 8, input_shape: [20, 3]}")
    both = _config(tmp_path, "{type: Bidirectional, layer: {type: GRU, output_dim: 8}, input_shape: [20, 3]}")
    flops_single, dispatch_single, layers_single = compile_policy.step_costs(single.model, 16)
    flops_both, dispatch_both, layers_both = compile_policy.step_costs(both.model, 16)
    assert (flops_both, dispatch_both, layers_both) == (2 * flops_single, 2 * dispatch_single, 1)
    assert flops_single == 3 * 2.0 * 16 * 20 * (3 + 8) * 3 * 8


def test_a_run_keeps_its_choice_on_resume(tmp_path: Path):
    config = _config(tmp_path, "{type: GRU, output_dim: 8, input_shape: [20, 3]}")
    assert jit_plan(config, 100, None) == {"expected_steps": 7 * 10}
    # e.g. a run started by an rnncli that compiled every run records jit_compile: true in run.json
    assert jit_plan(config, 100, True) == {"jit_compile": True}
    assert jit_plan(config, 100, None) == {"expected_steps": 70}
    fixed = _config(tmp_path, "{type: GRU, output_dim: 8, input_shape: [20, 3]}", jit="true")
    assert jit_plan(fixed, 100, True) == {}


@pytest.mark.parametrize("jit,per_iteration", [(True, 3), (False, 1)])
def test_xla_inference_steps_run_several_timesteps_per_loop_iteration(regression, jit, per_iteration):
    """The engine's XLA-compiled predict step traces the regression LSTM's 6-step loop 3 steps per iteration (the
    largest divisor of 6 up to XLA_INFERENCE_ITERATION_STEPS); the plain-graph one keeps 1 (a bigger trace made
    short predicts slower)."""
    import tensorflow as tf

    from rnncli.config.validate import load_config
    from rnncli.training.loop import Engine

    engine = Engine(load_config(regression, require_training=True), jit_compile=jit)
    graph = engine.inference_step("predict").get_concrete_function(tf.TensorSpec([4, 6, 2])).graph
    bodies = [f for f in graph.as_graph_def().library.function if "body" in f.signature.name]
    assert len(bodies) == 1
    assert sum(node.op == "MatMul" for node in bodies[0].node_def) == per_iteration
