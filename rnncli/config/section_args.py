"""The declarations of the config's top level and its `data:` and `training:` sections: every key with its kind,
default and help text (the layers' are in ``rnncli.config.args``). The validator, the defaults, the README's config
reference and ``rnncli init`` all read them from here."""

from __future__ import annotations

from rnncli.config.args import REQUIRED, Arg, positive_int


DATA_ARGS = (
    Arg("train", "path", REQUIRED, "Training data: `.npz` with arrays `x` and `y`; an `x` `.npy` (with `y_train`); "
        "`.csv` (last column is y; for a sequence model `[T, D]` a row holds T*D values, step by step); or a "
        "`.txt` corpus for character models (with `window`)."),
    Arg("y_train", "path", None, "Targets `.npy` when `train` is an `x` `.npy` file.", nullable=True),
    Arg("validation", "path", None, "Validation data, same formats as `train`.", nullable=True),
    Arg("y_validation", "path", None, "Targets `.npy` when `validation` is an `x` `.npy` file.", nullable=True),
    Arg("validation_split", "float", 0.0, "Hold out this last fraction of `train` (unshuffled, as Keras 1); not "
        "together with `validation`.",
        low=0.0, high=1.0, high_open=True),
    Arg("window", "int", None, "Plain-text training data (`.txt`): characters per input window (one-hot).",
        low=1, nullable=True),
    Arg("step", "int", 3, "Plain-text data: stride between successive windows.", low=1),
    Arg("lowercase", "bool", False, "Plain-text data: lower-case the text first."),
    Arg("vocab", "str", None, "Plain-text data: the alphabet, in index order (default: the sorted characters of "
        "the training text; give it to train on other texts with the same input size).", nullable=True),
    Arg("remainder", "choice", "error",
        "Stateful models: what to do with samples that do not fill a whole batch.", choices=("error", "drop")),
    Arg("sample_weight", "str", None,
        "Per-sample loss weights (Keras 1 `fit(sample_weight=...)`): the name of an array in the `.npz` data files "
        "(shape [N], or [N, T] with `training.sample_weight_mode: temporal`) or of a header column of `.csv` data "
        "files (that column is then not an input). Validation files without it weigh every sample 1.",
        nullable=True),
    Arg("sample_weight_train", "path", None, "Sample weights `.npy` ([N] or [N, T]) when `train` is an `x` `.npy`.",
        nullable=True),
    Arg("sample_weight_validation", "path", None,
        "Sample weights `.npy` when `validation` is an `x` `.npy` (default: every sample weighs 1).", nullable=True),
    Arg("missing", "choice", "error", "Empty cells and NaN in `.csv` data: `error` (names the file line), `drop` "
        "the row, `zero`, `ffill` (the value of the row above; the first rows take the first valid one), "
        "`interpolate` (linear down the column, the ends take the nearest valid value). A series uses "
        "`data.series.missing`.", choices=("error", "drop", "zero", "ffill", "interpolate")),
    Arg("series", "any", None,
        "A long time series cut into windows: `train` (and `validation`) is a `.csv` with a header (one row per "
        "step, columns by name) or a `.npy` `[steps]`/`[steps, columns]` (columns by index); see `data.series` "
        "below.", nullable=True),
    Arg("pad", "any", None,
        "Sequences of different lengths (`train` a `.jsonl` with `{\"x\": [...], \"y\": ...}` per line, or a `.csv` "
        "whose rows differ in length, the last value is y): `{length: N|longest, side: pre|post, truncate: "
        "pre|post, value: 0}` as Keras `pad_sequences`; see `data.pad` below.", nullable=True),
    Arg("buckets", "int", None, "With `pad`: batches are padded only to the smallest of K length boundaries "
        "(quantiles) that holds their longest sequence, and a shuffled epoch batches sequences of one bucket; the "
        "model's timesteps must be null. Under masking the results equal full padding.", low=1, nullable=True),
)

