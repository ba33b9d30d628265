"""Keras 2 documents whose math is Keras 1 math, rewritten as the Keras 1 documents they correspond to.

Keras 2 renamed the arguments (``units``, ``kernel_initializer``, ``recurrent_dropout``, ...) but kept the Keras 1
functions for LSTM, SimpleRNN and GRU with ``reset_after: false``, and stores their weights in Keras 1's fused
``gpu`` layout (``[kernel, recurrent_kernel, bias]``, blocks i, f, c, o / z, r, h), so such models import exactly.
The mapping follows Keras 2.0.0's ``keras/legacy/interfaces.py`` (spec §14.1) in reverse. A GRU with
``reset_after: true`` becomes rnncli's GRU with the same argument (beyond Keras 1, bias ``[2, 3u]``). The CuDNN
layers of Keras 2.0.9-2.2 become what tf.keras 2's loader made of them: ``CuDNNLSTM`` an LSTM with sigmoid gates
(its two bias vectors summed when the weights are read), ``CuDNNGRU`` a GRU with ``reset_after`` and sigmoid gates
(``rnncli.config.weight_layouts.from_cudnn`` converts their weights). Constraints (``kernel_constraint`` ...) become rnncli's ``W_constraint``/``U_constraint``/``b_constraint`` (the
same weights, stored alike), ``activity_regularizer`` rnncli's with ``batch_mean`` as the version computed it.
``return_state`` is kept for the graph reader (``rnncli.config.keras1_graph``: the states become tensors
``name:1``, ``name:2``). Anything without an rnncli equivalent (``time_major``, ``return_state`` inside a wrapper, a
constraint rnncli does not have, a bias-free recurrent layer, an initializer Keras 1 did not have, any other layer
type) is refused with one message naming the layer and why.
Pure Python: no TensorFlow.
"""

from __future__ import annotations

from typing import Any

from rnncli.documents.keras_architecture import Refusal, foreign_version, keras_generation

_RECURRENT = ("LSTM", "GRU", "SimpleRNN")
# CuDNN layers (Keras 2.0.9-2.2, tf.keras 1.x): the rnncli layer each computes (tanh, sigmoid gates, fused weights)
CUDNN_LAYERS = {"CuDNNLSTM": "LSTM", "CuDNNGRU": "GRU"}
_PLAIN = ("Activation", "Flatten", "RepeatVector", "Masking", "Reshape", "Permute", "GlobalMaxPooling1D",
          "GlobalAveragePooling1D")
_COMMON = ("name", "trainable", "batch_input_shape", "input_shape")
_IGNORED = ("dtype", "seed", "noise_shape", "data_format", "time_major", "zero_output_for_mask", "ragged")
_IMPLEMENTATION = {0: "cpu", 1: "mem", 2: "gpu"}
# the constraint keys each layer type imports, and rnncli's (Keras 1) names for them
_RECURRENT_CONSTRAINTS = {"kernel_constraint": "W_constraint", "recurrent_constraint": "U_constraint",
                          "bias_constraint": "b_constraint"}
_CONSTRAINT_KEYS = {
    # not the CuDNN layers: their weights are re-laid out (biases summed, kernel blocks reordered), so a norm of the
    # stored array is not a norm of rnncli's
    **{kind: _RECURRENT_CONSTRAINTS for kind in _RECURRENT},
    "Dense": {"kernel_constraint": "W_constraint", "bias_constraint": "b_constraint"},
    "Conv1D": {"kernel_constraint": "W_constraint", "bias_constraint": "b_constraint"},
    "Convolution1D": {"kernel_constraint": "W_constraint", "bias_constraint": "b_constraint"},
    "Embedding": {"embeddings_constraint": "W_constraint"},
    "BatchNormalization": {"gamma_constraint": "gamma_constraint", "beta_constraint": "beta_constraint"},
}
_ALL_CONSTRAINT_KEYS = ("kernel_constraint", "recurrent_constraint", "bias_constraint", "embeddings_constraint",
                        "beta_constraint", "gamma_constraint", "depthwise_constraint", "pointwise_constraint")
_ACTIVITY_LAYERS = _RECURRENT + tuple(CUDNN_LAYERS) + ("Dense", "Embedding", "Conv1D", "Convolution1D")
_CONSTRAINTS = ("MaxNorm", "NonNeg", "UnitNorm", "MinMaxNorm", "max_norm", "non_neg", "unit_norm", "min_max_norm",
                "maxnorm", "nonneg", "unitnorm")


