"""``GraphEngine``: the ``Engine`` of a graph with several inputs or outputs (Keras 1 multi-output ``compile``).

Batches are mappings of named arrays; every output has its own objective and metrics; the training loss is
``sum_i loss_weights[i] * loss_i + regularization``, each ``loss_i`` the masked mean of output i's objective.
Reported names follow Keras 1: ``loss`` (the total), and with several outputs ``{output}_loss`` and
``{output}_{metric}`` (``out_acc``; validation adds ``val_``); with one output the metrics keep their plain names.
``make_engine`` picks the engine a config needs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import tensorflow as tf

from rnncli.config.config import Config
from rnncli.config.graph_training import needs_graph_training, reported_names
from rnncli.data.graph_sets import GraphDataset
from rnncli.training.loop import Engine
from rnncli.training.losses import get_objective
from rnncli.training.metrics import get_metric


def make_engine(config: Config, **kwargs: Any) -> Engine:
    """``GraphEngine`` for a graph with several inputs or outputs, else the chain ``Engine``."""
    if needs_graph_training(config.model):
        return GraphEngine(config, **kwargs)
    return Engine(config, **kwargs)


class GraphEngine(Engine):
    """``Engine`` over named inputs and outputs; see the module docstring for the loss and the reported names."""

    def __init__(self, config: Config, strategy: Any = None, **kwargs: Any):
        if strategy is not None:
            raise ValueError("--distribute is not supported yet for models with several inputs or outputs")
        training = config.training
        self.output_names = list(config.model.outputs)
        if training is not None:
            losses, metrics, weights = training["loss"], training["metrics"], training["loss_weights"]
        else:
            losses = {name: None for name in self.output_names}
            metrics = {name: [] for name in self.output_names}
            weights = {name: 1.0 for name in self.output_names}
        # the chain Engine sets up model, optimizer and steps; it sees the first output's loss and no metrics
        first = dataclasses.replace(config, training=None if training is None else {
            **training, "loss": losses[self.output_names[0]], "metrics": []})
        super().__init__(first, strategy=None, **kwargs)
        self.config = config
        self.losses = losses
        self.loss_weights = {name: float(weights[name]) for name in self.output_names}
        self.objectives = {name: get_objective(loss) for name, loss in losses.items() if loss is not None}
        self.output_metrics = {name: [get_metric(m, losses[name]) for m in metrics[name]]
                               for name in self.output_names if losses[name] is not None}
        names = reported_names(self.output_names, metrics)[1:]  # without the total `loss`
        self.metric_names = names
        self.metric_fns = names  # only its length is read by the chain loop (the totals it averages)

    # -- steps ----------------------------------------------------------------------------------------------------

    def _output_terms(self, y: dict, outputs: dict, masks: dict, weights: tf.Tensor):
        """(weighted total, [per-output losses], [metrics]) of one batch; losses are masked means."""
        total = tf.constant(0.0)
        parts, metric_values = [], []
        for name in self.output_names:
            combined = self._weights_mask(masks[name], weights)
            values = self.objectives[name](y[name], outputs[name])
            extra = values.shape.rank - combined.shape.rank
            counts = tf.broadcast_to(tf.reshape(combined, tf.concat([tf.shape(combined), [1] * extra], 0)),
                                     tf.shape(values))
            count = tf.reduce_sum(counts)
            loss = tf.math.divide_no_nan(tf.reduce_sum(values * counts), count)
            total += self.loss_weights[name] * loss
            parts.append(loss)
            metric_values += [fn(y[name], outputs[name], combined) for fn in self.output_metrics[name]]
        return total, (parts if len(self.output_names) > 1 else []), metric_values

    def _train_step_impl(self, x, y, weights, sample_weight=None):
        keys = list(self.variables)
        with tf.GradientTape() as tape:
            outputs, masks, activity = self.forward(x, weights, True)
            total, parts, metric_values = self._output_terms(y, outputs, masks, weights)
            total = total + self.model.regularization_loss() + activity
        grads = tape.gradient(total, [self.variables[k] for k in keys])
        self.optimizer.apply_gradients(dict(zip(keys, grads)))
        return total, parts + metric_values

    def _eval_step_impl(self, x, y, weights, sample_weight=None):
        outputs, masks, activity = self.forward(x, weights, False)
        total, parts, metric_values = self._output_terms(y, outputs, masks, weights)
        return total + self.model.regularization_loss() + activity, parts + metric_values

    def _predict_step_impl(self, x):
        outputs, _ = self.model(x, training=False)
        return outputs

    # -- batching -------------------------------------------------------------------------------------------------

    def batches(self, data, batch_size: int, order: np.ndarray | None = None):
        """(x, y, rows, real) with x and y mappings of named arrays; a short last batch is padded with zero-weight
        rows."""
        n = len(data)
        for start in range(0, n, batch_size):
            index = order[start:start + batch_size] if order is not None else slice(start, start + batch_size)
            x = {k: np.asarray(v[index]) for k, v in data.x.items()}
            y = None if data.y is None else {k: np.asarray(v[index]) for k, v in data.y.items()}
            real = len(next(iter(x.values())))
            rows = np.ones(batch_size, np.float32)
            if real < batch_size:
                pad = batch_size - real
                x = {k: np.concatenate([v, np.zeros((pad,) + v.shape[1:], v.dtype)]) for k, v in x.items()}
                if y is not None:
                    y = {k: np.concatenate([v, np.zeros((pad,) + v.shape[1:], v.dtype)]) for k, v in y.items()}
                rows[real:] = 0.0
            yield x, y, rows, real

    def predict(self, x, batch_size: int, compile_xla: bool | None = None) -> dict[str, np.ndarray]:
        """Outputs by name for named inputs ``x`` (a mapping of [N, ...] arrays, or a ``GraphDataset``)."""
        step = self.inference_step("predict", compile_xla)
        inputs = x.x if hasattr(x, "x") else x
        results: dict[str, list] = {name: [] for name in self.output_names}
        for xb, _, _, real in self.batches(GraphDataset(inputs, None, "input"), batch_size):
            out = step({k: tf.constant(v) for k, v in xb.items()})
            for name in self.output_names:
                results[name].append(out[name].numpy()[:real])
        return {name: np.concatenate(parts, axis=0) for name, parts in results.items()}