PAD_ARGS = (
    Arg("length", "any", "longest", "Steps after padding: an int N (longer sequences are cut) or `longest`."),
    Arg("side", "choice", "post", "Where the padding goes: `pre` (before the sequence) or `post`.",
        choices=("pre", "post")),
    Arg("truncate", "choice", "pre", "Which end a cut removes: `pre` (the first steps, as Keras) or `post`.",
        choices=("pre", "post")),
    Arg("value", "float", 0.0, "The padding value (0 is what `mask_zero` and a default `Masking` mask)."),
)

MISSING_POLICIES = ("error", "drop", "zero", "ffill", "interpolate")
NORMALIZATIONS = ("none", "standard", "minmax")

# `data.series`: sample i is the window of `window` steps of `inputs` starting at step i*stride; its target is the
# `outputs` steps of `targets` that start `horizon` steps after the window's last step.
SERIES_ARGS = (
    Arg("inputs", "any", None, "Input columns (header names for `.csv`, indices for `.npy`); default: every "
        "column.", nullable=True),
    Arg("targets", "any", REQUIRED, "Target columns (names for `.csv`, indices for `.npy`)."),
    positive_int("window", "Steps per input window (the model's input is [window, len(inputs)]).", REQUIRED),
    positive_int("horizon", "The first target step is this many steps after the window's last step (1: the next "
                 "step).", 1),
    positive_int("outputs", "Target steps per sample: y is [N, outputs, targets] for a model whose output is "
                 "[outputs, targets], or [N, outputs*targets] for a flat output (`validate` says which).", 1),
    Arg("stride", "int", None, "Steps between the starts of successive windows (default 1; a stateful model's "
        "windows follow each other: stride = window).", low=1, nullable=True),
    Arg("split", "any", None, "`{validation: f, test: f}`: the last fractions of the series (by time) held out; "
        "no window straddles two parts. `evaluate RUN` scores the test part (else validation).", nullable=True),
    Arg("missing", "choice", "error", "Empty cells and NaN: `error` (names the file line), `drop` the step, "
        "`zero`, `ffill` (the first values take the first valid one), `interpolate` (linear in the step, the ends "
        "take the nearest valid value).", choices=MISSING_POLICIES),
    Arg("normalize", "choice", "none", "Per-column `standard` (mean/std) or `minmax` scaling fitted on the "
        "training part, saved in the run (`normalization.json`) and applied by predict, evaluate, serve and export; "
        "outputs are mapped back to the targets' units.", choices=NORMALIZATIONS),
)

SERIES_SPLIT_ARGS = (
    Arg("validation", "float", 0.0, "Fraction of the steps (the part before `test`) for validation.",
        low=0.0, high=1.0, high_open=True),
    Arg("test", "float", 0.0, "Fraction of the steps (the last ones) for the test part.", low=0.0, high=1.0,
        high_open=True),
)

CALLBACK_ARGS = {
    "early_stopping": (
        Arg("monitor", "str", "val_loss", "Quantity to watch (`loss`, `val_loss`, `val_acc`, ...)."),
        Arg("patience", "int", 0, "Epochs without improvement before stopping.", low=0),
        Arg("min_delta", "float", 0.0, "Smallest change that counts as an improvement.", low=0.0),
        Arg("mode", "choice", "auto", "Whether the monitored value should go down (`min`) or up (`max`).",
            choices=("auto", "min", "max")),
    ),
    "reduce_lr_on_plateau": (
        Arg("monitor", "str", "val_loss", "Quantity to watch."),
        Arg("factor", "float", 0.1, "New lr = lr * factor.", low=0.0, high=1.0, low_open=True, high_open=True),
        Arg("patience", "int", 10, "Epochs without improvement before reducing.", low=0),
        Arg("min_lr", "float", 0.0, "Lower bound of the learning rate.", low=0.0),
        Arg("epsilon", "float", 1e-4, "Threshold for measuring a new optimum.", low=0.0),
        Arg("cooldown", "int", 0, "Epochs to wait after a reduction.", low=0),
        Arg("mode", "choice", "auto", "`min`, `max` or `auto`.", choices=("auto", "min", "max")),
    ),
}

