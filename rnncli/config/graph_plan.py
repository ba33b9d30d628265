"""The plan of a model that is not a chain (pure Python): named inputs, nodes, named outputs.

A ``GraphPlan`` is a ``ModelPlan`` whose ``layers`` are the layers that own weights (a shared layer appears once,
at its first application) and whose ``nodes`` are the applications in an order where every node comes after the
nodes it reads. A tensor is named ``layer`` (its output) or ``layer:k`` (output k: the states of a recurrent layer
with ``return_state``: ``:1`` is h, ``:2`` LSTM's c), or by a model input's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rnncli.config.plan import LayerPlan, ModelPlan, Shape, ShapeProblem, fmt_shape


@dataclass
class GraphInput:
    """One named model input: shape with the batch axis first, dtype ``float32`` or ``int32``."""

    name: str
    shape: Shape
    dtype: str


@dataclass
class GraphNode:
    """One application of a layer: ``owner`` names the layer whose weights it uses (itself unless shared);
    ``inbound`` and ``initial_state`` are tensor names; ``outputs`` the shapes of ``name``, ``name:1``, ..."""

    name: str
    layer: LayerPlan
    owner: str
    inbound: list[str]
    initial_state: list[str] = field(default_factory=list)
    return_state: bool = False
    outputs: list[Shape] = field(default_factory=list)

    @property
    def tensor_names(self) -> list[str]:
        return [self.name] + [f"{self.name}:{k}" for k in range(1, len(self.outputs))]


@dataclass
class GraphPlan(ModelPlan):
    """Inputs, nodes in execution order, and the output tensors (``outputs``: names, ``output_shapes``)."""

    inputs: list[GraphInput] = field(default_factory=list)
    nodes: list[GraphNode] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    output_shapes: dict = field(default_factory=dict)
    tensor_masks: dict = field(default_factory=dict)

    @property
    def output_shape(self) -> Shape:
        return self.output_shapes[self.outputs[0]]

    @property
    def output_mask(self) -> bool:
        return bool(self.tensor_masks.get(self.outputs[0]))

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.inputs]

    def resolved_model(self) -> dict:
        """The ``model:`` section with every default filled in (for ``config.resolved.yaml``)."""
        layers = []
        for node in self.nodes:
            if node.owner != node.name:
                entry = {"share": node.owner, "name": node.name}
            else:
                entry = dict(node.layer.config)
            entry["inputs" if node.layer.type == "Merge" else "input"] = (
                list(node.inbound) if node.layer.type == "Merge" else node.inbound[0])
            if node.initial_state:
                entry["initial_state"] = list(node.initial_state)
            if node.return_state:
                entry["return_state"] = True
            layers.append(entry)
        return {"inputs": {i.name: {"batch_shape": list(i.shape), "dtype": i.dtype} for i in self.inputs},
                "layers": layers, "outputs": list(self.outputs)}


def split_tensor_name(name: str) -> tuple[str, int]:
    """``"enc:2"`` -> ``("enc", 2)``; ``"enc"`` -> ``("enc", 0)``.

    >>> split_tensor_name("encoder:1")
    ('encoder', 1)
    """
    base, sep, index = name.rpartition(":")
    if sep and index.isdigit():
        return base, int(index)
    return name, 0


def output_key(output: str) -> str:
    """An output's name where TensorFlow names take no ``:`` (history columns, exported signatures):
    ``layer:k`` spelled ``layer_k``.

    >>> output_key("encoder:1")
    'encoder_1'
    """
    return output.replace(":", "_")


def _axis(axis: int, rank: int, what: str) -> int:
    if not -rank <= axis < rank:
        raise ShapeProblem(f"{what} {axis} is out of range for {rank}-D inputs")
    return axis % rank


def merge_output_shape(config: dict, shapes: list[Shape]) -> Shape:
    """The output shape of a Keras 1 ``Merge`` (config with ``mode``) of ``shapes``; raises ``ShapeProblem``.

    >>> merge_output_shape({"mode": "concat", "concat_axis": -1}, [(None, 3), (None, 4)])
    (None, 7)
    >>> merge_output_shape({"mode": "dot", "dot_axes": 1}, [(None, 3), (None, 3)])
    (None, 1)
    """
    mode, name = config["mode"], config.get("name", "merge")
    if len(shapes) < 2:
        raise ShapeProblem(f"layer `{name}` (Merge) needs at least two inputs, got {len(shapes)}", "inputs")
    shown = ", ".join(fmt_shape(s) for s in shapes)
    if mode in ("sum", "mul", "ave", "max"):
        first = shapes[0]
        for shape in shapes[1:]:
            if len(shape) != len(first) or any(a is not None and b is not None and a != b
                                                for a, b in zip(first, shape)):
                raise ShapeProblem(f"layer `{name}` (Merge mode {mode}) needs inputs of one shape, got {shown}",
                                   "inputs")
        return tuple(next((d for d in dims if d is not None), None) for dims in zip(*shapes))
    if mode == "concat":
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes):
            raise ShapeProblem(f"layer `{name}` (Merge mode concat) needs inputs of one rank, got {shown}", "inputs")
        axis = _axis(config["concat_axis"], rank, "concat_axis")
        if axis == 0:
            raise ShapeProblem(f"layer `{name}`: concat_axis may not be the batch axis", "concat_axis")
        out = list(shapes[0])
        for i in range(rank):
            if i == axis:
                continue
            dims = {s[i] for s in shapes if s[i] is not None}
            if len(dims) > 1:
                raise ShapeProblem(f"layer `{name}` (Merge mode concat, axis {config['concat_axis']}): the inputs "
                                   f"differ on axis {i}: {shown}", "inputs")
            out[i] = next(iter(dims), None)
        sizes = [s[axis] for s in shapes]
        out[axis] = None if None in sizes else sum(sizes)
        return tuple(out)
    # dot and cos: two inputs, K.batch_dot
    if len(shapes) != 2:
        raise ShapeProblem(f"layer `{name}` (Merge mode {mode}) takes exactly two inputs, got {len(shapes)}",
                           "inputs")
    a, b = shapes
    if len(a) != len(b) or len(a) not in (2, 3):
        raise ShapeProblem(f"layer `{name}` (Merge mode {mode}) takes two 2-D or two 3-D inputs, got {shown}",
                           "inputs")
    axes = config["dot_axes"]
    if isinstance(axes, int) and not isinstance(axes, bool):
        axes = [axes, axes]
    if not (isinstance(axes, (list, tuple)) and len(axes) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in axes)):
        raise ShapeProblem(f"layer `{name}`: dot_axes must be an integer or a list of two, got {axes!r}", "dot_axes")
    ax = [_axis(axes[0], len(a), "dot_axes"), _axis(axes[1], len(b), "dot_axes")]
    if 0 in ax:
        raise ShapeProblem(f"layer `{name}`: dot_axes may not be the batch axis", "dot_axes")
    if a[ax[0]] is not None and b[ax[1]] is not None and a[ax[0]] != b[ax[1]]:
        raise ShapeProblem(f"layer `{name}` (Merge mode {mode}): axis {ax[0]} of the first input ({a[ax[0]]}) and "
                           f"axis {ax[1]} of the second ({b[ax[1]]}) differ: {shown}", "inputs")
    if mode == "cos":
        if len(a) != 2:
            raise ShapeProblem(f"layer `{name}` (Merge mode cos) takes two 2-D inputs, got {shown}", "inputs")
        return (a[0], 1)
    out = [d for i, d in enumerate(a) if i != ax[0]] + [d for i, d in enumerate(b) if i not in (0, ax[1])]
    return tuple(out) if len(out) > 1 else (a[0], 1)
