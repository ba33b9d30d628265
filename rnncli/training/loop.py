"""The training engine: compiled train/eval/predict steps, batching, stateful policies, and the epoch loop.

``Engine`` owns the model, the Keras 1 optimizer, the dropout/shuffle RNG and the loop state, all of which go into
the checkpoint (``Engine.trackables()``, saved by ``rnncli.runs.checkpoints``), so a resumed run continues
bit-identically. ``fit`` runs the epochs; everything around them (history, callbacks, best tracking, checkpoints,
progress) is an epoch hook (``rnncli.training.hooks``). Nothing here prints.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from typing import Any

import numpy as np
import tensorflow as tf

from rnncli.config.config import Config
from rnncli.config.training_specs import metric_key
from rnncli.data.dataset import Dataset
from rnncli.layers.constraints import activity_penalty, collect_activity, projections
from rnncli.layers.unroll import inference_iteration_steps
from rnncli.model import build_model
from rnncli.training.hooks import EpochEnd, Hook
from rnncli.training.compile_policy import worth_compiling
from rnncli.training.losses import broadcast_weights, get_objective, nonzero_weight_sums
from rnncli.training.metrics import get_metric
from rnncli.training.optimizers import make_optimizer


XLA_INFERENCE_ITERATION_STEPS = 5  # timesteps per loop iteration in XLA-compiled evaluation and prediction


def _first_replica_aggregation(next_creator, **kwargs):
    """Every replica computes the same update (gradients are all-reduced), so the first replica's is applied."""
    kwargs["aggregation"] = tf.VariableAggregation.ONLY_FIRST_REPLICA
    return next_creator(**kwargs)


@contextlib.contextmanager
def _distribution_scope(strategy: Any):
    if strategy is None:
        yield
        return
    with strategy.scope(), tf.variable_creator_scope(_first_replica_aggregation):
        yield


def _tensors(value):
    """A batch as step arguments: an array, or a mapping of named arrays (a graph's inputs or targets)."""
    return {k: tf.constant(v) for k, v in value.items()} if isinstance(value, dict) else tf.constant(value)


def _as_tuple(weights) -> tuple:
    """``batches()`` weights as step arguments: (rows,) or (rows, sample_weight)."""
    return weights if isinstance(weights, tuple) else (weights,)


class LoopState(tf.Module):
    """Counters that must survive a resume (checkpointed as ``loop/``); epoch hooks add their state here too."""

    def __init__(self):
        super().__init__(name="loop")
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")  # completed epochs
        self.batches_since_reset = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.loss_scale = tf.Variable(2.0 ** 15, dtype=tf.float32, trainable=False)  # --mixed-precision only
        self.good_steps = tf.Variable(0, dtype=tf.int64, trainable=False)


