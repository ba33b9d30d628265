"""Argument declarations of the graph surface: merge layers and the keys a layer of a graph may carry.

Merge layers live beside ``LAYER_SPECS`` (not in it): they only exist in graphs, so chain configs, the chain
validator and the chain reference table are unchanged. Keras 2 merge layers (``Add``, ``Concatenate``, ...) are
spelled as in Keras 2 and mapped onto the Keras 1 ``Merge`` mode that does the same job (``merge_mode_of``).
"""

from __future__ import annotations

from rnncli.config.args import Arg, LayerSpec

MERGE_MODES = ("sum", "mul", "concat", "ave", "max", "dot", "cos")

# Keras 2 merge layer -> Keras 1 Merge mode
KERAS2_MERGES = {"Add": "sum", "Multiply": "mul", "Average": "ave", "Maximum": "max", "Concatenate": "concat",
                 "Dot": "dot"}

_NAME = (Arg("name", "str", None, "Layer name; default: the lower-cased type plus a counter (`merge_1`).",
             nullable=True),
         Arg("trainable", "bool", True, "Kept for Keras documents; a merge has no weights."))

MERGE_SPECS: dict[str, LayerSpec] = {
    spec.type: spec
    for spec in (
        LayerSpec(
            "Merge",
            "Keras 1 Merge of the tensors named by `inputs`: sum, mul, ave, max (elementwise, equal shapes), concat "
            "(along `concat_axis`), dot (`K.batch_dot` over `dot_axes`, two inputs), cos (cosine of two inputs, "
            "(B, 1)).",
            (Arg("mode", "choice", "sum", "How to merge.", choices=MERGE_MODES),
             Arg("concat_axis", "int", -1, "Axis of `concat` (with the batch axis: -1 is the last)."),
             Arg("dot_axes", "any", -1, "Axes of `dot`/`cos`: one integer for both inputs or `[a1, a2]` (batch "
                 "axis is 0)."))
            + _NAME,
        ),
        LayerSpec("Add", "Keras 2 Add: `Merge` mode sum.", _NAME),
        LayerSpec("Multiply", "Keras 2 Multiply: `Merge` mode mul.", _NAME),
        LayerSpec("Average", "Keras 2 Average: `Merge` mode ave.", _NAME),
        LayerSpec("Maximum", "Keras 2 Maximum: `Merge` mode max.", _NAME),
        LayerSpec("Concatenate", "Keras 2 Concatenate: `Merge` mode concat along `axis`.",
                  (Arg("axis", "int", -1, "The concatenation axis."),) + _NAME),
        LayerSpec("Dot", "Keras 2 Dot: `Merge` mode dot over `axes`; with `normalize: true`, mode cos.",
                  (Arg("axes", "any", -1, "One integer or `[a1, a2]`."),
                   Arg("normalize", "bool", False, "L2-normalize both inputs first (the cosine)."))
                  + _NAME),
    )
}

# keys any layer of a graph may carry besides its own arguments
GRAPH_LAYER_ARGS = (
    Arg("input", "any", None, "The tensor this layer takes: a model input, a layer name, or `layer:k` (output k of "
        "a layer that returns states); default: the previous layer's output.", nullable=True),
    Arg("inputs", "any", None, "The tensors a merge takes (a list of names).", nullable=True),
    Arg("initial_state", "any", None, "Recurrent layers: tensors to start from, e.g. `[encoder:1, encoder:2]`.",
        nullable=True),
    Arg("return_state", "bool", False, "Recurrent layers: also output the final states as `name:1` (h) and "
        "`name:2` (LSTM's c)."),
    Arg("share", "str", None, "Apply the named layer again, with the same weights, to `input`.", nullable=True),
)
GRAPH_LAYER_KEYS = tuple(arg.name for arg in GRAPH_LAYER_ARGS)

INPUT_ARGS = (
    Arg("shape", "shape", None, "One sample's shape without the batch axis, e.g. `[10, 3]` (null: unknown length).",
        nullable=True),
    Arg("batch_shape", "shape", None, "The shape with the batch axis, e.g. `[32, 10, 3]`; wins over `shape`.",
        nullable=True),
    Arg("dtype", "choice", None, "`int32` for integer indices (an Embedding reads it), else `float32` (default: "
        "int32 when an Embedding reads the input).", choices=("float32", "int32"), nullable=True),
)


def merge_mode_of(config: dict) -> dict:
    """A resolved merge layer config as the Keras 1 ``Merge`` it means: type Merge with ``mode``, ``concat_axis``
    and ``dot_axes``.

    >>> merge_mode_of({"type": "Concatenate", "axis": 1, "name": "c", "trainable": True})["concat_axis"]
    1
    >>> merge_mode_of({"type": "Dot", "axes": 1, "normalize": True, "name": "d", "trainable": True})["mode"]
    'cos'
    """
    kind = config["type"]
    if kind == "Merge":
        return dict(config)
    result = {"type": "Merge", "name": config["name"], "trainable": config["trainable"],
              "mode": KERAS2_MERGES[kind], "concat_axis": -1, "dot_axes": -1}
    if kind == "Concatenate":
        result["concat_axis"] = config["axis"]
    if kind == "Dot":
        result["dot_axes"] = config["axes"]
        if config["normalize"]:
            result["mode"] = "cos"
    return result