def normalize(doc: Any) -> tuple[Any, list[str]]:
    """A Keras 1 document for ``doc``: Keras 1 as it is, Keras 2 and 3 converted (with a notice); Keras 0.3
    refused (``Refusal``, one line)."""
    generation = keras_generation(doc)
    if generation is None:
        return doc, []
    if generation == "3" and "class_name" in doc:
        from rnncli.documents.keras3 import from_keras3

        doc = from_keras3(doc)
    elif generation != "2" or "class_name" not in doc:
        raise foreign_version(doc)
    converted = convert_keras2(doc)
    notes = [f"read as the Keras 1 model it computes (converted from Keras {converted['converted_from_keras']}"
             f" argument names and weight layout)"]
    return converted, notes + cudnn_notes(doc)


def cudnn_notes(doc: dict) -> list[str]:
    """One line per CuDNN layer of ``doc``, saying what it became."""
    notes = []
    for entry in _layer_entries(doc):
        kind = entry.get("class_name")
        if kind in CUDNN_LAYERS:
            name = entry["config"].get("name", kind)
            became = ("LSTM with sigmoid gates, its input and recurrent biases summed" if kind == "CuDNNLSTM"
                      else "GRU with reset_after: true and sigmoid gates, its two biases as bias [2, 3u]")
            notes.append(f"{kind} layer `{name}` became an rnncli {became} (the same function, run on any device)")
    return notes


def _layer_entries(doc: Any) -> list[dict]:
    """Every layer entry of ``doc``, wrapped layers included."""
    config = doc.get("config") if isinstance(doc, dict) else None
    layers = config.get("layers") if isinstance(config, dict) else config
    out = []
    stack = list(layers) if isinstance(layers, list) else []
    while stack:
        entry = stack.pop(0)
        if isinstance(entry, dict) and isinstance(entry.get("config"), dict):
            out.append(entry)
            inner = entry["config"].get("layer")
            if isinstance(inner, dict):
                stack.append(inner)
    return out


def convert_keras2(doc: dict) -> dict:
    """The Keras 1 document equivalent to the Keras 2 ``doc``; raises ``Refusal`` naming the layer and why."""
    version = doc.get("keras_version") or "2"
    config = doc.get("config")
    if isinstance(config, dict) and isinstance(config.get("layers"), list):
        new_config: Any = dict(config, layers=[_entry(e, version) for e in config["layers"]])
    elif isinstance(config, list):
        new_config = [_entry(e, version) for e in config]
    else:
        raise Refusal(f"this Keras {version} document has no layer list under `config`", doc, "config")
    out = {k: v for k, v in doc.items() if k not in ("config", "keras_version", "backend")}
    out["config"] = new_config
    out["converted_from_keras"] = str(version)
    return out


