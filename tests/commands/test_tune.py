"""``rnncli tune``: a sweep of run directories on Optuna; best.yaml reproduces the best trial bit for bit; the
pruner stops a trial that learns nothing; a bad space is refused before training; SIGKILL and a rerun resume the
cut trial; two processes on one PostgreSQL study share the trials. Tiny GRU models, a few epochs each."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from rnncli.config.validate import load_config
from rnncli.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true"}


def _rnncli(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnncli", *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=timeout)


def _config(tmp: Path, tune: str, *, samples: int = 64, epochs: int = 3, batch: int = 16, name: str = "tiny"
            ) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, 5, 2)).astype("float32")
    y = x.sum(axis=(1, 2))[:, None].astype("float32")
    np.savez(tmp / "train.npz", x=x, y=y)
    np.savez(tmp / "val.npz", x=x[:32], y=y[:32])
    path = tmp / f"{name}.yaml"
    path.write_text(f"""seed: 3
model:
  layers:
    - {{type: GRU, output_dim: 4, input_shape: [5, 2]}}
    - {{type: Dense, output_dim: 1}}
data: {{train: train.npz, validation: val.npz}}
training:
  loss: mse
  optimizer: {{name: adam, lr: 0.01}}
  batch_size: {batch}
  nb_epoch: {epochs}
tune:
{tune}""")
    return path


RANDOM_SPACE = """  sampler: random
  space:
    model.layers.0.output_dim: {int: [2, 6]}
    training.optimizer.lr: {float: [1.0e-3, 5.0e-2], log: true}
"""


def _study(url: str, name: str):
    import optuna

    return optuna.load_study(study_name=name, storage=url)


def _states(study) -> dict[int, str]:
    return {t.number: t.state.name for t in study.get_trials() if t.state.name != "WAITING"}


# -- the tune: section -------------------------------------------------------------------------------------------------

def test_space_bounds_are_checked_against_their_args(tmp_path: Path) -> None:
    path = _config(tmp_path, """  space:
    model.layers.0.dropout_U: {float: [0.0, 1.0]}
    model.layers.0.output_dim: {int: [0, 8]}
    model.layers.0.forget_bias_init: {choice: [one, zero]}
    model.layers.0.type: {choice: [GRU, LSTM]}
    training.optimizer.lr: {float: [-1.0, 1.0]}
    training.batch_sise: {int: [1, 4]}
""")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    messages = [str(d) for d in caught.value.diagnostics]
    assert f"{path}:14:31: error: tune.space.model.layers.0.dropout_U: the high bound 1.0 is not allowed " \
           "(for GRU layers): model.layers.0.dropout_U must be in [0, 1), got 1.0" in messages
    assert any(":15:" in m and "the low bound 0 is not allowed" in m and "positive integer" in m for m in messages)
    assert any(":16:" in m and "a GRU layer has no argument `forget_bias_init`" in m for m in messages)
    assert any(":18:" in m and "the low bound -1.0" in m and "training.optimizer.lr" in m for m in messages)
    assert any(":19:" in m and "did you mean `batch_size`?" in m for m in messages)
    assert len(messages) == 5


def test_conditional_choices_and_resolved_section(tmp_path: Path) -> None:
    path = _config(tmp_path, """  metric: val_loss
  pruner: {name: median, startup_trials: 1}
  space:
    model.layers.0.type: {choice: [GRU, LSTM]}
    model.layers.0.forget_bias_init: {choice: [one, zero], when: {model.layers.0.type: LSTM}}
    model.layers.0.output_dim: {int: [2, 9], step: 3}
