"""Keras 1 (1.2.2) optimizers as ``tf.Module``s with name-keyed state.

Each optimizer owns its state: ``iterations`` (int64), the learning rate ``lr`` (a float32 variable, so callbacks such
as ReduceLROnPlateau can assign it), and one slot variable per trained variable and slot name, kept in
``self.slots[slot_name][key]``. Slots are created eagerly in ``__init__`` from a ``{key: variable}`` mapping, so the
checkpoint keys follow the variable keys (``optimizer/slots/m/lstm_1__kernel``), never the order of the mapping, and a
fresh optimizer can be restored before it has taken a step. The trained variables themselves are not tracked by the
optimizer; checkpoint them through the model.

The formulas are those of Keras 1.2.2 ``keras/optimizers.py``. Per-step scalars (decayed learning rate, bias
corrections, the Nadam momentum schedule) are computed in float64 and cast once; element-wise maths runs in each
variable's dtype. ``iterations`` counts every step for every optimizer (Keras 1.2.2 SGD, RMSprop, Adagrad and
Adadelta only counted when ``decay > 0``, the one case where the count enters the maths).

>>> w = tf.Variable([1.0, 2.0])
>>> opt = make_optimizer({"name": "sgd", "lr": 0.1}, {"dense_1__W": w})
>>> opt.apply_gradients({"dense_1__W": tf.constant([1.0, -1.0])})
>>> [round(float(x), 3) for x in w.numpy()], int(opt.iterations)
([0.9, 2.1], 1)
"""

from __future__ import annotations

from typing import Callable, ClassVar, Mapping

import tensorflow as tf

from rnncli.config.training import resolve_optimizer
from rnncli.config.training_specs import OPTIMIZERS
from rnncli.training.schedules import position_of, schedule_factor, warms_up_per_step

__all__ = ["Optimizer", "SGD", "RMSprop", "Adagrad", "Adadelta", "Adam", "Adamax", "Nadam", "make_optimizer"]

Gradient = tf.Tensor | tf.IndexedSlices | None


class _Untracked:
    """Holds Python objects on a ``tf.Module`` without the module tracking (or checkpointing) what they contain."""

    def __init__(self, **items: object) -> None:
        self.__dict__.update(items)


def _f64(value: float) -> tf.Tensor:
    return tf.constant(value, tf.float64)


def _slot_key(key: str) -> str:
    # `/` would nest checkpoint keys and `.` is escaped as `..`; keep keys readable and stable.
    return key.replace("/", "__").replace(".", "__")