CHECKPOINT_ARGS = (
    Arg("keep", "int", 3, "How many recent checkpoints to keep.", low=1),
    Arg("every_n_epochs", "int", 1, "Write a checkpoint every N epochs (and after the last one); a best "
        "checkpoint is written whenever `monitor` improves.", low=1),
    Arg("save_best_only", "bool", False,
        "Keep only the newest checkpoint (for --resume) besides the best one in `checkpoints/best/`."),
    Arg("monitor", "str", "val_loss", "Quantity that decides the best checkpoint (`loss` without validation)."),
    Arg("mode", "choice", "auto", "`min`, `max` or `auto`.", choices=("auto", "min", "max")),
)

TRAINING_ARGS = (
    Arg("loss", "str", REQUIRED, "Keras 1 objective name, e.g. `mse`, `categorical_crossentropy`."),
    Arg("optimizer", "any", "rmsprop", "Optimizer name, or a mapping `{name: adam, lr: 0.001, ...}`."),
    Arg("metrics", "list", [], "Metrics to report: `accuracy`, `precision`, `recall`, `fmeasure`, `fbeta_score`, "
        "`top_k_categorical_accuracy` (k = 5) and any loss name."),
    Arg("class_weight", "any", None,
        "Keras 1 `fit(class_weight=...)`: a mapping `{class index: weight}` that weighs each training sample's loss by "
        "its class (argmax of a one-hot target, or the label of a one-unit/sparse target), or `auto` for balanced "
        "weights n_samples / (n_classes * count(class)) (an rnncli extension, as scikit-learn's `balanced`). Ignored "
        "for samples that `data.sample_weight` weighs, as in Keras 1; applies to `validation_split` data too.",
        nullable=True),
    Arg("sample_weight_mode", "choice", None,
        "`temporal`: sample weights are [N, T], one per timestep of a `return_sequences` output (Keras 1 "
        "`compile(sample_weight_mode=...)`); null: one weight per sample.", choices=("temporal",), nullable=True),
    positive_int("batch_size", "Samples per batch (a stateful model's batch size comes from batch_input_shape).", 32),
    positive_int("nb_epoch", "Number of epochs.", 10),
    Arg("shuffle", "bool", True, "Shuffle the training samples every epoch (refused for stateful models)."),
    Arg("reset_states", "any", "epoch",
        "Stateful models: `epoch`, `never`, or `{every_n_batches: N}`: when the states are zeroed."),
    Arg("callbacks", "any", None, "`early_stopping` and `reduce_lr_on_plateau` settings.", nullable=True),
    Arg("checkpoint", "any", None, "`keep`, `save_best_only`, `monitor`, `mode`.", nullable=True),
    Arg("jit_compile", "choice", "auto",
        "Compile the training, evaluation and prediction steps with XLA: `auto` (when the input is "
        "[batch, timesteps, features] with a fixed number of timesteps, no distribution strategy or mixed "
        "precision is used, and the planned steps are expected to save more time than compiling costs; a run keeps "
        "its choice on --resume; short predict/evaluate calls skip XLA), `true` or `false`.",
        choices=("auto", "true", "false")),
    Arg("precision", "choice", "float32",
        "`float32`, or `mixed_bfloat16`: matmuls and activations in bfloat16 while variables, optimizer slots, "
        "carried states, losses and metrics stay float32 (no loss scaling); refused on a CPU without native "
        "bfloat16 (AVX512_BF16 or AMX, see `rnncli doctor`). Checkpoints are the same in both, so a run can resume "
        "or serve in either; `--precision` on train, predict, evaluate and serve overrides it.",
        choices=("float32", "mixed_bfloat16")),
    Arg("deterministic", "bool", True, "Enable TensorFlow op determinism (identical runs for the same seed)."),
    Arg("distribute", "choice", "none", "`none`, `mirrored` (several GPUs/devices) or `multi_worker` (TF_CONFIG).",
        choices=("none", "mirrored", "multi_worker")),
    Arg("devices", "list", [], "Devices for `mirrored`, e.g. `[/gpu:0, /gpu:1]` (default: all visible GPUs)."),
    Arg("lr_schedule", "any", None, "Learning-rate schedule `{name: step|exponential|cosine|piecewise, ...}`: "
        "multiplies `optimizer.lr` (after which Keras 1 `decay` still applies).", nullable=True),
    Arg("restore_best_weights", "bool", False, "At the end of training, set the weights to those of the best "
        "epoch by `checkpoint.monitor` (written as the newest checkpoint; `run.json` records the epoch)."),
    Arg("log_every_n_batches", "int", 0, "TensorBoard: also log the running training loss every N batches "
        "(`batch_loss`); 0 logs per epoch only.", low=0),
    Arg("log_histograms", "bool", False, "TensorBoard: histograms of every weight, and of the per-sample state "
        "norms of stateful layers, after each epoch."),
)