""")
    tune = load_config(path).tune
    assert tune["direction"] == "minimize" and tune["sampler"] == {"name": "tpe", "seed": None, "startup_trials": 10}
    assert tune["pruner"] == {"name": "median", "startup_trials": 1, "warmup_epochs": 0}
    assert [e["path"] for e in tune["space"]] == ["model.layers.0.type", "model.layers.0.forget_bias_init",
                                                  "model.layers.0.output_dim"]
    assert tune["space"][1]["when"] == {"model.layers.0.type": ["LSTM"]}
    assert tune["space"][2]["high"] == 8  # the highest value the step reaches
    bad = _config(tmp_path, """  metric: val_acc
  sampler: grid
  space:
    model.layers.0.type: {choice: [GRU, LSTM]}
    model.layers.0.forget_bias_init: {choice: [one], when: {model.layers.0.type: SimpleRNN}}
""", name="bad")
    with pytest.raises(ConfigError) as caught:
        load_config(bad)
    text = str(caught.value)
    assert "tune.metric: training does not report `val_acc`" in text
    assert "'SimpleRNN' is not one of the choices of `model.layers.0.type`" in text


def test_invalid_space_is_refused_before_any_training(tmp_path: Path) -> None:
    # each value fits its Arg, but 3 output units do not fit the data's one target column
    path = _config(tmp_path, """  space:
    model.layers.1.output_dim: {int: [1, 3]}
""")
    done = _rnncli("tune", str(path), "-o", "sweep", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"{path}:14:32: error: tune.space.model.layers.1.output_dim: the high bound 3 gives an invalid config:" \
        in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "sweep").exists()


def test_the_example_config_and_every_point_of_its_space_validate() -> None:
    from rnncli.commands.tune import check_space_points

    path = ROOT / "configs" / "tune" / "sunspots.yaml"
    tune = load_config(path, require_training=True).tune
    assert [e["path"] for e in tune["space"]][:2] == ["model.layers.0.type", "model.layers.0.output_dim"]
    check_space_points(path, tune)  # raises ConfigError when a bound or a choice gives an invalid config


# -- sweeps --------------------------------------------------------------------------------------------------------

def test_sweep_runs_n_trials_and_best_yaml_reproduces_the_best_value(tmp_path: Path) -> None:
    path = _config(tmp_path, "  trials: 5\n" + RANDOM_SPACE)
    done = _rnncli("tune", str(path), "-o", "sweep", "--trials", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("trial ")]
    assert len(lines) == 3 and all(" complete value=" in line for line in lines), done.stderr
    sweep = tmp_path / "sweep"
    study = _study(f"sqlite:///{sweep / 'study.db'}", "tiny")
    assert _states(study) == {0: "COMPLETE", 1: "COMPLETE", 2: "COMPLETE"}
    for number in range(3):
        run = json.loads((sweep / f"trial_{number}" / "run.json").read_text())
        assert run["status"] == "finished" and run["epochs_completed"] == 3
        assert (sweep / f"trial_{number}" / "logs").is_dir()
    assert list((sweep / "logs").glob("events.out.tfevents.*"))  # the HParams experiment of the sweep
    assert "Study tiny" in done.stdout and "best config:" in done.stdout
    best = study.best_trial
    assert f"value {best.value!r}" in (sweep / "best.yaml").read_text()
    again = _rnncli("train", str(sweep / "best.yaml"), "-o", "again", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    record = json.loads((tmp_path / "again" / "run.json").read_text())
    assert record["best"]["monitor"] == "val_loss"
    assert record["best"]["value"] == best.value  # bit for bit
    shown = _rnncli("tune", str(path), "-o", "sweep", "--show", cwd=tmp_path)
    assert shown.returncode == 0 and "3 trials" in shown.stdout, shown.stderr
    # the study goes on to the section's total (5) and counts the trials already run
    more = _rnncli("tune", str(path), "-o", "sweep", cwd=tmp_path)
    assert more.returncode == 0, more.stderr
    assert len(_states(_study(f"sqlite:///{sweep / 'study.db'}", "tiny"))) == 5


def test_pruner_stops_the_trial_that_learns_nothing(tmp_path: Path) -> None:
    # grid order (seed 2): lr 0.03, 0.02, then 0.0, whose val_loss stays at the untrained value
    path = _config(tmp_path, """  sampler: {name: grid, seed: 2}
  pruner: {name: median, startup_trials: 2}
  space:
    training.optimizer.lr: {choice: [0.0, 0.02, 0.03]}
