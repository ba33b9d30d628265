"""Optimizers against float64 numpy references written from the Keras 1.2.2 formulas."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from rnncli.training.optimizers import Optimizer, make_optimizer
from rnncli.config.training import resolve_optimizer
from rnncli.config.training_specs import OPTIMIZERS

# Keys with `/` and `.` exercise sanitising; two (4, 4) variables catch swapped slots.
SHAPES = {"lstm_1__kernel": (3, 8), "lstm_1__bias": (8,), "dense_1/W": (4, 4), "rec.U": (4, 4), "scalar": ()}
STEPS = 20

KERAS_1_2_2_DEFAULTS = {
    "sgd": {"lr": 0.01, "momentum": 0.0, "decay": 0.0, "nesterov": False},
    "rmsprop": {"lr": 0.001, "rho": 0.9, "epsilon": 1e-8, "decay": 0.0},
    "adagrad": {"lr": 0.01, "epsilon": 1e-8, "decay": 0.0},
    "adadelta": {"lr": 1.0, "rho": 0.95, "epsilon": 1e-8, "decay": 0.0},
    "adam": {"lr": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8, "decay": 0.0},
    "adamax": {"lr": 0.002, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8, "decay": 0.0},
    "nadam": {"lr": 0.002, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8, "schedule_decay": 0.004},
}

# Large epsilons in the second case of each adaptive optimizer make its placement (Keras 1 adds it outside the sqrt)
# visible at float32 precision.
CASES = [
    ("sgd", {}),
    ("sgd", {"lr": 0.1, "momentum": 0.9}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("sgd", {"lr": 0.1, "momentum": 0.5, "decay": 0.05}),
    ("sgd", {"lr": 0.1, "momentum": 0.5, "clipnorm": 3.0}),
    ("sgd", {"lr": 0.1, "clipvalue": 0.3}),
    ("rmsprop", {"lr": 0.01}),
    ("rmsprop", {"lr": 0.01, "decay": 0.1, "epsilon": 0.1}),
    ("adagrad", {"lr": 0.1}),
    ("adagrad", {"lr": 0.1, "decay": 0.1, "epsilon": 0.1}),
    ("adadelta", {}),
    ("adadelta", {"decay": 0.1, "rho": 0.9, "epsilon": 1e-3}),
    ("adam", {"lr": 0.01}),
    ("adam", {"lr": 0.01, "decay": 0.1, "epsilon": 0.1, "clipnorm": 3.0, "clipvalue": 0.4}),
    ("adamax", {"lr": 0.01}),
    ("adamax", {"lr": 0.01, "decay": 0.1, "epsilon": 0.1}),
    ("nadam", {"lr": 0.01}),
    ("nadam", {"lr": 0.01, "schedule_decay": 0.04, "epsilon": 0.1, "clipnorm": 3.0}),
]
CASE_IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in cfg.items()) or 'defaults'}" for name, cfg in CASES]


def _initial_params(seed: int = 0) -> dict[str, np.ndarray]:
    # Magnitudes in [0.5, 1.5] so a relative tolerance on the parameters is meaningful.
    rng = np.random.default_rng(seed)
    return {
        key: (rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)).astype(np.float32)
        for key, shape in SHAPES.items()
    }


def _gradients(seed: int = 1) -> list[dict[str, np.ndarray]]:
    # Scales vary per step so that clipnorm=3 clips some steps and not others.
    rng = np.random.default_rng(seed)
    steps = []
    for _ in range(STEPS):
        scale = rng.uniform(0.1, 1.0)
        steps.append({key: (scale * rng.normal(size=shape)).astype(np.float32) for key, shape in SHAPES.items()})
    return steps


GRADS = _gradients()


# -- float64 numpy reference, transcribed from Keras 1.2.2 keras/optimizers.py --------------------------------------


def keras1_reference(name: str, cfg: dict, params: dict[str, np.ndarray], grads_seq: list[dict[str, np.ndarray]]):
    """Returns (params, slots) after applying ``grads_seq``; slots named as in rnncli."""
    c = resolve_optimizer({"name": name, **cfg})
    p = {k: v.astype(np.float64) for k, v in params.items()}
    zeros = lambda: {k: np.zeros_like(v) for k, v in p.items()}  # noqa: E731
    slot_names = {
        "sgd": ("moments",), "rmsprop": ("accumulators",), "adagrad": ("accumulators",),
        "adadelta": ("accumulators", "delta_accumulators"), "adam": ("m", "v"), "adamax": ("m", "u"),
        "nadam": ("m", "v"),
    }[name]
    s = {slot: zeros() for slot in slot_names}
    m_schedule = 1.0
    for iterations, grads in enumerate(grads_seq):
        g = {k: v.astype(np.float64) for k, v in grads.items()}
        if c["clipnorm"] is not None and c["clipnorm"] > 0:
            norm = np.sqrt(sum(np.sum(np.square(v)) for v in g.values()))
            if norm >= c["clipnorm"]:
                g = {k: v * c["clipnorm"] / norm for k, v in g.items()}
        if c["clipvalue"] is not None and c["clipvalue"] > 0:
            g = {k: np.clip(v, -c["clipvalue"], c["clipvalue"]) for k, v in g.items()}
        lr = c["lr"]
        if c.get("decay", 0.0) > 0:
            lr = lr * (1.0 / (1.0 + c["decay"] * iterations))
        t = iterations + 1
        if name == "nadam":
            b1, b2 = c["beta_1"], c["beta_2"]
            momentum_cache_t = b1 * (1.0 - 0.5 * 0.96 ** (t * c["schedule_decay"]))
            momentum_cache_t_1 = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * c["schedule_decay"]))
            m_schedule_new = m_schedule * momentum_cache_t
            m_schedule_next = m_schedule * momentum_cache_t * momentum_cache_t_1
            m_schedule = m_schedule_new
        for k in p:
            gk = g[k]
            if name == "sgd":
                v = c["momentum"] * s["moments"][k] - lr * gk
                s["moments"][k] = v
                p[k] = p[k] + c["momentum"] * v - lr * gk if c["nesterov"] else p[k] + v
            elif name == "rmsprop":
                a = c["rho"] * s["accumulators"][k] + (1.0 - c["rho"]) * gk**2
                s["accumulators"][k] = a
                p[k] = p[k] - lr * gk / (np.sqrt(a) + c["epsilon"])
            elif name == "adagrad":
                a = s["accumulators"][k] + gk**2
                s["accumulators"][k] = a
                p[k] = p[k] - lr * gk / (np.sqrt(a) + c["epsilon"])
            elif name == "adadelta":
                a = c["rho"] * s["accumulators"][k] + (1.0 - c["rho"]) * gk**2
                s["accumulators"][k] = a
                d_a = s["delta_accumulators"][k]
                update = gk * np.sqrt(d_a + c["epsilon"]) / np.sqrt(a + c["epsilon"])
                p[k] = p[k] - lr * update
                s["delta_accumulators"][k] = c["rho"] * d_a + (1.0 - c["rho"]) * update**2
            elif name == "adam":
                lr_t = lr * np.sqrt(1.0 - c["beta_2"] ** t) / (1.0 - c["beta_1"] ** t)
                m = c["beta_1"] * s["m"][k] + (1.0 - c["beta_1"]) * gk
                v = c["beta_2"] * s["v"][k] + (1.0 - c["beta_2"]) * gk**2
                s["m"][k], s["v"][k] = m, v
                p[k] = p[k] - lr_t * m / (np.sqrt(v) + c["epsilon"])
            elif name == "adamax":
                lr_t = lr / (1.0 - c["beta_1"] ** t)
                m = c["beta_1"] * s["m"][k] + (1.0 - c["beta_1"]) * gk
                u = np.maximum(c["beta_2"] * s["u"][k], np.abs(gk))
                s["m"][k], s["u"][k] = m, u
                p[k] = p[k] - lr_t * m / (u + c["epsilon"])
            elif name == "nadam":
                g_prime = gk / (1.0 - m_schedule_new)
                m = b1 * s["m"][k] + (1.0 - b1) * gk
                m_prime = m / (1.0 - m_schedule_next)
                v = b2 * s["v"][k] + (1.0 - b2) * gk**2
                v_prime = v / (1.0 - b2**t)
                m_bar = (1.0 - momentum_cache_t) * g_prime + momentum_cache_t_1 * m_prime
                s["m"][k], s["v"][k] = m, v
                p[k] = p[k] - lr * m_bar / (np.sqrt(v_prime) + c["epsilon"])
    return p, s


# -- helpers ---------------------------------------------------------------------------------------------------------


def _variables(params: dict[str, np.ndarray]) -> dict[str, tf.Variable]:
    return {key: tf.Variable(value, name=key.replace("/", "_")) for key, value in params.items()}


def _run(step, grads_seq, order) -> None:
    for grads in grads_seq:
        step({key: tf.constant(grads[key]) for key in order})


def _slot_values(opt: Optimizer) -> dict[str, dict[str, np.ndarray]]:
    return {slot: {key: var.numpy() for key, var in by_key.items()} for slot, by_key in opt.slots.items()}


def _assert_matches_reference(name, cfg, variables, opt):
    """Relative 1e-6 per element, with an absolute floor of 1e-6 of the array's scale for elements that pass near
    zero (float32 rounding of the large entries is ~6e-8 of the scale per step)."""
    params = {key: value for key, value in _initial_params().items() if key in variables}
    grads = [{key: g[key] for key in variables} for g in GRADS]
    ref_params, ref_slots = keras1_reference(name, cfg, params, grads)
    for key, var in variables.items():
        ref = ref_params[key]
        np.testing.assert_allclose(var.numpy(), ref, rtol=1e-6, atol=1e-6 * np.max(np.abs(ref)), err_msg=key)
    for slot, by_key in ref_slots.items():
        for key, ref in by_key.items():
            got = opt.slots[slot][key.replace("/", "__").replace(".", "__")].numpy()
            # Slots such as m are EMAs of signed gradients: cancellation leaves a few float32 ulps of the summands.
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6 * np.max(np.abs(ref)), err_msg=f"{slot}/{key}")
    assert int(opt.iterations) == STEPS


# -- tests -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "cfg"), CASES, ids=CASE_IDS)
def test_matches_keras1_reference(name, cfg):
    variables = _variables(_initial_params())
    opt = make_optimizer({"name": name, **cfg}, variables)
    _run(opt.apply_gradients, GRADS, list(SHAPES))
    _assert_matches_reference(name, cfg, variables, opt)


JIT_CASES = [
    ("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "decay": 0.05, "clipnorm": 3.0}),
    ("rmsprop", {"lr": 0.01, "decay": 0.1}),
    ("adagrad", {"lr": 0.1, "clipvalue": 0.3}),
    ("adadelta", {"decay": 0.1}),
    ("adam", {"lr": 0.01, "decay": 0.1}),
    ("adamax", {"lr": 0.01}),
    ("nadam", {"lr": 0.01, "clipnorm": 3.0}),
]


@pytest.mark.parametrize(("name", "cfg"), JIT_CASES, ids=[name for name, _ in JIT_CASES])
def test_apply_gradients_under_xla(name, cfg):
    # Two variables keep the XLA compile time down; the maths per variable is the same as above.
    keys = ["lstm_1__kernel", "scalar"]
    variables = _variables({key: value for key, value in _initial_params().items() if key in keys})
    opt = make_optimizer({"name": name, **cfg}, variables)
    step = tf.function(opt.apply_gradients, jit_compile=True)
    _run(step, GRADS, keys)
    assert step.experimental_get_tracing_count() == 1
    _assert_matches_reference(name, cfg, variables, opt)


def test_train_step_in_tf_function_with_gradient_tape():
    """The intended use: gradients from a tape inside one traced step, None for an unused variable."""
    w = tf.Variable([[1.0, -2.0], [0.5, 3.0]])
    unused = tf.Variable([1.0, 2.0])
    opt = make_optimizer({"name": "sgd", "lr": 0.1}, {"w": w, "unused": unused})

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.matmul(x, w) ** 2)
        grads = dict(zip(["w", "unused"], tape.gradient(loss, [w, unused])))
        opt.apply_gradients(grads)
        return loss

    x = tf.constant([[1.0, 1.0]])
    w0 = w.numpy().copy()
    step(x)
    expected = w0 - 0.1 * 2 * x.numpy().T @ (x.numpy() @ w0)
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-6)
    np.testing.assert_array_equal(unused.numpy(), [1.0, 2.0])
    assert int(opt.iterations) == 1


def test_none_and_missing_gradients_are_skipped():
    variables = _variables(_initial_params())
    before = {key: var.numpy().copy() for key, var in variables.items()}
    opt = make_optimizer({"name": "adam", "lr": 0.1, "clipnorm": 0.5}, variables)
    opt.apply_gradients({"lstm_1__kernel": tf.ones(SHAPES["lstm_1__kernel"]), "lstm_1__bias": None})
    assert not np.array_equal(variables["lstm_1__kernel"].numpy(), before["lstm_1__kernel"])
    for key in ("lstm_1__bias", "dense_1/W", "rec.U", "scalar"):
        np.testing.assert_array_equal(variables[key].numpy(), before[key])
        assert not np.any(opt.slots["m"][key.replace("/", "__").replace(".", "__")].numpy())


def test_unknown_gradient_key_is_an_error():
    opt = make_optimizer("sgd", {"w": tf.Variable(1.0)})
    with pytest.raises(ValueError, match="unknown variables: 'v'"):
        opt.apply_gradients({"v": tf.constant(1.0)})


def test_keys_that_collide_after_sanitising_are_an_error():
    with pytest.raises(ValueError, match="collide"):
        make_optimizer("sgd", {"a/b": tf.Variable(1.0), "a.b": tf.Variable(2.0)})


def test_indexed_slices_gradient_is_applied_densely():
    table = tf.Variable(np.arange(8, dtype=np.float32).reshape(4, 2))
    opt = make_optimizer({"name": "sgd", "lr": 0.5}, {"embedding_1__W": table})
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.gather(table, [1, 3, 1]))
    grad = tape.gradient(loss, table)
    assert isinstance(grad, tf.IndexedSlices)
    opt.apply_gradients({"embedding_1__W": grad})
    expected = np.arange(8, dtype=np.float32).reshape(4, 2) - 0.5 * np.array([[0, 0], [2, 2], [0, 0], [1, 1]])
    np.testing.assert_array_equal(table.numpy(), expected)


def test_assigning_lr_changes_later_steps():
    """ReduceLROnPlateau assigns `opt.lr`; with decay the new base rate is decayed by the iteration count."""
    w = tf.Variable(1.0)
    opt = make_optimizer({"name": "sgd", "lr": 0.1, "decay": 1.0}, {"w": w})
    step = tf.function(opt.apply_gradients)
    step({"w": tf.constant(1.0)})  # lr 0.1 / (1 + 0)
    opt.lr.assign(0.01)
    step({"w": tf.constant(1.0)})  # lr 0.01 / (1 + 1)
    np.testing.assert_allclose(w.numpy(), 1.0 - 0.1 - 0.005, rtol=1e-6)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_checkpoint_restore_into_reordered_fresh_optimizer_is_exact(name, tmp_path):
    """Also covers the learning rate a callback changed before the save, and clipnorm's global norm."""
    spec = {"name": name, "clipnorm": 3.0, **({"lr": 0.1, "momentum": 0.9} if name == "sgd" else {"lr": 0.01})}
    grads, half = GRADS[:8], 4

    straight = _variables(_initial_params())
    opt_straight = make_optimizer(spec, straight)
    _run(opt_straight.apply_gradients, grads[:half], list(SHAPES))
    opt_straight.lr.assign(opt_straight.lr * 0.5)
    _run(opt_straight.apply_gradients, grads[half:], list(SHAPES))

    first = _variables(_initial_params())
    opt_first = make_optimizer(spec, first)
    _run(opt_first.apply_gradients, grads[:half], list(SHAPES))
    opt_first.lr.assign(opt_first.lr * 0.5)
    path = tf.train.Checkpoint(params=first, optimizer=opt_first).write(str(tmp_path / "ckpt"))

    reversed_keys = list(reversed(SHAPES))
    resumed = {key: tf.Variable(tf.zeros(shape)) for key, shape in reversed(SHAPES.items())}
    opt_resumed = make_optimizer(spec, resumed)
    tf.train.Checkpoint(params=resumed, optimizer=opt_resumed).read(path).assert_consumed()
    assert int(opt_resumed.iterations) == half
    _run(opt_resumed.apply_gradients, grads[half:], reversed_keys)

    assert int(opt_resumed.iterations) == int(opt_straight.iterations) == len(grads)
    for key in SHAPES:
        np.testing.assert_array_equal(resumed[key].numpy(), straight[key].numpy(), err_msg=key)
    assert _slot_values(opt_resumed).keys() == _slot_values(opt_straight).keys()
    for slot, by_key in _slot_values(opt_straight).items():
        for key, value in by_key.items():
            np.testing.assert_array_equal(opt_resumed.slots[slot][key].numpy(), value, err_msg=f"{slot}/{key}")
    # The two same-shape variables must not have equal slots, or a swap would go unnoticed.
    first_slot = opt_straight.slot_names[0]
    assert not np.array_equal(opt_straight.slots[first_slot]["dense_1__W"].numpy(),
                              opt_straight.slots[first_slot]["rec__U"].numpy())