class Optimizer(tf.Module):
    """Base class: gradient clipping, learning rate decay, slots and the step counter.

    Args:
      variables: ``{key: tf.Variable}``, the variables to train, keyed by a stable path such as
        ``"lstm_1__kernel"`` (``/`` and ``.`` are replaced by ``__`` in checkpoint keys).
      lr: initial learning rate; None takes the Keras 1 default of the optimizer.
      decay: Keras 1 time-based decay, ``lr_t = lr / (1 + decay * iterations)`` with the iterations done before
        the step (not accepted by Nadam, as in Keras 1).
      clipnorm: if set and > 0, all gradients are scaled by ``clipnorm / global_norm`` when the global L2 norm of
        the step's gradients is >= clipnorm.
      clipvalue: if set and > 0, each gradient element is clipped to ``[-clipvalue, clipvalue]`` (after clipnorm).
      lr_schedule: a resolved ``training.lr_schedule``: each step uses ``lr * schedule_factor(position)``
        (``rnncli.training.schedules``) before the Keras 1 decay.
      completed_epochs: the loop's epoch counter (an int64 variable), the position of ``unit: epoch`` schedules.
      constraints: ``{key: projection}`` for variables with a Keras constraint: after each step's updates every such
        variable is assigned ``projection(variable)``, as Keras optimizers do (whether or not it had a gradient).
      **kw: the optimizer's own arguments (``momentum``, ``rho``, ``beta_1`` ... as in ``rnncli.config.training_specs.OPTIMIZERS``).

    Raises ValueError for an unknown argument, a value of the wrong type, or two keys that collide once sanitised.
    """

    config_name: ClassVar[str]
    slot_names: ClassVar[tuple[str, ...]]
    clipnorm: float | None
    clipvalue: float | None

    def __init__(
        self,
        variables: Mapping[str, tf.Variable],
        *,
        lr: float | None = None,
        decay: float = 0.0,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        lr_schedule: Mapping | None = None,
        completed_epochs: tf.Variable | None = None,
        constraints: Mapping[str, Callable[[tf.Tensor], tf.Tensor]] | None = None,
        **kw: float | bool,
    ) -> None:
        args = [arg.name for arg in OPTIMIZERS[self.config_name]]
        given: dict[str, object] = {"clipnorm": clipnorm, "clipvalue": clipvalue, **kw}
        if lr is not None:
            given["lr"] = lr
        if "decay" in args:
            given["decay"] = decay
        elif decay:
            raise ValueError(f"optimizer `{self.config_name}` has no `decay` argument in Keras 1")
        config = resolve_optimizer({"name": self.config_name, **given})
        super().__init__(name=self.config_name)
        del config["name"]
        self.initial_lr: float = config.pop("lr")
        self.decay: float = 0.0
        for key, value in config.items():
            setattr(self, key, value)

        slot_keys: dict[str, str] = {}
        for key in variables:
            if not isinstance(key, str) or not key:
                raise ValueError(f"variable keys must be non-empty strings, got {key!r}")
            safe = _slot_key(key)
            if safe in slot_keys.values():
                raise ValueError(f"variable keys collide once `/` and `.` are replaced: {key!r} -> {safe!r}")
            slot_keys[key] = safe
        if lr_schedule is not None and lr_schedule["unit"] == "epoch" and completed_epochs is None:
            raise ValueError("an epoch-based lr_schedule needs `completed_epochs` (the loop's epoch counter)")
        # the schedule's position is the loop's counter: checkpointed with the loop, not with the optimizer
        unknown = [key for key in constraints or {} if key not in variables]
        if unknown:
            raise ValueError(f"constraints given for unknown variables: {', '.join(map(repr, unknown))}")
        self._refs = _Untracked(params=dict(variables), slot_keys=slot_keys,
                                schedule=dict(lr_schedule) if lr_schedule else None, epochs=completed_epochs,
                                constraints=dict(constraints or {}))

        with tf.init_scope():
            if warms_up_per_step(lr_schedule):
                # where the current epoch started and its length: set by `begin_epoch` at every epoch start, so
                # they need no checkpoint (kept out of it: older checkpoints restore unchanged)
                self._refs.epoch_start = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch_start")
                self._refs.epoch_steps = tf.Variable(1, dtype=tf.int64, trainable=False, name="epoch_steps")
            self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name="iterations")
            self.lr = tf.Variable(self.initial_lr, dtype=tf.float32, trainable=False, name="lr")
            self.slots: dict[str, dict[str, tf.Variable]] = {}
            for slot in self.slot_names:
                self.slots[slot] = {}
                for key, var in variables.items():
                    with tf.device(var.device):
                        self.slots[slot][slot_keys[key]] = tf.Variable(
                            tf.zeros(var.shape, dtype=var.dtype), trainable=False, name=f"{slot_keys[key]}_{slot}"
                        )
            self._create_extra_state()

    # -- public API --------------------------------------------------------------------------------------------

    # No tensor-dependent Python control flow here, so AutoGraph has nothing to convert (and skipping it keeps
    # tracing fast and quiet).
    @tf.autograph.experimental.do_not_convert
    def apply_gradients(self, grads: Mapping[str, Gradient]) -> None:
        """One Keras 1 update step: clip, update slots and variables, apply the constraints, then
        ``iterations += 1``.

        Args:
          grads: ``{key: gradient}`` with keys from ``variables``; each gradient has its variable's shape
            (``tf.IndexedSlices`` are densified, as Keras 1 did). A missing key or a None gradient leaves that
            variable and its slots untouched and is left out of the clipnorm global norm.

        Works eagerly, inside ``tf.function`` and under ``tf.function(jit_compile=True)``.
        """
        params = self._refs.params
        unknown = [key for key in grads if key not in params]
        if unknown:
            raise ValueError(f"gradients given for unknown variables: {', '.join(map(repr, unknown))}")
        pairs = [(key, tf.convert_to_tensor(g)) for key, g in grads.items() if g is not None]
        pairs = self._clip(pairs)

        prev_iterations = tf.cast(self.iterations, tf.float64)
        coefficients = self._coefficients(self._step_lr(), prev_iterations + 1.0)

        by_dtype: dict[tf.DType, dict[str, tf.Tensor]] = {}
        for key, grad in pairs:
            var = params[key]
            if var.dtype not in by_dtype:
                by_dtype[var.dtype] = {name: tf.cast(c, var.dtype) for name, c in coefficients.items()}
            safe = self._refs.slot_keys[key]
            slots = {name: self.slots[name][safe] for name in self.slot_names}
            self._update(var, tf.cast(grad, var.dtype), slots, by_dtype[var.dtype])
        self._finish_step(coefficients)
        for key in sorted(self._refs.constraints):
            var = params[key]
            var.assign(self._refs.constraints[key](tf.convert_to_tensor(var)))
        self.iterations.assign_add(1)

    def current_lr(self) -> float:
        """The learning rate the next step uses: ``lr`` times the schedule's factor, then the Keras 1 decay."""
        return float(self._step_lr().numpy())

    def last_step_lr(self) -> float:
        """The learning rate the last step used (the history's ``lr`` column: the rate in effect for the epoch's
        last step); before any step, the rate of the first."""
        done = self.iterations - 1 if int(self.iterations.numpy()) > 0 else self.iterations
        return float(self._step_lr(done).numpy())

    def begin_epoch(self, steps: int) -> None:
        """Note that an epoch of ``steps`` optimizer steps starts now (an epoch-based cosine warm-up advances per
        step within it)."""
        if hasattr(self._refs, "epoch_start"):
            self._refs.epoch_start.assign(self.iterations)
            self._refs.epoch_steps.assign(max(int(steps), 1))

    def get_config(self) -> dict[str, object]:
        """``{"name": ..., <every argument>: value}`` as the optimizer was built (the initial ``lr``; the live
        learning rate is ``self.lr``). ``make_optimizer(opt.get_config(), variables)`` rebuilds it."""
        config: dict[str, object] = {"name": self.config_name}
        for key in (arg.name for arg in OPTIMIZERS[self.config_name]):
            config[key] = self.initial_lr if key == "lr" else getattr(self, key)
        return config

    # -- hooks for subclasses ------------------------------------------------------------------------------------

    def _create_extra_state(self) -> None:
        """Create non-slot state variables (called inside ``tf.init_scope``)."""

    def _coefficients(self, lr: tf.Tensor, t: tf.Tensor) -> dict[str, tf.Tensor]:
        """Per-step float64 scalars from the decayed ``lr`` and the 1-based step ``t``; cast per variable dtype."""
        return {"lr": lr}

    def _update(self, var: tf.Variable, g: tf.Tensor, slots: dict[str, tf.Variable], c: dict[str, tf.Tensor]) -> None:
        raise NotImplementedError

    def _finish_step(self, coefficients: dict[str, tf.Tensor]) -> None:
        """Update non-slot state after all variables from the step's float64 ``coefficients`` (so the reads in
        ``_coefficients`` saw the old values)."""

    # -- internals ---------------------------------------------------------------------------------------------

    def _step_lr(self, iterations: tf.Tensor | None = None) -> tf.Tensor:
        """float64 learning rate of the step after ``iterations`` steps (default: the coming step)."""
        iterations = self.iterations if iterations is None else iterations
        lr = tf.cast(self.lr, tf.float64)
        schedule = self._refs.schedule
        if schedule is not None:
            within = None
            if hasattr(self._refs, "epoch_start"):
                done = tf.cast(iterations - self._refs.epoch_start, tf.float64)
                within = tf.clip_by_value(done / tf.cast(self._refs.epoch_steps, tf.float64), 0.0, 1.0)
            lr = lr * schedule_factor(schedule, position_of(schedule, iterations, self._refs.epochs), within)
        if self.decay > 0:
            lr = lr * (1.0 / (1.0 + self.decay * tf.cast(iterations, tf.float64)))
        return lr

    def _clip(self, pairs: list[tuple[str, tf.Tensor]]) -> list[tuple[str, tf.Tensor]]:
        if not pairs:
            return pairs
        if self.clipnorm is not None and self.clipnorm > 0:
            # Summed in key order, so the norm (and the run) does not depend on the order of the dict.
            squares = [tf.reduce_sum(tf.square(tf.cast(g, tf.float64))) for _, g in sorted(pairs, key=lambda p: p[0])]
            norm = tf.sqrt(tf.add_n(squares))
            scale = tf.where(norm >= self.clipnorm, self.clipnorm / norm, tf.constant(1.0, tf.float64))
            pairs = [(key, g * tf.cast(scale, g.dtype)) for key, g in pairs]
        if self.clipvalue is not None and self.clipvalue > 0:
            pairs = [(key, tf.clip_by_value(g, -self.clipvalue, self.clipvalue)) for key, g in pairs]
        return pairs


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum.

    ``v = momentum * moment - lr * g``; ``p += v``, or with nesterov ``p += momentum * v - lr * g``. As in Keras
    1.2.2 the ``moments`` slot exists even when momentum is 0 (the update is then plain ``p -= lr * g``).
    """

    config_name = "sgd"
    slot_names = ("moments",)
    momentum: float
    nesterov: bool

    def _update(self, var, g, slots, c):
        moment = slots["moments"]
        velocity = self.momentum * moment - c["lr"] * g
        moment.assign(velocity)
        if self.nesterov:
            var.assign(var + self.momentum * velocity - c["lr"] * g)
        else:
            var.assign(var + velocity)


class RMSprop(Optimizer):
    """RMSprop: ``a = rho * a + (1 - rho) * g^2``; ``p -= lr * g / (sqrt(a) + epsilon)``, ``a`` starting at 0."""

    config_name = "rmsprop"
    slot_names = ("accumulators",)
    rho: float
    epsilon: float

    def _update(self, var, g, slots, c):
        acc = slots["accumulators"]
        new_acc = self.rho * acc + (1.0 - self.rho) * tf.square(g)
        acc.assign(new_acc)
        var.assign_sub(c["lr"] * g / (tf.sqrt(new_acc) + self.epsilon))


class Adagrad(Optimizer):
    """Adagrad: ``a += g^2``; ``p -= lr * g / (sqrt(a) + epsilon)``, ``a`` starting at 0."""

    config_name = "adagrad"
    slot_names = ("accumulators",)
    epsilon: float

    def _update(self, var, g, slots, c):
        acc = slots["accumulators"]
        new_acc = acc + tf.square(g)
        acc.assign(new_acc)
        var.assign_sub(c["lr"] * g / (tf.sqrt(new_acc) + self.epsilon))


class Adadelta(Optimizer):
    """Adadelta: ``a = rho * a + (1 - rho) * g^2``; ``u = g * sqrt(d + eps) / sqrt(a + eps)`` with the old ``d``;
    ``p -= lr * u``; ``d = rho * d + (1 - rho) * u^2``."""

    config_name = "adadelta"
    slot_names = ("accumulators", "delta_accumulators")
    rho: float
    epsilon: float

    def _update(self, var, g, slots, c):
        acc, delta_acc = slots["accumulators"], slots["delta_accumulators"]
        new_acc = self.rho * acc + (1.0 - self.rho) * tf.square(g)
        acc.assign(new_acc)
        update = g * tf.sqrt(delta_acc + self.epsilon) / tf.sqrt(new_acc + self.epsilon)
        var.assign_sub(c["lr"] * update)
        delta_acc.assign(self.rho * delta_acc + (1.0 - self.rho) * tf.square(update))


class Adam(Optimizer):
    """Adam with Keras 1 bias correction folded into the step size:
    ``lr_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)``; ``p -= lr_t * m / (sqrt(v) + epsilon)``."""

    config_name = "adam"
    slot_names = ("m", "v")
    beta_1: float
    beta_2: float
    epsilon: float

    def _coefficients(self, lr, t):
        return {"lr_t": lr * tf.sqrt(1.0 - tf.pow(_f64(self.beta_2), t)) / (1.0 - tf.pow(_f64(self.beta_1), t))}

    def _update(self, var, g, slots, c):
        m, v = slots["m"], slots["v"]
        m_t = self.beta_1 * m + (1.0 - self.beta_1) * g
        v_t = self.beta_2 * v + (1.0 - self.beta_2) * tf.square(g)
        m.assign(m_t)
        v.assign(v_t)
        var.assign_sub(c["lr_t"] * m_t / (tf.sqrt(v_t) + self.epsilon))


class Adamax(Optimizer):
    """Adamax: ``u = max(beta_2 * u, |g|)``; ``p -= lr / (1 - beta_1^t) * m / (u + epsilon)``."""

    config_name = "adamax"
    slot_names = ("m", "u")
    beta_1: float
    beta_2: float
    epsilon: float

    def _coefficients(self, lr, t):
        return {"lr_t": lr / (1.0 - tf.pow(_f64(self.beta_1), t))}

    def _update(self, var, g, slots, c):
        m, u = slots["m"], slots["u"]
        m_t = self.beta_1 * m + (1.0 - self.beta_1) * g
        u_t = tf.maximum(self.beta_2 * u, tf.abs(g))
        m.assign(m_t)
        u.assign(u_t)
        var.assign_sub(c["lr_t"] * m_t / (u_t + self.epsilon))


class Nadam(Optimizer):
    """Keras 1 Nadam (Dozat 2015) with the warming momentum schedule.

    ``mu_t = beta_1 * (1 - 0.5 * 0.96 ** (t * schedule_decay))``; ``m_schedule`` (a float32 state variable starting
    at 1) is multiplied by ``mu_t`` every step. With ``m_t``, ``v_t`` the Adam moments:
    ``m_bar = (1 - mu_t) * g / (1 - m_schedule * mu_t) + mu_{t+1} * m_t / (1 - m_schedule * mu_t * mu_{t+1})``,
    ``p -= lr * m_bar / (sqrt(v_t / (1 - beta_2^t)) + epsilon)``. No ``decay`` argument, as in Keras 1.
    """

    config_name = "nadam"
    slot_names = ("m", "v")
    beta_1: float
    beta_2: float
    epsilon: float
    schedule_decay: float

    def _create_extra_state(self) -> None:
        self.m_schedule = tf.Variable(1.0, dtype=tf.float32, trainable=False, name="m_schedule")

    def _coefficients(self, lr, t):
        mu_t = self.beta_1 * (1.0 - 0.5 * tf.pow(_f64(0.96), t * self.schedule_decay))
        mu_next = self.beta_1 * (1.0 - 0.5 * tf.pow(_f64(0.96), (t + 1.0) * self.schedule_decay))
        m_schedule = tf.cast(self.m_schedule, tf.float64)
        m_schedule_new = m_schedule * mu_t
        m_schedule_next = m_schedule_new * mu_next
        return {
            "lr": lr,
            "m_schedule_new": m_schedule_new,
            "g_coef": (1.0 - mu_t) / (1.0 - m_schedule_new),
            "m_coef": mu_next / (1.0 - m_schedule_next),
            "v_coef": 1.0 / (1.0 - tf.pow(_f64(self.beta_2), t)),
        }

    def _update(self, var, g, slots, c):
        m, v = slots["m"], slots["v"]
        m_t = self.beta_1 * m + (1.0 - self.beta_1) * g
        v_t = self.beta_2 * v + (1.0 - self.beta_2) * tf.square(g)
        m.assign(m_t)
        v.assign(v_t)
        m_bar = c["g_coef"] * g + c["m_coef"] * m_t
        var.assign_sub(c["lr"] * m_bar / (tf.sqrt(v_t * c["v_coef"]) + self.epsilon))

    def _finish_step(self, coefficients):
        self.m_schedule.assign(tf.cast(coefficients["m_schedule_new"], tf.float32))


_CLASSES: dict[str, type[Optimizer]] = {
    cls.config_name: cls for cls in (SGD, RMSprop, Adagrad, Adadelta, Adam, Adamax, Nadam)
}


def make_optimizer(spec: str | Mapping[str, object], variables: Mapping[str, tf.Variable],
                   lr_schedule: Mapping | None = None, completed_epochs: tf.Variable | None = None,
                   constraints: Mapping[str, Callable[[tf.Tensor], tf.Tensor]] | None = None) -> Optimizer:
    """Build an optimizer from a config spec.

    Args:
      spec: a name (``"adam"``) or a mapping ``{"name": "adam", "lr": 0.01, ...}`` with Keras 1 argument names.
      variables: ``{key: tf.Variable}`` to train, keyed by stable paths.
      lr_schedule, completed_epochs: a resolved ``training.lr_schedule`` and the loop's epoch counter.
      constraints: ``{key: projection}`` applied after each update (see ``Optimizer``).

    Raises ValueError with a clear message for an unknown name or argument or a mistyped value.
    """
    config = resolve_optimizer(dict(spec) if isinstance(spec, Mapping) else spec)
    cls = _CLASSES[config.pop("name")]
    return cls(variables, lr_schedule=lr_schedule, completed_epochs=completed_epochs, constraints=constraints,
               **config)
