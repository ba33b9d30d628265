"""Argument declarations: the single source of truth for every config key.

Each ``Arg`` states a key's name, kind, default, allowed values or range and help text. The validator
(``rnncli.config.validate``), the defaults filled into resolved configs, and the generated config reference
(``rnncli.config.reference``) all read these declarations. Nothing here imports TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rnncli.config.constraints import ACTIVITY_HELP, CONSTRAINT_HELP, RECURRENT_CONSTRAINT_HELP

REQUIRED = object()  # sentinel default: the key must be given

ACTIVATIONS = ("tanh", "sigmoid", "hard_sigmoid", "relu", "linear", "softmax", "softplus", "softsign", "elu")
INITIALIZERS = (
    "uniform",
    "normal",
    "glorot_uniform",
    "glorot_normal",
    "lecun_uniform",
    "he_normal",
    "he_uniform",
    "orthogonal",
    "identity",
    "zero",
    "one",
)
# Keras 1 initializers that take a `scale` argument, with their default scale.
INITIALIZER_SCALES = {"uniform": 0.05, "normal": 0.05, "orthogonal": 1.1, "identity": 1.0}
CONSUME_LESS = ("cpu", "mem", "gpu")
MERGE_MODES = ("concat", "sum", "mul", "ave")


# Keras 2+ argument names a user may bring along, and the Keras 1 name rnncli uses for each (config surface).
KERAS2_NAMES = {
    "units": "output_dim",
    "kernel_initializer": "init",
    "embeddings_initializer": "init",
    "recurrent_initializer": "inner_init",
    "recurrent_activation": "inner_activation",
    "kernel_regularizer": "W_regularizer",
    "embeddings_regularizer": "W_regularizer",
    "recurrent_regularizer": "U_regularizer",
    "bias_regularizer": "b_regularizer",
    "kernel_constraint": "W_constraint",
    "embeddings_constraint": "W_constraint",
    "recurrent_constraint": "U_constraint",
    "bias_constraint": "b_constraint",
    "dropout": "dropout_W",
    "recurrent_dropout": "dropout_U",
    "unit_forget_bias": "forget_bias_init",
    "implementation": "consume_less",
    "use_bias": "bias",
    "rate": "p",
    "learning_rate": "lr",
    "epochs": "nb_epoch",
}


@dataclass(frozen=True)
class Arg:
    """One config key.

    kind is one of: ``int``, ``float``, ``bool``, ``str``, ``choice`` (one of ``choices``), ``activation``,
    ``initializer`` (a name or ``{name, scale}``), ``regularizer`` (``{l1, l2}`` or null), ``constraint``
    (``rnncli.config.constraints``: a name or ``{name, ...}``, or null), ``activity_regularizer``
    (``{l1, l2, batch_mean}`` or null), ``shape`` (a list of
    positive ints or nulls), ``path`` (a file relative to the config), ``layer`` (a nested layer mapping),
    ``list`` (a list of strings from ``choices`` when given), ``any``.
    """

    name: str
    kind: str
    default: Any = REQUIRED
    help: str = ""
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    nullable: bool = False

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def describe_range(self) -> str:
        """The allowed values in words, for messages and docs."""
        if self.kind == "choice":
            return "one of " + ", ".join(f"`{c}`" for c in self.choices)
        if self.kind == "activation":
            return "one of " + ", ".join(f"`{c}`" for c in ACTIVATIONS)
        if self.kind == "initializer":
            return "one of " + ", ".join(f"`{c}`" for c in INITIALIZERS) + " (or `{name: ..., scale: ...}`)"
        if self.low is None and self.high is None:
            return ""
        left = "(" if self.low_open else "["
        right = ")" if self.high_open else "]"
        low = "-inf" if self.low is None else _fmt(self.low)
        high = "inf" if self.high is None else _fmt(self.high)
        return f"in {left}{low}, {high}{right}"


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def positive_int(name: str, help: str, default: Any = REQUIRED, nullable: bool = False) -> Arg:
    return Arg(name, "int", default, help, low=1, nullable=nullable)


def _rate(name: str, help: str, default: float = 0.0) -> Arg:
    return Arg(name, "float", default, help, low=0.0, high=1.0, high_open=True)


# ---------------------------------------------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------------------------------------------

COMMON_ARGS = (
    Arg("name", "str", None, "Layer name; default: the lower-cased type plus a counter (`lstm_1`).", nullable=True),
    Arg("trainable", "bool", True, "Whether the optimizer updates this layer's weights."),
    Arg(
        "input_shape",
        "shape",
        None,
        "Input shape without the batch axis, e.g. `[T, D]`; `null` for an unknown length. First layer only.",
        nullable=True,
    ),
    Arg(
        "batch_input_shape",
        "shape",
        None,
        "Input shape with the batch axis, e.g. `[25, null, 1]`; wins over `input_shape`. Needed by stateful layers.",
        nullable=True,
    ),
)

INPUT_DIM_ARGS = (
    Arg("input_dim", "int", None, "Size of the last input axis; with `input_length`, a shortcut for `input_shape`.",
        low=1, nullable=True),
    Arg("input_length", "int", None, "Number of timesteps, when fixed (needed by `unroll` and a later `Flatten`).",
        low=1, nullable=True),
)

REGULARIZER_HELP = "Weight penalty `{l1: 0.0, l2: 0.01}` added to the training loss, or null."


def _constraint(name: str, help: str = CONSTRAINT_HELP) -> Arg:
    return Arg(name, "constraint", None, help, nullable=True)


ACTIVITY_ARG = Arg("activity_regularizer", "activity_regularizer", None, ACTIVITY_HELP, nullable=True)


def _recurrent_args(layer: str) -> tuple[Arg, ...]:
    gated = layer in ("GRU", "LSTM")
    args = [
        positive_int("output_dim", "Number of units (u): size of the output and of each state."),
        Arg("init", "initializer", "glorot_uniform", "Initializer of the input kernel W (per gate in cpu/mem mode)."),
        Arg("inner_init", "initializer", "orthogonal",
            "Initializer of the recurrent kernel U (Keras 1 orthogonal has gain 1.1)."),
    ]
    if layer == "LSTM":
        args.append(Arg("forget_bias_init", "initializer", "one", "Initializer of the forget-gate bias b_f."))
    args.append(Arg("activation", "activation", "tanh", "Activation of the candidate/output (phi)."))
    if gated:
        args.append(Arg("inner_activation", "activation", "hard_sigmoid",
                        "Gate activation; Keras 1 hard_sigmoid is clip(0.2x + 0.5, 0, 1)."))
    args += [
        Arg("W_regularizer", "regularizer", None, REGULARIZER_HELP, nullable=True),
        Arg("U_regularizer", "regularizer", None, REGULARIZER_HELP, nullable=True),
        Arg("b_regularizer", "regularizer", None, REGULARIZER_HELP, nullable=True),
        _constraint("W_constraint", RECURRENT_CONSTRAINT_HELP + " Keras 2/3 `kernel_constraint`."),
        _constraint("U_constraint", "Like `W_constraint`, on the recurrent kernel U (Keras 2/3 "
                    "`recurrent_constraint`)."),
        _constraint("b_constraint", "Like `W_constraint`, on the bias (Keras 2/3 `bias_constraint`)."),
        ACTIVITY_ARG,
        _rate("dropout_W", "Variational dropout rate on the inputs, in [0, 1)."),
        _rate("dropout_U", "Variational dropout rate on the recurrent state, in [0, 1)."),
        Arg("weights", "path", None,
            "`.npz` (relative to the config) holding the Keras 1 weight list (fused `[W, U, b]` or per gate), or a "
            "Keras 1 `.h5` (the group named like the layer, or the file's only layer with weights).",
            nullable=True),
        Arg("return_sequences", "bool", False, "Return the whole output sequence (B, T, u) instead of the last (B, u)."),
        Arg("go_backwards", "bool", False, "Process the input backwards; outputs come in processing order."),
        Arg("stateful", "bool", False,
            "Carry the final states of batch k into batch k+1 (needs a fixed batch size)."),
        Arg("unroll", "bool", False, "Unroll the time loop in the graph (needs a known number of timesteps)."),
        Arg("consume_less", "choice", "cpu",
            "Execution mode: `cpu` precomputes input projections, `mem` per-gate matmuls, `gpu` fused matmuls.",
            choices=CONSUME_LESS),
    ]
    args.append(Arg("zero_output_for_mask", "bool", False,
                    "Beyond Keras 1 (Keras 2.2.3+; Keras 3's Bidirectional sets it): masked timesteps of the returned "
                    "sequence are zeros instead of the previous output (states are carried over either way)."))
    if layer == "GRU":
        args.append(Arg("reset_after", "bool", False,
                        "Beyond Keras 1 (Keras 2.1.3+, the Keras 3 default, CuDNNGRU and torch `nn.GRU`): apply the "
                        "reset gate after the recurrent product and add a recurrent bias, "
                        "h~ = phi(x W_h + b_h + r * (h U_h + b'_h)); the bias is then `[2, 3u]` as Keras 2/3 store it "
                        "(input bias, recurrent bias). Default false: Keras 1's GRU."))
    return tuple(args) + INPUT_DIM_ARGS + COMMON_ARGS


@dataclass(frozen=True)
class LayerSpec:
    """What a layer type accepts and how it treats masks."""

    type: str
    doc: str
    args: tuple[Arg, ...]
    supports_masking: bool = False
    recurrent: bool = False
    wrapper: bool = False
    arg_index: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "arg_index", {a.name: a for a in self.args})


LAYER_SPECS: dict[str, LayerSpec] = {
    spec.type: spec
    for spec in (
        LayerSpec("SimpleRNN", "Fully connected RNN: h_t = phi(x_t W + b + h_{t-1} U).", _recurrent_args("SimpleRNN"),
                  supports_masking=True, recurrent=True),
        LayerSpec("GRU", "Gated recurrent unit, Keras 1 math (reset gate applied before U_h).", _recurrent_args("GRU"),
                  supports_masking=True, recurrent=True),
        LayerSpec("LSTM", "Long short-term memory, Keras 1 math (no peepholes).", _recurrent_args("LSTM"),
                  supports_masking=True, recurrent=True),
        LayerSpec(
            "Embedding",
            "Turns positive integer indices (B, T) into dense vectors (B, T, output_dim).",
            (
                positive_int("input_dim", "Vocabulary size: largest index + 1."),
                positive_int("output_dim", "Size of each embedding vector."),
                Arg("init", "initializer", "uniform", "Initializer of the embedding matrix."),
                Arg("mask_zero", "bool", False, "Treat index 0 as padding: emit a mask that later layers honour."),
                Arg("input_length", "int", None, "Sequence length, when fixed.", low=1, nullable=True),
                _rate("dropout", "Drops whole embedding rows (word types) per batch, in [0, 1)."),
                Arg("W_regularizer", "regularizer", None, REGULARIZER_HELP, nullable=True),
                _constraint("W_constraint", CONSTRAINT_HELP + " Keras 2/3 `embeddings_constraint`."),
                ACTIVITY_ARG,
                Arg("weights", "path", None, "`.npz` or Keras 1 `.h5` with one array (input_dim, output_dim).",
                    nullable=True),
            )
            + COMMON_ARGS,
        ),
        LayerSpec(
            "Masking",
            "Masks timesteps whose features all equal `mask_value`; masked steps become zeros.",
            (Arg("mask_value", "float", 0.0, "The padding value."),) + COMMON_ARGS,
            supports_masking=True,
        ),
        LayerSpec(
            "Dense",
            "y = activation(x W + b) on the last axis (2-D or 3-D input).",
            (
                positive_int("output_dim", "Number of output units."),
                Arg("init", "initializer", "glorot_uniform", "Initializer of W."),
                Arg("activation", "activation", "linear", "Activation applied to the output."),
                Arg("W_regularizer", "regularizer", None, REGULARIZER_HELP, nullable=True),
                Arg("b_regularizer", "regularizer", None, REGULARIZER_HELP, nullable=True),
                _constraint("W_constraint", CONSTRAINT_HELP + " W is `[D, output_dim]` (Keras 2/3 "
                            "`kernel_constraint`)."),
                _constraint("b_constraint", "Like `W_constraint`, on b (Keras 2/3 `bias_constraint`)."),
                ACTIVITY_ARG,
                Arg("bias", "bool", True, "Whether to add a bias b."),
                Arg("weights", "path", None, "`.npz` or Keras 1 `.h5` with `[W, b]` (or `[W]` without bias).",
                    nullable=True),
                Arg("input_dim", "int", None, "Input size, for a first layer.", low=1, nullable=True),
            )
            + COMMON_ARGS,
        ),
        LayerSpec(
            "TimeDistributed",
            "Applies `layer` to every timestep of a (B, T, ...) input.",
            (Arg("layer", "layer", REQUIRED, "The wrapped layer, e.g. `{type: Dense, output_dim: 1}`."),) + COMMON_ARGS,
            supports_masking=True,
            wrapper=True,
        ),
        LayerSpec(
            "Dropout",
            "Inverted dropout during training only.",
            (_rate("p", "Fraction of inputs to drop, in [0, 1)."),) + COMMON_ARGS,
            supports_masking=True,
        ),
        LayerSpec("Flatten", "Flattens (B, ...) to (B, prod(...)); needs a fully known shape.", COMMON_ARGS),
        LayerSpec(
            "RepeatVector",
            "Repeats a (B, F) input n times: (B, n, F).",
            (positive_int("n", "Number of repetitions."),) + COMMON_ARGS,
        ),
        LayerSpec(
            "Activation",
            "Applies an activation function.",
            (Arg("activation", "activation", REQUIRED, "The activation."),) + COMMON_ARGS,
            supports_masking=True,
        ),
        LayerSpec(
            "Bidirectional",
            "Runs a recurrent `layer` forwards and a copy backwards and merges their outputs.",
            (
                Arg("layer", "layer", REQUIRED, "The recurrent layer, e.g. `{type: LSTM, output_dim: 64}`."),
                Arg("merge_mode", "choice", "concat", "How to merge the two directions.", choices=MERGE_MODES),
            )
            + COMMON_ARGS,
            supports_masking=True,
            wrapper=True,
        ),
    )
}


def _pooling_args(kind: str) -> tuple[Arg, ...]:
    return (
        positive_int("pool_length", f"Size of the {kind} window over time.", 2),
        positive_int("stride", "Step between windows (default: `pool_length`).", None, nullable=True),
        Arg("border_mode", "choice", "valid", "`valid` (no padding) or `same` (output length ceil(T/stride)).",
            choices=("valid", "same")),
    ) + COMMON_ARGS


# Keras 1 layers that recurrent models commonly sit next to (Keras 1.2.2 argument names). None of them supports
# masking in Keras 1: a mask reaching them is refused, as Keras 1 refused it.
LAYER_SPECS.update({
    spec.type: spec
    for spec in (
        LayerSpec(
            "InputLayer",
            "Declares the model input (first layer only): `batch_input_shape` or `input_shape`; identity.",
            (Arg("input_dtype", "choice", None, "`int32` for integer indices (Embedding next), else `float32`.",
                 choices=("float32", "int32"), nullable=True),
             Arg("sparse", "bool", False, "Keras 1 sparse placeholder; rnncli supports dense inputs only."))
            + COMMON_ARGS,
        ),
        LayerSpec(
            "Reshape",
            "Reshapes (B, ...) to (B, *target_shape); one entry may be -1 (inferred).",
            (Arg("target_shape", "any", REQUIRED, "The new shape without the batch axis, e.g. `[10, 4]`."),)
            + COMMON_ARGS,
        ),
        LayerSpec(
            "Permute",
            "Permutes the non-batch axes; `dims` are 1-based, e.g. `[2, 1]` swaps time and features.",
            (Arg("dims", "any", REQUIRED, "A permutation of 1..n, e.g. `[2, 1]`."),) + COMMON_ARGS,
        ),
        LayerSpec(
            "Convolution1D",
            "Temporal convolution: (B, T, D) -> (B, T', nb_filter), y = activation(conv(x, W) + b).",
            (
                positive_int("nb_filter", "Number of filters (output features)."),
                positive_int("filter_length", "Length of each filter over time."),
                Arg("init", "initializer", "glorot_uniform", "Initializer of the kernel W."),
                Arg("activation", "activation", "linear", "Activation applied to the output."),
                Arg("border_mode", "choice", "valid", "`valid` (T' = T - L + 1, strided) or `same` (T' = ceil(T/s)).",
                    choices=("valid", "same")),
                positive_int("subsample_length", "Stride over time.", 1),
                Arg("W_regularizer", "regularizer", None, REGULARIZER_HELP, nullable=True),
                Arg("b_regularizer", "regularizer", None, REGULARIZER_HELP, nullable=True),
                _constraint("W_constraint", CONSTRAINT_HELP + " Applied to W as rnncli and Keras 2/3 store it, "
                            "`[L, D, F]` (e.g. `axis: [0, 1]` per filter)."),
                _constraint("b_constraint", "Like `W_constraint`, on b (Keras 2/3 `bias_constraint`)."),
                ACTIVITY_ARG,
                Arg("bias", "bool", True, "Whether to add a bias b."),
                Arg("weights", "path", None, "`.npz` or Keras 1 `.h5` with `[W, b]`; W (L, 1, D, F) as Keras 1.1+ "
                    "stores it, (F, D, L, 1) as Keras 1.0 did, or (L, D, F).", nullable=True),
            )
            + INPUT_DIM_ARGS + COMMON_ARGS,
        ),
        LayerSpec("MaxPooling1D", "Max over windows of time: (B, T, F) -> (B, T', F).", _pooling_args("max")),
        LayerSpec("AveragePooling1D", "Mean over windows of time: (B, T, F) -> (B, T', F).", _pooling_args("mean")),
        LayerSpec("GlobalMaxPooling1D", "Max over all timesteps: (B, T, F) -> (B, F).", COMMON_ARGS),
        LayerSpec("GlobalAveragePooling1D", "Mean over all timesteps: (B, T, F) -> (B, F).", COMMON_ARGS),
    )
})

LAYER_SPECS["BatchNormalization"] = LayerSpec(
    "BatchNormalization",
    "Normalises the last axis: batch statistics while training (updating the moving ones), moving statistics "
    "otherwise; Keras 1 `mode: 0`, Keras 2 and 3 (weights gamma, beta, moving mean, moving variance).",
    (
        Arg("epsilon", "float", 1e-3, "Added to the variance before the square root.", low=0.0, low_open=True),
        Arg("momentum", "float", 0.99, "Moving statistics: momentum * moving + (1 - momentum) * batch.", low=0.0,
            high=1.0),
        Arg("mode", "choice", 0, "Keras 1 mode; only 0 (feature-wise, batch statistics in training) is supported.",
            choices=(0,)),
        Arg("axis", "int", -1, "Normalised axis: the last one (-1, or its index counting the batch axis)."),
        Arg("center", "bool", True, "Add the learned offset beta (beyond Keras 1, which always did)."),
        Arg("scale", "bool", True, "Multiply by the learned gamma (beyond Keras 1, which always did)."),
        Arg("gamma_init", "initializer", "one", "Initializer of gamma."),
        Arg("beta_init", "initializer", "zero", "Initializer of beta."),
        Arg("gamma_regularizer", "regularizer", None, REGULARIZER_HELP, nullable=True),
        Arg("beta_regularizer", "regularizer", None, REGULARIZER_HELP, nullable=True),
        _constraint("gamma_constraint", "Beyond Keras 1 (Keras 2/3): " + CONSTRAINT_HELP),
        _constraint("beta_constraint", "Beyond Keras 1 (Keras 2/3): like `gamma_constraint`, on beta."),
        Arg("weights", "path", None, "`.npz` or Keras `.h5` with `[gamma, beta, moving_mean, moving_variance]`.",
            nullable=True),
        Arg("input_dim", "int", None, "Input size, for a first layer.", low=1, nullable=True),
    ) + COMMON_ARGS,
)

# Keras 1 advanced activations, SpatialDropout1D and the Keras 1 dense variants (Keras 1.2.2 names).
LAYER_SPECS.update({
    spec.type: spec
    for spec in (
        LayerSpec("LeakyReLU", "y = x for x > 0, else alpha * x.",
                  (Arg("alpha", "float", 0.3, "Slope for x <= 0.", low=0.0),) + COMMON_ARGS, supports_masking=True),
        LayerSpec("ELU", "y = x for x > 0, else alpha * (exp(x) - 1).",
                  (Arg("alpha", "float", 1.0, "Scale for x <= 0.", low=0.0),) + COMMON_ARGS, supports_masking=True),
        LayerSpec("PReLU", "y = relu(x) + alphas * min(x, 0), alphas learned per position and feature.",
                  (Arg("init", "initializer", "zero", "Initializer of the alphas."),
                   Arg("shared_axes", "any", None, "Beyond Keras 1 (Keras 2): 1-based axes the alphas are shared "
                       "over, e.g. `[1]` for one alpha per feature whatever the number of timesteps.",
                       nullable=True),
                   Arg("weights", "path", None, "`.npz` or Keras `.h5` with `[alphas]`.", nullable=True))
                  + COMMON_ARGS, supports_masking=True),
        LayerSpec("SpatialDropout1D", "Drops whole feature channels of (B, T, F) in training (one mask per sample).",
                  (_rate("p", "Fraction of channels to drop, in [0, 1)."),) + COMMON_ARGS, supports_masking=True),
        LayerSpec("Highway", "Keras 1 Highway on (B, F): t = sigmoid(x W_c + b_c); y = act(x W + b) t + (1 - t) x.",
                  (Arg("init", "initializer", "glorot_uniform", "Initializer of W and W_carry."),
                   Arg("activation", "activation", "linear", "Activation of the transformed path."),
                   Arg("transform_bias", "float", -2.0, "Initial value of b_carry."),
                   Arg("W_regularizer", "regularizer", None, REGULARIZER_HELP, nullable=True),
                   Arg("b_regularizer", "regularizer", None, REGULARIZER_HELP, nullable=True),
                   Arg("bias", "bool", True, "Whether to add b and b_carry."),
                   Arg("weights", "path", None, "`.npz` or Keras 1 `.h5` with `[W, W_carry, b, b_carry]`.",
                       nullable=True),
                   Arg("input_dim", "int", None, "Input size, for a first layer.", low=1, nullable=True))
                  + COMMON_ARGS),
        LayerSpec("MaxoutDense", "Keras 1 MaxoutDense on (B, F): y = max_k (x W_k + b_k).",
                  (positive_int("output_dim", "Number of output units."),
                   positive_int("nb_feature", "Number of linear pieces k.", 4),
                   Arg("init", "initializer", "glorot_uniform", "Initializer of W [k, F, output_dim]."),
                   Arg("W_regularizer", "regularizer", None, REGULARIZER_HELP, nullable=True),
                   Arg("b_regularizer", "regularizer", None, REGULARIZER_HELP, nullable=True),
                   Arg("bias", "bool", True, "Whether to add b [k, output_dim]."),
                   Arg("weights", "path", None, "`.npz` or Keras 1 `.h5` with `[W, b]`.", nullable=True),
                   Arg("input_dim", "int", None, "Input size, for a first layer.", low=1, nullable=True))
                  + COMMON_ARGS),
    )
})

# Layers that may sit inside TimeDistributed (applied to one timestep at a time).
TIME_DISTRIBUTABLE = ("Dense", "Activation", "Dropout")
