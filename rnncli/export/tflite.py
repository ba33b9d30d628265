"""TensorFlow Lite export of the stateless function ``(x, *states) -> (y, *next_states)``.

TFLite's builtin ops cover the recurrence in two ways, measured with TF 2.21's converter:

* a fixed number of timesteps: the time loop is traced unrolled (no TensorArray), so the batch axis stays free;
* a variable number of timesteps: the ``tf.while_loop`` reads its steps from a TensorArray, which the builtin
  TensorList lowering accepts only with a static element shape, so the batch axis is fixed (a stateful model's
  own batch size, else ``training.batch_size``; feed batches of that size).

Anything else falls back to TensorFlow "select" (Flex) ops. Such a model needs the Flex delegate, which the
``tensorflow`` pip package's ``tf.lite.Interpreter`` does *not* link ("Select TensorFlow op(s) ... not supported by
this interpreter"), so the notes say so.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from rnncli.config.plan import ModelPlan
from rnncli.errors import RunError
from rnncli.export.functional import ExportSpec, stateless_predict
from rnncli.model import Sequential


def convert_tflite(model: Sequential, spec: ExportSpec, unroll: bool) -> tuple[bytes, bool]:
    """The ``.tflite`` flatbuffer (one ``serving_default`` signature) and whether it uses select TF ops."""
    function = stateless_predict(model, spec, unroll).get_concrete_function()
    attempts = ([tf.lite.OpsSet.TFLITE_BUILTINS],
                [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS])
    failure = None
    for ops in attempts:
        converter = tf.lite.TFLiteConverter.from_concrete_functions([function], model)
        converter.target_spec.supported_ops = ops
        try:
            return converter.convert(), len(ops) > 1
        except Exception as exc:  # ConverterError and friends; retried with select ops, then reported
            failure = exc
    reason = str(failure).strip().splitlines()[-1][:300] if str(failure).strip() else type(failure).__name__
    raise RunError(f"TFLite conversion failed even with select TensorFlow ops: {reason}")


def tflite_spec(model: Sequential, plan: ModelPlan, batch_size: int) -> ExportSpec:
    """The function's spec: unrolled for a fixed number of timesteps (free batch), else with a fixed batch."""
    spec = ExportSpec.of(model, plan)
    return spec if spec.fixed_steps else ExportSpec.of(model, plan, batch_size)


def write_tflite(model: Sequential, plan: ModelPlan, batch_size: int, path: Path) -> tuple[ExportSpec, list[str]]:
    """Write ``path``; returns the exported function's spec and notes for the user."""
    spec = tflite_spec(model, plan, batch_size)
    flatbuffer, select_ops = convert_tflite(model, spec, spec.fixed_steps)
    path.write_bytes(flatbuffer)
    notes = [f"{len(flatbuffer):,} bytes, " + ("builtin and select TensorFlow ops: run it with the Flex delegate "
                                              "(tensorflow-lite-select-tf-ops)" if select_ops
                                              else "builtin TFLite ops only")]
    if spec.x.shape[0] is not None and not spec.states:
        notes.append(f"the number of timesteps varies, so TFLite needs a fixed batch: feed batches of "
                     f"{spec.x.shape[0]}")
    return spec, notes