def _entry(entry: Any, version: str) -> Any:
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        return entry
    kind = entry.get("class_name")
    config = entry["config"]
    name = config.get("name", kind)

    def refuse(reason: str, key: str | None = None) -> Refusal:
        return Refusal(f"Keras {version} layer `{name}` ({kind}) {reason}; rnncli imports Keras 2 models only where "
                       f"the math is Keras 1's", config, key)

    constraints = {key: name for key, name in _CONSTRAINT_KEYS.get(kind, {}).items()
                   if config.get(key) is not None}
    for key in _ALL_CONSTRAINT_KEYS:
        if config.get(key) is not None and key not in constraints:
            raise refuse(f"has `{key}`, which rnncli does not support on this layer", key)
    if config.get("activity_regularizer") is not None and kind not in _ACTIVITY_LAYERS:
        raise refuse("has `activity_regularizer`, which rnncli supports on Dense, Embedding, Conv1D and the "
                     "recurrent layers", "activity_regularizer")
    if kind in ("Lambda", "Merge", "Concatenate", "Add", "Multiply", "Average", "Maximum", "Dot", "Subtract"):
        # a graph's merge (a chain refuses it later, with its own reason); Keras 2.2+ and 3 write its `dtype`
        return dict(entry, config={k: v for k, v in config.items() if k not in _IGNORED})
    out = {k: config[k] for k in _COMMON if k in config}
    if kind in CUDNN_LAYERS:
        _recurrent(dict(config, recurrent_activation="sigmoid", activation="tanh", implementation=2,
                        reset_after=kind == "CuDNNGRU"), out, CUDNN_LAYERS[kind], refuse)
        kind = CUDNN_LAYERS[kind]
    elif kind in _RECURRENT:
        _recurrent(config, out, kind, refuse)
    elif kind == "Dense":
        out.update(output_dim=config["units"], activation=config.get("activation", "linear"),
                   bias=bool(config.get("use_bias", True)), init=_initializer(config.get("kernel_initializer"), refuse),
                   W_regularizer=_regularizer(config.get("kernel_regularizer"), refuse),
                   b_regularizer=_regularizer(config.get("bias_regularizer"), refuse))
    elif kind == "Embedding":
        out.update(input_dim=config["input_dim"], output_dim=config["output_dim"],
                   mask_zero=bool(config.get("mask_zero", False)),
                   init=_initializer(config.get("embeddings_initializer"), refuse),
                   W_regularizer=_regularizer(config.get("embeddings_regularizer"), refuse))
        if config.get("input_length") is not None:
            out["input_length"] = config["input_length"]
    elif kind == "Dropout":
        out["p"] = config.get("rate", 0.0)
    elif kind == "InputLayer":
        if config.get("sparse") or config.get("ragged"):
            raise refuse("is sparse or ragged; rnncli supports dense inputs only")
        out["input_dtype"] = "int32" if str(config.get("dtype", "float32")).startswith("int") else "float32"
    elif kind in ("TimeDistributed", "Bidirectional"):
        out["layer"] = _entry(config["layer"], version)
        if out["layer"].get("config", {}).get("return_state"):
            raise refuse("wraps a layer with `return_state: true`; rnncli returns the states of a recurrent layer "
                         "that is not wrapped", "layer")
        if kind == "Bidirectional":
            if _forces_zero_output(version) and out["layer"]["config"].get("return_sequences"):
                # tf.keras 2.3+ and Keras 3 force `zero_output_for_mask = return_sequences` on both directions
                out["layer"]["config"]["zero_output_for_mask"] = True
            if config.get("backward_layer") is not None:
                raise refuse("has its own `backward_layer`; Keras 1 ran a copy of the forward layer backwards")
            out["merge_mode"] = config.get("merge_mode", "concat")
    elif kind == "LeakyReLU" and ("negative_slope" in config or "alpha" in config):
        out["alpha"] = config.get("negative_slope", config.get("alpha", 0.3))
    elif kind == "ELU":
        out["alpha"] = config.get("alpha", 1.0)
    elif kind == "PReLU" and ("alpha_initializer" in config or "shared_axes" in config):
        if config.get("alpha_constraint") is not None:
            raise refuse("has `alpha_constraint`, which rnncli does not support", "alpha_constraint")
        out.update(init=_initializer(config.get("alpha_initializer") or "zeros", refuse),
                   shared_axes=config.get("shared_axes"))
        if config.get("alpha_regularizer") is not None:
            raise refuse("has `alpha_regularizer`, which rnncli's PReLU does not have", "alpha_regularizer")
    elif kind == "SpatialDropout1D":
        out["p"] = config.get("rate", config.get("p", 0.0))
    elif kind == "BatchNormalization" and "center" in config:
        _batch_normalization(config, out, refuse)
    elif kind in ("Conv1D", "Convolution1D") and "filters" in config:
        _conv1d(config, out, refuse)
        kind = "Convolution1D"
    elif kind in ("MaxPooling1D", "AveragePooling1D", "MaxPool1D", "AvgPool1D") and "pool_size" in config:
        _pooling1d(config, out, refuse)
        kind = {"MaxPool1D": "MaxPooling1D", "AvgPool1D": "AveragePooling1D"}.get(kind, kind)
    elif kind in _PLAIN:
        if kind.startswith("Global") and config.get("keepdims"):
            raise refuse("has `keepdims: true`; rnncli's global pooling drops the time axis", "keepdims")
        out.update({k: v for k, v in config.items() if k not in _COMMON and k not in _IGNORED and k != "keepdims"})
    elif kind in ("Model", "Sequential", "Functional"):
        return entry  # nested model: refused by the chain check
    else:
        raise refuse("has no Keras 1 counterpart that rnncli imports")
    for key, name in constraints.items():
        out[name] = _constraint(config[key], refuse)
    if config.get("activity_regularizer") is not None:
        out["activity_regularizer"] = dict(_regularizer(config["activity_regularizer"], refuse),
                                           batch_mean=_divides_activity_by_batch(version))
    result = {"class_name": kind, "config": out}
    for key in ("name", "inbound_nodes"):
        if key in entry:
            result[key] = entry[key]
    return result