""", epochs=4)
    done = _rnncli("tune", str(path), "-o", "sweep", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    study = _study(f"sqlite:///{tmp_path / 'sweep' / 'study.db'}", "tiny")
    trials = {t.params["training.optimizer.lr"]: t for t in study.get_trials() if t.state.name != "WAITING"}
    assert trials[0.0].number == 2, "the grid order changed: the stalled trial must come after the startup trials"
    assert trials[0.0].state.name == "PRUNED" and len(trials[0.0].intermediate_values) < 4
    assert trials[0.02].state.name == trials[0.03].state.name == "COMPLETE"
    record = json.loads((tmp_path / "sweep" / "trial_2" / "run.json").read_text())
    assert record["status"] == "pruned" and record["epochs_completed"] < 4


def test_sigkill_mid_trial_then_rerun_resumes_the_cut_trial(tmp_path: Path) -> None:
    path = _config(tmp_path, "  trials: 2\n" + RANDOM_SPACE, samples=768, epochs=6, batch=8)
    sweep = tmp_path / "sweep"
    history = sweep / "trial_1" / "history.csv"
    process = subprocess.Popen([sys.executable, "-m", "rnncli", "tune", str(path), "-o", "sweep"], cwd=tmp_path,
                               env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and process.poll() is None:
            if history.exists() and len(history.read_text().splitlines()) >= 3:  # header + 2 epochs
                break
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    before = history.read_text().splitlines()
    assert 3 <= len(before) < 7, "trial 1 must be cut between its first and last epoch"
    assert json.loads((sweep / "trial_1" / "run.json").read_text())["status"] == "running"
    done = _rnncli("tune", str(path), "-o", "sweep", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    study = _study(f"sqlite:///{sweep / 'study.db'}", "tiny")
    assert _states(study) == {0: "COMPLETE", 1: "COMPLETE"}
    after = history.read_text().splitlines()
    assert len(after) == 7 and after[:len(before)] == before  # continued, not restarted (same epoch times)
    assert [int(line.split(",")[0]) for line in after[1:]] == [1, 2, 3, 4, 5, 6]
    assert json.loads((sweep / "trial_1" / "run.json").read_text())["status"] == "finished"


# -- several processes on one PostgreSQL study ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def postgres_url():
    """RNNCLI_TEST_POSTGRES_URL (set by .ci/run), else a server of our own started the same way (in a folder of
    its own under /tmp: the `postgres` user cannot enter pytest's private temporary folders)."""
    url = os.environ.get("RNNCLI_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    folder = Path(tempfile.mkdtemp(prefix="rnncli-test-postgres-"))
    started = subprocess.run(["bash", str(ROOT / ".ci" / "postgres.sh"), "start", str(folder)], capture_output=True,
                             text=True, timeout=300)
    assert started.returncode == 0, started.stderr
    try:
        yield started.stdout.strip()
    finally:
        subprocess.run(["bash", str(ROOT / ".ci" / "postgres.sh"), "stop", str(folder)], timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def test_two_processes_share_one_postgresql_study(tmp_path: Path, postgres_url: str) -> None:
    path = _config(tmp_path, RANDOM_SPACE)
    study = f"shared-{os.getpid()}-{time.time_ns()}"
    args = ["tune", str(path), "--storage", postgres_url, "--study", study, "--trials", "4"]
    processes = [subprocess.Popen([sys.executable, "-m", "rnncli", *args, "-o", f"machine_{i}"], cwd=tmp_path,
                                  env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in range(2)]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    ran = [{int(d.name.split("_")[1]) for d in (tmp_path / f"machine_{i}").glob("trial_*")} for i in range(2)]
    assert not ran[0] & ran[1] and ran[0] | ran[1] == {0, 1, 2, 3}, ran
    assert _states(_study(postgres_url, study)) == {n: "COMPLETE" for n in range(4)}
