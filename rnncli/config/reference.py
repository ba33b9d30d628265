"""The config reference in Markdown, generated from the argument declarations (``python -m rnncli.config.reference``).

The README embeds this text between ``<!-- config-reference:start -->`` and ``<!-- config-reference:end -->``; a test
fails when the checked-in copy is stale. ``python -m rnncli.config.reference --write README.md`` refreshes it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rnncli.config.args import LAYER_SPECS, Arg
from rnncli.config.graph_args import GRAPH_LAYER_ARGS, INPUT_ARGS, MERGE_SPECS

from rnncli.config.section_args import (
    CALLBACK_ARGS,
    CHECKPOINT_ARGS,
    DATA_ARGS,
    LR_SCHEDULE_ARGS,
    PAD_ARGS,
    SERIES_ARGS,
    SERIES_SPLIT_ARGS,
    TOP_LEVEL_ARGS,
    TRAINING_ARGS,
)
from rnncli.config.training_specs import LOSSES, METRICS, OPTIMIZERS
from rnncli.config.tune import PRUNER_ARGS, SAMPLER_ARGS, TUNE_ARGS

START = "<!-- config-reference:start -->"
END = "<!-- config-reference:end -->"


def _default(arg: Arg) -> str:
    if arg.required:
        return "**required**"
    return f"`{arg.default!r}`".replace("'", "") if arg.default is not None else "`null`"


def _table(args: tuple[Arg, ...]) -> list[str]:
    lines = ["| key | kind | default | allowed | meaning |", "|---|---|---|---|---|"]
    for arg in args:
        lines.append(f"| `{arg.name}` | {arg.kind} | {_default(arg)} | {arg.describe_range()} | {arg.help} |")
    return lines


def render() -> str:
    out = ["### Top level", "", *_table(TOP_LEVEL_ARGS), ""]
    out += ["### Layers (`model.layers[]`)", "",
            "Every layer also accepts `name`, `trainable`, `input_shape` and `batch_input_shape`.", ""]
    common = {"name", "trainable", "input_shape", "batch_input_shape"}
    for spec in LAYER_SPECS.values():
        own = tuple(a for a in spec.args if a.name not in common)
        mask = "passes masks on" if spec.supports_masking else "does not accept a mask"
        out += [f"#### `{spec.type}`", "", f"{spec.doc} ({mask})", ""]
        out += (_table(own) if own else ["(no arguments of its own)"]) + [""]
    out += ["### Graphs (`model.inputs`, `model.outputs`; see [Graphs](#graphs))", "",
            "`model.inputs.NAME`:", "", *_table(INPUT_ARGS), "",
            "Keys any layer of a graph may carry besides its own:", "", *_table(GRAPH_LAYER_ARGS), ""]
    for spec in MERGE_SPECS.values():
        own = tuple(a for a in spec.args if a.name not in common)
        out += [f"#### `{spec.type}` (graphs only)", "", spec.doc, ""]
        out += (_table(own) if own else ["(no arguments of its own)"]) + [""]
    out += ["### `data:`", "", *_table(DATA_ARGS), ""]
    out += ["`data.series` (sample n: `window` steps of `inputs` from step n*stride; target: `outputs` steps of "
            "`targets` from `horizon` steps after the window's last step):", "", *_table(SERIES_ARGS), ""]
    out += ["`data.series.split`:", "", *_table(SERIES_SPLIT_ARGS), ""]
    out += ["`data.pad`:", "", *_table(PAD_ARGS), ""]
    out += ["### `training:`", "", *_table(TRAINING_ARGS), ""]
    out += ["Losses: " + ", ".join(f"`{name}`" for name in LOSSES) + ".", ""]
    out += ["Metrics: " + ", ".join(f"`{name}`" for name in METRICS) + ".", ""]
    out += ["Optimizers (Keras 1 formulas and defaults):", "", "| optimizer | arguments (default) |", "|---|---|"]
    for name, args in OPTIMIZERS.items():
        out.append(f"| `{name}` | " + ", ".join(f"`{a.name}` ({a.default})" for a in args) + " |")
    out += ["", "`training.callbacks`:", ""]
    for name, args in CALLBACK_ARGS.items():
        out += [f"`{name}`:", "", *_table(args), ""]
    out += ["`training.checkpoint`:", "", *_table(CHECKPOINT_ARGS), ""]
    out += ["`training.lr_schedule` (`{name: ..., ...}`; each step uses lr = `optimizer.lr` x factor(position), "
            "position counted from 0 in `unit`s; the formulas are Keras 3's schedules):", ""]
    for name, args in LR_SCHEDULE_ARGS.items():
        out += [f"`{name}`:", "", *_table(args), ""]
    out += ["### `tune:` (`rnncli tune`)", "", *_table(TUNE_ARGS), ""]
    for title, declared in (("tune.sampler", SAMPLER_ARGS), ("tune.pruner", PRUNER_ARGS)):
        for name, args in declared.items():
            out += [f"`{title}` `{name}`:", "", *_table(args), ""]
    return "\n".join(out)


def embed(readme: str) -> str:
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{render()}\n{END}{tail}"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        target = Path(sys.argv[2])
        target.write_text(embed(target.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(render())