def _one(value: Any) -> Any:
    """Keras 2/3 write 1-D sizes as one-element lists (``kernel_size: [3]``)."""
    return value[0] if isinstance(value, (list, tuple)) and len(value) == 1 else value


def _conv1d(config: dict, out: dict, refuse: Any) -> None:
    """Keras 2/3 ``Conv1D`` as Keras 1 ``Convolution1D`` (its kernel [L, D, F] is rnncli's layout)."""
    if config.get("padding", "valid") not in ("valid", "same"):
        raise refuse(f"has `padding: {config.get('padding')}`; rnncli's Convolution1D pads `valid` or `same`",
                     "padding")
    if _one(config.get("dilation_rate", 1)) != 1 or config.get("groups", 1) != 1:
        raise refuse("is dilated or grouped; rnncli's Convolution1D is neither", "dilation_rate")
    if config.get("data_format", "channels_last") != "channels_last":
        raise refuse("is `channels_first`; rnncli convolves (batch, timesteps, features)", "data_format")
    out.update(nb_filter=config["filters"], filter_length=_one(config["kernel_size"]),
               subsample_length=_one(config.get("strides", 1)), border_mode=config.get("padding", "valid"),
               activation=config.get("activation") or "linear", bias=bool(config.get("use_bias", True)),
               init=_initializer(config.get("kernel_initializer"), refuse),
               W_regularizer=_regularizer(config.get("kernel_regularizer"), refuse),
               b_regularizer=_regularizer(config.get("bias_regularizer"), refuse))


def _batch_normalization(config: dict, out: dict, refuse: Any) -> None:
    """Keras 2/3 ``BatchNormalization`` (last axis, no renorm/virtual batches/synchronisation) in rnncli's names."""
    for key, neutral in (("renorm", False), ("virtual_batch_size", None), ("adjustment", None),
                         ("synchronized", False)):
        if config.get(key, neutral) != neutral:
            raise refuse(f"has `{key}: {config[key]!r}`, which rnncli's BatchNormalization does not have", key)
    for key, default in (("moving_mean_initializer", "zero"), ("moving_variance_initializer", "one")):
        if _initializer(config.get(key) or default, refuse) != default:
            raise refuse(f"has `{key}` other than {default}s", key)
    axis = config.get("axis", -1)
    out.update(axis=_one(axis) if isinstance(axis, (list, tuple)) else axis,
               momentum=config.get("momentum", 0.99), epsilon=config.get("epsilon", 1e-3),
               center=bool(config.get("center", True)), scale=bool(config.get("scale", True)),
               beta_init=_initializer(config.get("beta_initializer") or "zeros", refuse),
               gamma_init=_initializer(config.get("gamma_initializer") or "ones", refuse),
               beta_regularizer=_regularizer(config.get("beta_regularizer"), refuse),
               gamma_regularizer=_regularizer(config.get("gamma_regularizer"), refuse))


def _pooling1d(config: dict, out: dict, refuse: Any) -> None:
    if config.get("data_format", "channels_last") != "channels_last":
        raise refuse("is `channels_first`; rnncli pools (batch, timesteps, features)", "data_format")
    out.update(pool_length=_one(config["pool_size"]), stride=_one(config.get("strides")),
               border_mode=config.get("padding", "valid"))


def _constraint(value: Any, refuse: Any) -> dict:
    """Keras 2/3 ``{class_name: MaxNorm, config: {max_value, axis}}`` as rnncli's ``{name: MaxNorm, ...}`` (the
    config validator takes the Keras names and checks the arguments)."""
    kind = value.get("class_name") if isinstance(value, dict) else value
    if kind not in _CONSTRAINTS:
        raise refuse(f"uses constraint {kind!r}, which rnncli does not have (it has MaxNorm, NonNeg, UnitNorm, "
                     f"MinMaxNorm)")
    args = (value.get("config") or {}) if isinstance(value, dict) else {}
    return {"name": kind, **args}


def _divides_activity_by_batch(version: str) -> bool:
    """Whether this Keras version divides an activity penalty by the batch size: tf.keras 2 (``2.x-tf``, 2.4+,
    tf-keras) and Keras 3 do; Keras 1.2 and standalone Keras 2.0-2.3 add the plain sum."""
    parts = str(version).split(".")
    try:
        major, minor = int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return True
    return major >= 3 or "tf" in str(version) or (major == 2 and minor >= 4)