_SCHEDULE_UNIT = Arg("unit", "choice", "epoch", "What the position counts: completed `epoch`s (the factor changes "
                     "between epochs) or optimizer `step`s (batches).", choices=("epoch", "step"))

# `training.lr_schedule`: lr = optimizer.lr * factor(position), position counted from 0 in `unit`s.
LR_SCHEDULE_ARGS = {
    "step": (
        Arg("every", "int", REQUIRED, "Multiply by `drop` every this many units.", low=1),
        Arg("drop", "float", 0.5, "The factor per `every` units: factor = drop ** floor(position / every).",
            low=0.0, high=1.0, low_open=True),
        _SCHEDULE_UNIT,
    ),
    "exponential": (
        Arg("rate", "float", REQUIRED, "factor = rate ** (position / every).", low=0.0, low_open=True),
        Arg("every", "int", 1, "Units per multiplication by `rate`.", low=1),
        Arg("staircase", "bool", False, "Use floor(position / every): constant between multiples of `every`."),
        _SCHEDULE_UNIT,
    ),
    "cosine": (
        Arg("decay", "int", REQUIRED, "Length of the cosine decay from 1 to `alpha` (after the warm-up).", low=1),
        Arg("alpha", "float", 0.0, "Final factor, kept after the decay.", low=0.0, high=1.0),
        Arg("warmup", "int", 0, "Length of a linear warm-up from `warmup_from` to 1 before the decay; with "
            "`unit: epoch` it advances per step within each epoch, so no epoch runs at `warmup_from`.", low=0),
        Arg("warmup_from", "float", 0.0, "Factor at position 0 of the warm-up.", low=0.0, high=1.0),
        _SCHEDULE_UNIT,
    ),
    "piecewise": (
        Arg("boundaries", "any", REQUIRED, "Increasing positions, e.g. `[10, 20]`."),
        Arg("factors", "any", REQUIRED, "One more factor than boundaries, e.g. `[1.0, 0.1, 0.01]`: factors[i] "
            "holds while boundaries[i-1] < position <= boundaries[i]."),
        _SCHEDULE_UNIT,
    ),
}

TOP_LEVEL_ARGS = (
    Arg("seed", "int", 1337, "Seed of every random draw (initializers, dropout, shuffling).", low=0, high=2**31 - 1),
    Arg("model", "any", REQUIRED, "`layers:` list, or a Keras 1 `model.to_yaml()` document."),
    Arg("data", "any", None, "Training data (needed by `train`).", nullable=True),
    Arg("training", "any", None, "Loss, optimizer and loop settings (needed by `train`).", nullable=True),
    Arg("tune", "any", None, "Hyperparameter search of `rnncli tune`: metric, search space, sampler, pruner "
        "(ignored by `train`).", nullable=True),
)