class Engine:
    """Model + optimizer + RNG + counters, and the compiled steps that use them."""

    def __init__(self, config: Config, jit_compile: bool | None = None, strategy: Any = None,
                 loss_scaling: bool = False, weight_files: bool = True, expected_steps: int | None = None,
                 precision: str | None = None):
        """``expected_steps``: training steps the run plans; with ``jit_compile: auto`` XLA is used only when it is
        expected to pay for its compilation (``rnncli.training.compile_policy``). None keeps the shape rule alone.
        ``precision``: ``float32`` or ``mixed_bfloat16`` (None: the config's ``training.precision``); the layers
        compute in it, while variables, optimizer slots, carried states, losses and metrics stay float32 (so the
        checkpoint is the same in both). Whether the CPU supports it is the caller's check
        (``rnncli.platform.precision.check_precision``)."""
        self.config = config
        self.strategy = strategy
        self.loss_scaling = loss_scaling  # dynamic loss scaling for float16 compute (--mixed-precision)
        training = config.training_settings
        self.training = training
        self.loop = LoopState()  # host-side counters: plain variables even under a strategy
        self.precision = precision or training.get("precision") or "float32"
        with _distribution_scope(strategy):
            self.model = build_model(config.model, config.seed, weight_files, self.precision)
            self.rng = tf.random.Generator.from_seed(config.seed)
            self.variables = self.model.trainable_by_path()
            self.optimizer = make_optimizer(training["optimizer"], self.variables, training.get("lr_schedule"),
                                            self.loop.epoch, projections(self.model.layers, self.variables))
        self.loss_name = training["loss"]  # None for a config without `training:` (inference only)
        self.objective = get_objective(self.loss_name) if self.loss_name is not None else None
        self.metric_names = [metric_key(m) for m in training["metrics"]]
        self.metric_fns = [get_metric(m, self.loss_name) for m in training["metrics"]]
        if jit_compile is None:
            setting = training["jit_compile"]
            jit_compile = setting == "true" or (setting == "auto" and config.model.input_shape[1] is not None
                                                and len(config.model.input_shape) == 3
                                                and (expected_steps is None or worth_compiling(
                                                    config.model, training["batch_size"], expected_steps)))
        # XLA does not compile cross-replica steps, and the float16 rewrite of --mixed-precision is a graph pass;
        # mixed_bfloat16 runs in the plain graph, where oneDNN computes bf16 matmuls natively: XLA:CPU (TF 2.21)
        # converts bf16 dot operands to f32 (benchmarks/bf16_paths.py: medium LSTM training step 95 ms in float32
        # under XLA, 271 ms in bf16 under XLA, 106 ms in bf16 in the graph)
        self.jit_compile = (bool(jit_compile) and strategy is None and not loss_scaling
                            and self.precision != "mixed_bfloat16")
        step = self._distributed_train_step if strategy is not None else self._train_step_impl
        # autograph=False: the steps use tf.while_loop/tf.cond explicitly, and converting every layer's source on
        # each trace was most of the tracing time (a Python `if` on a tensor fails loudly without it)
        self._train_step = tf.function(step, jit_compile=self.jit_compile, reduce_retracing=True, autograph=False)
        # inference compiles with XLA under the same rule: measured faster than the plain graph for the medium LSTM
        # (gpu mode 75 -> 57 ms at 2 threads, 126 -> 83 ms at 1; cpu mode 79 -> 69 ms) and equal for the small GRU;
        # batches() pads the last batch, so one shape compiles once
        self.predict_jit_compile = self.jit_compile
        self._eval_step = tf.function(self._xla_loops(self._eval_step_impl), jit_compile=self.predict_jit_compile,
                                      reduce_retracing=True, autograph=False)
        self._predict_step = tf.function(self._xla_loops(self._predict_step_impl),
                                         jit_compile=self.predict_jit_compile, reduce_retracing=True, autograph=False)
        self._graph_steps: dict[str, Any] = {}  # plain-graph inference steps for calls too short to pay for XLA

    def _xla_loops(self, impl: Any) -> Any:
        """``impl`` traced with XLA_INFERENCE_ITERATION_STEPS timesteps per loop iteration when the engine's
        inference compiles with XLA (see ``unroll.inference_iteration_steps``); unchanged otherwise."""
        if not self.predict_jit_compile:
            return impl

        @functools.wraps(impl)
        def traced(*args, **kwargs):
            with inference_iteration_steps(XLA_INFERENCE_ITERATION_STEPS):
                return impl(*args, **kwargs)

        return traced

    def inference_step(self, kind: str, compile_xla: bool | None = None) -> Any:
        """The ``"eval"`` or ``"predict"`` step; ``compile_xla=False`` gives a plain-graph one (made once)."""
        step = self._eval_step if kind == "eval" else self._predict_step
        if compile_xla is None or compile_xla == self.predict_jit_compile:
            return step
        if kind not in self._graph_steps:
            impl = self._eval_step_impl if kind == "eval" else self._predict_step_impl
            self._graph_steps[kind] = tf.function(impl, reduce_retracing=True, autograph=False)
        return self._graph_steps[kind]

    def forward(self, x, rows: tf.Tensor, training: bool, all_sum=lambda value: value):
        """``(y_pred, mask, activity penalty of the layers over the real rows)``."""
        with collect_activity() as collected:
            y_pred, mask = self.model(x, training=training, rng=self.rng if training else None)
        return y_pred, mask, activity_penalty(collected, rows, all_sum(tf.reduce_sum(rows))) if collected else 0.0

    def trackables(self) -> dict[str, Any]:
        """What a checkpoint holds: everything a resumed run needs to continue bit for bit."""
        return {"model": self.model, "optimizer": self.optimizer, "rng": self.rng, "loop": self.loop}

    # -- compiled steps -------------------------------------------------------------------------------------------

    def _weights_mask(self, mask: tf.Tensor | None, weights: tf.Tensor) -> tf.Tensor:
        """Combine the output mask [B, T] (or None) with per-sample weights [B] (0 for padding rows)."""
        if mask is None:
            return weights
        return tf.cast(mask, tf.float32) * weights[:, None]

    def _sums(self, y, y_pred, mask, weights, sample_weight=None):
        """Local sums of the loss and metric values and the count they average over (Keras 1 masked mean).

        With ``sample_weight`` ([B] or [B, T]) the loss sum is weighted; Keras 1's division by the fraction of
        non-zero weights is applied by the caller (``_loss_denominator``). Metrics stay unweighted, as in Keras 1.
        """
        combined = self._weights_mask(mask, weights)
        values = self.objective(y, y_pred)
        extra = values.shape.rank - combined.shape.rank
        counts = tf.broadcast_to(tf.reshape(combined, tf.concat([tf.shape(combined), [1] * extra], 0)),
                                 tf.shape(values))
        count = tf.reduce_sum(counts)
        metric_sums = [fn(y, y_pred, combined) * count for fn in self.metric_fns]
        if sample_weight is not None:
            counts = counts * broadcast_weights(sample_weight, values)
        return tf.reduce_sum(values * counts), count, metric_sums

    @staticmethod
    def _loss_denominator(count, weights, sample_weight, all_sum=lambda value: value):
        """Keras 1 ``weighted_objective`` as a ratio of batch sums: sum(w * mask * loss) divided by
        sum(mask) * (non-zero weights / weights); without sample weights the masked count itself."""
        if sample_weight is None:
            return count
        nonzero, entries = nonzero_weight_sums(sample_weight, weights)
        return count * tf.math.divide_no_nan(all_sum(nonzero), all_sum(entries))

    def _train_step_impl(self, x, y, weights, sample_weight=None):
        """One replica's step. The loss is the global masked mean: local sum / global count, gradients summed over
        replicas, regularization split evenly so it counts once; identical to one device with the global batch.
        ``sample_weight`` ([B] or [B, T], or None) weighs the loss as Keras 1 ``weighted_objective``."""
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync if context is not None else 1

        def all_sum(value):
            return context.all_reduce(tf.distribute.ReduceOp.SUM, value) if replicas > 1 else value

        keys = list(self.variables)
        with tf.GradientTape() as tape:
            y_pred, mask, activity = self.forward(x, weights, True, all_sum)
            loss_sum, count, metric_sums = self._sums(y, y_pred, mask, weights, sample_weight)
            global_count = all_sum(count)
            denominator = self._loss_denominator(global_count, weights, sample_weight, all_sum)
            regularization = self.model.regularization_loss()
            total_activity = all_sum(activity) if replicas > 1 else activity  # per replica's rows: add up
            total = tf.math.divide_no_nan(loss_sum, denominator) + regularization / replicas + activity
            scale = tf.cast(self.loop.loss_scale, total.dtype) if self.loss_scaling else None
            scaled = total * scale if self.loss_scaling else total
        grads = tape.gradient(scaled, [self.variables[k] for k in keys])
        if replicas > 1:
            grads = [None if g is None else all_sum(g) for g in grads]
        if self.loss_scaling:
            self._apply_scaled(keys, grads, scale)
        else:
            self.optimizer.apply_gradients(dict(zip(keys, grads)))
        loss = tf.math.divide_no_nan(all_sum(loss_sum), denominator) + regularization + total_activity
        return loss, [tf.math.divide_no_nan(all_sum(m), global_count) for m in metric_sums]

    def _apply_scaled(self, keys: list[str], grads: list, scale: tf.Tensor) -> None:
        """Dynamic loss scaling: unscale; skip the update and halve the scale when a gradient is not finite;
        double it after 2000 good steps (the policy of TensorFlow's LossScaleOptimizer)."""
        grads = [None if g is None else g / scale for g in grads]
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads if g is not None])

        def apply():
            self.optimizer.apply_gradients(dict(zip(keys, grads)))
            grown = self.loop.good_steps + 1 >= 2000
            self.loop.loss_scale.assign(tf.where(grown, self.loop.loss_scale * 2.0, self.loop.loss_scale))
            self.loop.good_steps.assign(tf.where(grown, tf.constant(0, tf.int64), self.loop.good_steps + 1))
            return tf.constant(True)

        def skip():
            self.loop.loss_scale.assign(tf.maximum(self.loop.loss_scale / 2.0, 1.0))
            self.loop.good_steps.assign(0)
            return tf.constant(False)

        tf.cond(finite, apply, skip)

    def _distributed_train_step(self, x, y, weights, sample_weight=None):
        loss, metrics = self.strategy.run(self._train_step_impl, args=(x, y, weights, sample_weight))
        first = self.strategy.experimental_local_results
        return first(loss)[0], [first(m)[0] for m in metrics]

    def _distribute(self, array: np.ndarray):
        """Split a global batch into per-replica slices (replica r gets rows r*B/R .. (r+1)*B/R)."""
        replicas = self.strategy.num_replicas_in_sync
        per_replica = len(array) // replicas

        def slice_for(context):
            r = context.replica_id_in_sync_group
            return tf.constant(array[r * per_replica:(r + 1) * per_replica])

        return self.strategy.experimental_distribute_values_from_function(slice_for)

    def _eval_step_impl(self, x, y, weights, sample_weight=None):
        y_pred, mask, activity = self.forward(x, weights, False)
        loss_sum, count, metric_sums = self._sums(y, y_pred, mask, weights, sample_weight)
        denominator = self._loss_denominator(count, weights, sample_weight)
        loss = tf.math.divide_no_nan(loss_sum, denominator) + self.model.regularization_loss() + activity
        return loss, [tf.math.divide_no_nan(m, count) for m in metric_sums]

    def _predict_step_impl(self, x):
        y_pred, _ = self.model(x, training=False)
        return y_pred

    # -- batching -------------------------------------------------------------------------------------------------

    def batches(self, data: Dataset, batch_size: int, order: np.ndarray | None = None):
        """Yield (x, y, weights, real_count); a short last batch is padded with zero-weight rows (no retrace).
        ``weights`` is 1/0 per row (real/padding), or ``(rows, sample_weight)`` when ``data`` carries loss weights
        (``sample_weight`` padded with zeros)."""
        n = len(data)
        for start in range(0, n, batch_size):
            index = order[start:start + batch_size] if order is not None else slice(start, start + batch_size)
            x = np.asarray(data.x[index])
            if x.dtype in (np.uint8, np.bool_):
                x = x.astype(np.float32)
            y = None if data.y is None else np.asarray(data.y[index])
            sample_weight = None if data.sample_weight is None else np.asarray(data.sample_weight[index])
            real = len(x)
            weights = np.ones(batch_size, np.float32)
            if real < batch_size and not self.model.plan.stateful:
                pad = batch_size - real
                x = np.concatenate([x, np.zeros((pad,) + x.shape[1:], x.dtype)])
                if y is not None:
                    y = np.concatenate([y, np.zeros((pad,) + y.shape[1:], y.dtype)])
                if sample_weight is not None:
                    sample_weight = np.concatenate([sample_weight, np.zeros((pad,) + sample_weight.shape[1:],
                                                                            sample_weight.dtype)])
                weights[real:] = 0.0
            rows = weights[: len(x)]
            yield x, y, (rows if sample_weight is None else (rows, sample_weight)), real

    # -- epochs ---------------------------------------------------------------------------------------------------

    def run_epoch(self, train: Dataset, hooks: Hook, epoch: int, epochs: int) -> dict:
        """One pass over ``train``; returns averaged loss and metrics. ``hooks`` see the epoch begin and, after
        every batch, the running means (``TerminateOnNaN`` stops a diverging run there)."""
        batch_size = self.training["batch_size"]
        stateful = self.model.plan.stateful
        order = None
        if self.training["shuffle"] and not stateful:
            rng = np.random.default_rng([self.config.seed, epoch])
            order = (train.epoch_order(rng, batch_size) if train.epoch_order is not None  # length buckets
                     else rng.permutation(len(train)))
        policy = self.training["reset_states"]
        if stateful and isinstance(policy, dict):
            # every_n_batches segments line up with the data: each epoch starts a fresh segment
            self.model.reset_states()
            self.loop.batches_since_reset.assign(0)
        batches = math.ceil(len(train) / batch_size)
        self.optimizer.begin_epoch(batches)
        hooks.on_epoch_begin(epoch, epochs, batches)
        totals = np.zeros(1 + len(self.metric_fns))
        seen = 0
        started = time.perf_counter()
        for index, (x, y, weights, real) in enumerate(self.batches(train, batch_size, order)):
            if stateful and isinstance(policy, dict) and int(self.loop.batches_since_reset) >= \
                    policy["every_n_batches"]:
                self.model.reset_states()
                self.loop.batches_since_reset.assign(0)
            if self.strategy is not None:
                loss, metrics = self._train_step(self._distribute(x), self._distribute(y),
                                                 *[self._distribute(w) for w in _as_tuple(weights)])
            else:
                loss, metrics = self._train_step(_tensors(x), _tensors(y),
                                                 *[tf.constant(w) for w in _as_tuple(weights)])
            self.loop.batches_since_reset.assign_add(1)
            values = np.array([float(loss)] + [float(m) for m in metrics])
            totals += values * real
            seen += real
            hooks.on_batch_end(epoch, index, self._named(totals / seen))
        if stateful and policy == "epoch":
            # Keras 1 stateful_lstm.py: reset_states() after each epoch, so a finished run predicts from zeros
            self.model.reset_states()
            self.loop.batches_since_reset.assign(0)
        logs = self._named(totals / max(seen, 1))
        logs["seconds"] = time.perf_counter() - started
        return logs

    def _named(self, values: np.ndarray, prefix: str = "") -> dict:
        names = ["loss"] + self.metric_names
        return {prefix + name: float(v) for name, v in zip(names, values)}

    def evaluate(self, data: Dataset, prefix: str = "", compile_xla: bool | None = None) -> dict:
        """Loss and metrics over ``data`` in inference mode. Stateful models use a zeroed copy of the states and
        restore the training states afterwards, so evaluation never moves them. ``compile_xla``: see
        ``inference_step`` (None: the engine's setting)."""
        step = self.inference_step("eval", compile_xla)
        batch_size = self.training["batch_size"]
        counters = [layer.steps_since_reset for layer in self.model.stateful_cores()]
        saved = [v.numpy() for v in self.model.state_variables] + [c.numpy() for c in counters]
        self.model.reset_states()
        totals = np.zeros(1 + len(self.metric_fns))
        seen = 0
        try:
            for x, y, weights, real in self.batches(data, batch_size):
                loss, metrics = step(_tensors(x), _tensors(y),
                                                *[tf.constant(w) for w in _as_tuple(weights)])
                totals += np.array([float(loss)] + [float(m) for m in metrics]) * real
                seen += real
        finally:
            for variable, value in zip(self.model.state_variables + counters, saved):
                variable.assign(value)
        return self._named(totals / max(seen, 1), prefix)

    def predict(self, x: np.ndarray, batch_size: int, compile_xla: bool | None = None) -> np.ndarray:
        """Inference over x [N, ...]; stateful models carry their states through the batches in order.
        ``compile_xla``: see ``inference_step`` (None: the engine's setting)."""
        step = self.inference_step("predict", compile_xla)
        outputs = []
        data = Dataset(x, None, "input")
        for xb, _, _, real in self.batches(data, batch_size):
            outputs.append(step(tf.constant(xb)).numpy()[:real])
        return np.concatenate(outputs, axis=0)


def fit(engine: Engine, train: Dataset, validation: Dataset | None, epochs: int, hooks: Hook,
        info: dict | None = None) -> list[dict]:
    """The epoch loop, from the engine's completed-epoch counter up to ``epochs``; returns this call's rows.

    Each epoch trains, validates, logs the learning rate, advances the counter and hands an ``EpochEnd`` to the
    hooks, which may stop training. ``info`` (run directory, device, sample counts) goes to ``on_train_begin``.
    """
    start = int(engine.loop.epoch.numpy())
    hooks.on_train_begin({**(info or {}), "epochs": epochs, "start_epoch": start})
    rows = []
    for epoch in range(start + 1, epochs + 1):
        logs = engine.run_epoch(train, hooks, epoch, epochs)
        if validation is not None:
            logs.update(engine.evaluate(validation, prefix="val_"))
        logs["lr"] = engine.optimizer.last_step_lr()  # the rate of the epoch's last step (schedule, Keras 1 decay)
        engine.loop.epoch.assign(epoch)
        end = EpochEnd(epoch, epochs, logs)
        hooks.on_epoch_end(end)
        rows.append(end.row)
        if end.stop:
            break
    hooks.on_train_end(rows)
    return rows