def _forces_zero_output(version: str) -> bool:
    """Whether this Keras version's Bidirectional zeroes masked output steps (tf.keras 2.3+, tf-keras, Keras 3;
    its ``force_zero_output_for_mask``); standalone Keras 2.0-2.2 repeated the previous output, as Keras 1."""
    parts = str(version).split(".")
    try:
        major, minor = int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return True
    return major >= 3 or (major == 2 and (minor >= 3 or "tf" in str(version)))


def _recurrent(config: dict, out: dict, kind: str, refuse: Any) -> None:
    if config.get("time_major"):
        raise refuse("has `time_major: true` (inputs [T, B, D]); rnncli's recurrent layers take [B, T, D]",
                     "time_major")
    if not config.get("use_bias", True):
        raise refuse("has `use_bias: false`; Keras 1 recurrent layers always have a bias", "use_bias")
    out.update(
        output_dim=config["units"], activation=config.get("activation", "tanh"),
        init=_initializer(config.get("kernel_initializer"), refuse),
        inner_init=_initializer(config.get("recurrent_initializer"), refuse),
        W_regularizer=_regularizer(config.get("kernel_regularizer"), refuse),
        U_regularizer=_regularizer(config.get("recurrent_regularizer"), refuse),
        b_regularizer=_regularizer(config.get("bias_regularizer"), refuse),
        dropout_W=config.get("dropout", 0.0), dropout_U=config.get("recurrent_dropout", 0.0),
        return_sequences=bool(config.get("return_sequences", False)),
        go_backwards=bool(config.get("go_backwards", False)), stateful=bool(config.get("stateful", False)),
        unroll=bool(config.get("unroll", False)),
        consume_less=_IMPLEMENTATION.get(config.get("implementation", 0), "cpu"))
    if kind != "SimpleRNN":
        out["inner_activation"] = config.get("recurrent_activation", "hard_sigmoid")
    if kind == "GRU" and config.get("reset_after"):
        out["reset_after"] = True
    if config.get("zero_output_for_mask"):
        out["zero_output_for_mask"] = True
    if config.get("return_state"):
        out["return_state"] = True  # a graph key: the states become tensors `name:1` (h) and `name:2` (LSTM's c)
    if kind == "LSTM":
        out["forget_bias_init"] = "one" if config.get("unit_forget_bias", True) else "zero"


def _initializer(value: Any, refuse: Any) -> Any:
    """Keras 2 ``{class_name, config}`` -> the Keras 1 name (or ``{name, scale}``)."""
    if value is None or isinstance(value, str):
        return {"glorot_uniform": "glorot_uniform", "zeros": "zero", "ones": "one"}.get(value, value) \
            if value is not None else "glorot_uniform"
    kind, args = value.get("class_name"), value.get("config") or {}
    if kind == "VarianceScaling":
        key = (args.get("mode"), str(args.get("distribution")).replace("truncated_normal", "normal"),
               float(args.get("scale", 1.0)))
        names = {("fan_avg", "uniform", 1.0): "glorot_uniform", ("fan_avg", "normal", 1.0): "glorot_normal",
                 ("fan_in", "uniform", 1.0): "lecun_uniform", ("fan_in", "normal", 2.0): "he_normal",
                 ("fan_in", "uniform", 2.0): "he_uniform"}
        if key in names:
            return names[key]
    simple = {"GlorotUniform": "glorot_uniform", "GlorotNormal": "glorot_normal", "LecunUniform": "lecun_uniform",
              "HeNormal": "he_normal", "HeUniform": "he_uniform", "Zeros": "zero", "Ones": "one"}
    if kind in simple:
        return simple[kind]
    if kind == "Orthogonal":
        return {"name": "orthogonal", "scale": float(args.get("gain", 1.0))}
    if kind == "Identity":
        return {"name": "identity", "scale": float(args.get("gain", 1.0))}
    if kind == "RandomUniform" and args.get("minval") == -args.get("maxval", 0):
        return {"name": "uniform", "scale": float(args["maxval"])}
    if kind in ("RandomNormal", "TruncatedNormal") and not args.get("mean"):
        return {"name": "normal", "scale": float(args.get("stddev", 0.05))}
    raise refuse(f"uses initializer {kind} {args}, which has no Keras 1 equivalent")


def _regularizer(value: Any, refuse: Any) -> Any:
    if value is None:
        return None
    args = value.get("config") or {} if isinstance(value, dict) else {}
    if isinstance(value, dict) and value.get("class_name") in ("L1L2", "L1", "L2"):
        return {"l1": float(args.get("l1", 0.0)), "l2": float(args.get("l2", 0.0))}
    raise refuse(f"uses regularizer {value!r}, which has no Keras 1 equivalent")
