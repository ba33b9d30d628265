"""A Keras-style ``model.summary()`` table built from a ``ModelPlan`` (no TensorFlow needed)."""

from __future__ import annotations

from rich.table import Table

from rnncli.config.plan import LayerPlan, ModelPlan, fmt_shape
from rnncli.platform.precision import compute_dtype_name

# Layers whose input keeps its dtype under mixed_bfloat16 (the mask comparison stays exact): float32 as the model
# input is (rnncli.layers.core.Masking)
_INPUT_DTYPE_LAYERS = ("Masking",)

EXECUTION_PATHS = {
    "cpu": "input projection of all timesteps in one matmul before the loop; one fused recurrent matmul per step",
    "mem": "per-gate input and recurrent matmuls inside each step",
    "gpu": "one fused input and one fused recurrent matmul per step (fewest, largest matmuls)",
}


def describe_layer(layer: LayerPlan) -> str:
    """Short notes for the summary's last column: mode, activations, flags."""
    cfg = layer.config
    inner = layer.inner
    if cfg["type"] == "Bidirectional" and inner is not None:
        return f"merge={cfg['merge_mode']}; " + describe_layer(inner)
    if cfg["type"] == "TimeDistributed" and inner is not None:
        return f"wraps {inner.type}" + (f" ({describe_layer(inner)})" if describe_layer(inner) else "")
    notes = []
    if cfg["type"] in ("SimpleRNN", "GRU", "LSTM"):
        notes.append(f"consume_less={cfg['consume_less']}")
        notes.append(f"activation={cfg['activation']}")
        if "inner_activation" in cfg:
            notes.append(f"inner_activation={cfg['inner_activation']}")
        for flag in ("stateful", "go_backwards", "unroll"):
            if cfg[flag]:
                notes.append(flag)
        if cfg["dropout_W"] or cfg["dropout_U"]:
            notes.append(f"dropout_W={cfg['dropout_W']} dropout_U={cfg['dropout_U']}")
    elif cfg["type"] in ("Dense", "Activation") and cfg.get("activation") not in (None, "linear"):
        notes.append(f"activation={cfg['activation']}")
    elif cfg["type"] == "Embedding" and cfg["mask_zero"]:
        notes.append("mask_zero")
    elif cfg["type"] == "Dropout":
        notes.append(f"p={cfg['p']}")
    if not cfg.get("trainable", True):
        notes.append("frozen")
    if layer.mask_out and cfg["type"] in ("Embedding", "Masking"):
        notes.append("emits mask")
    return ", ".join(notes)


def graph_summary_table(plan: ModelPlan, title: str) -> Table:
    """Keras' functional summary: one row per input and per node, with the tensors each node reads."""
    table = Table(title=title, title_justify="left")
    for column in ("Layer (type)", "Output shape", "Param #", "Connected to", "Notes"):
        table.add_column(column, justify="right" if column == "Param #" else "left")
    for graph_input in plan.inputs:
        table.add_row(f"{graph_input.name} (Input)", fmt_shape(graph_input.shape), "0", "", graph_input.dtype)
    for node in plan.nodes:
        shared = node.owner != node.name
        notes = f"shares {node.owner}" if shared else describe_layer(node.layer)
        if node.layer.type == "Merge":
            cfg = node.layer.config
            notes = f"mode={cfg['mode']}" + (f", axis={cfg['concat_axis']}" if cfg["mode"] == "concat" else "") + (
                f", axes={cfg['dot_axes']}" if cfg["mode"] in ("dot", "cos") else "")
        if node.return_state:
            notes = ", ".join(filter(None, [notes, "returns states " + ", ".join(node.tensor_names[1:])]))
        inbound = ", ".join(node.inbound)
        if node.initial_state:
            inbound += "; initial_state: " + ", ".join(node.initial_state)
        shapes = ", ".join(fmt_shape(s) for s in node.outputs)
        table.add_row(f"{node.name} ({node.layer.type})", shapes, "0" if shared else f"{node.layer.params:,}",
                      inbound, notes)
    return table


def layer_precision(layer: LayerPlan, precision: str = "float32") -> str:
    """The dtype ``layer`` computes in under ``precision`` (``bfloat16`` or ``float32``); its variables are float32
    in either."""
    if layer.type in _INPUT_DTYPE_LAYERS:
        return "float32"
    return compute_dtype_name(precision)


def summary_table(plan: ModelPlan, title: str, precision: str = "float32") -> Table:
    """One row per layer; the ``Compute`` column is the dtype its matmuls and activations run in. A graph gets
    Keras' functional table (``graph_summary_table``)."""
    if getattr(plan, "nodes", None):
        return graph_summary_table(plan, title)
    table = Table(title=title, title_justify="left")
    table.add_column("Layer (type)")
    table.add_column("Output shape")
    table.add_column("Param #", justify="right")
    table.add_column("Compute")
    table.add_column("Notes")
    for layer in plan.layers:
        table.add_row(f"{layer.name} ({layer.type})", fmt_shape(layer.output_shape), f"{layer.params:,}",
                      layer_precision(layer, precision), describe_layer(layer))
    return table


def precision_line(precision: str) -> str:
    """The footer line that names the precision and what stays float32."""
    if precision == "mixed_bfloat16":
        return ("Precision: mixed_bfloat16 (bfloat16 matmuls and activations; variables, optimizer slots, states, "
                "losses and metrics float32; needs a CPU with native bfloat16)")
    return "Precision: float32"


def distribution_line(training: dict) -> str:
    """Which strategy the resolved ``training`` section uses and how many replicas (known before TensorFlow starts
    where possible)."""
    kind = training["distribute"]
    if kind == "none":
        return "Distribution: none (1 replica on the chosen device)"
    if kind == "mirrored":
        devices = training["devices"]
        count = f"{len(devices)} replicas ({', '.join(devices)})" if devices else "one replica per visible GPU"
        return f"Distribution: mirrored (tf.distribute.MirroredStrategy), {count}"
    return "Distribution: multi_worker (tf.distribute.MultiWorkerMirroredStrategy), one replica per worker in TF_CONFIG"


def summary_footer(plan: ModelPlan, device: str = "cpu", training: dict | None = None) -> list[str]:
    lines = [
        f"Total params: {plan.params:,}",
        f"Trainable params: {plan.trainable_params:,}",
        f"Non-trainable params: {plan.params - plan.trainable_params:,}",
        f"Input: {fmt_shape(plan.input_shape)} {plan.input_dtype}" if not getattr(plan, "nodes", None) else
        "Inputs: " + ", ".join(f"{i.name} {fmt_shape(i.shape)} {i.dtype}" for i in plan.inputs) + "; outputs: "
        + ", ".join(f"{name} {fmt_shape(plan.output_shapes[name])}" for name in plan.outputs),
        "Stateful: " + (f"yes, batch size {plan.batch_size} (layers: "
                        f"{', '.join(layer.name for layer in plan.stateful_layers())})" if plan.stateful else "no"),
    ]
    if training is not None:
        lines.append(distribution_line(training))
        lines.append(precision_line(training.get("precision", "float32")))
    for layer in plan.layers:
        core = layer.inner if layer.type == "Bidirectional" else layer
        if core is not None and core.type in ("SimpleRNN", "GRU", "LSTM"):
            mode = core.config["consume_less"]
            lines.append(f"Execution of {layer.name} on {device}: consume_less={mode}: {EXECUTION_PATHS[mode]}")
    return lines