def test_checkpoint_keys_follow_variable_paths(tmp_path):
    variables = _variables(_initial_params())
    opt = make_optimizer("nadam", variables)
    names = {name for name, _ in tf.train.list_variables(tf.train.Checkpoint(optimizer=opt).write(str(tmp_path / "c")))}
    expected = {f"optimizer/slots/{slot}/{key}/.ATTRIBUTES/VARIABLE_VALUE"
                for slot in ("m", "v") for key in ("lstm_1__kernel", "lstm_1__bias", "dense_1__W", "rec__U", "scalar")}
    expected |= {f"optimizer/{name}/.ATTRIBUTES/VARIABLE_VALUE" for name in ("iterations", "lr", "m_schedule")}
    assert names - {"_CHECKPOINTABLE_OBJECT_GRAPH"} == expected
    # The trained variables belong to the model's checkpoint, not the optimizer's.
    assert len(opt.trainable_variables) == 0


def test_specs_hold_the_keras_1_2_2_defaults():
    for name, expected in KERAS_1_2_2_DEFAULTS.items():
        args = OPTIMIZERS[name]
        defaults = {arg.name: arg.default for arg in args}
        assert defaults == {**expected, "clipnorm": None, "clipvalue": None}
        for arg in args:
            assert arg.kind in ("float", "bool") and arg.help
            assert arg.default is None or isinstance(arg.default, {"float": float, "bool": bool}[arg.kind])


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_get_config_round_trips(name):
    variables = {"w": tf.Variable(tf.ones([2]))}
    opt = make_optimizer({"name": name, "lr": 0.5, "clipvalue": 1.0}, variables)
    config = opt.get_config()
    assert config == {"name": name, **{arg.name: arg.default for arg in OPTIMIZERS[name]}, "lr": 0.5, "clipvalue": 1.0}
    assert make_optimizer(config, variables).get_config() == config
    assert opt.lr.dtype == tf.float32 and opt.iterations.dtype == tf.int64


def test_class_names_and_int_values_are_accepted():
    opt = make_optimizer({"name": "Adam", "lr": 1}, {"w": tf.Variable(1.0)})
    assert opt.get_config()["name"] == "adam" and opt.get_config()["lr"] == 1.0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("adamw", r"unknown optimizer 'adamw' \(did you mean `adam`\?\)"),
        ({"name": "sgd", "momentun": 0.9}, "unknown key `momentun` for optimizer `sgd`"),
        ({"name": "nadam", "decay": 0.1}, "`nadam` has no `decay`"),
        ({"name": "sgd", "nesterov": 1}, "must be true or false"),
        ({"name": "adam", "lr": "fast"}, "must be a number"),
        ({"name": "adam", "lr": -1.0}, r"must be in \[0, inf\]"),
        ({"lr": 0.1}, "needs a `name`"),
        (3, "must be a name or a mapping"),
    ],
)
def test_bad_specs_raise_clear_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        make_optimizer(spec, {"w": tf.Variable(1.0)})


def test_specs_module_imports_neither_tensorflow_nor_numpy():
    code = "import sys, rnncli.config.training_specs; sys.exit(bool({'tensorflow', 'numpy'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
