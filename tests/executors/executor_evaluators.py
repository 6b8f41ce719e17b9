"""Evaluators the executor tests run in workers, and the tests' shared helpers.

Importable in workers: conftest puts this folder on the path of worker
processes and of Ray workers.
"""

import json
import os
import time

import pyglove as pg

import symbolic_automl as sa
from symbolic_automl import executors


class Rejection(sa.RejectedError):
    """A user subclass of a library error, which must keep its class and metrics."""


def curve(model, context):
    """Reports `steps` steps of reward step * x; some x fail in different ways."""
    x = model["x"]
    if x == 0:
        raise sa.InfeasibleError("x=0 is not a model")
    if x == 1:
        raise ValueError("broken trial")
    if x == 2:
        os._exit(3)  # pylint: disable=protected-access
    if x == -1:
        raise Rejection("too weak", metrics={"acc": 0.1})
    if x == -2:
        raise KeyError("missing")
    step = 0
    for step in range(1, model.get("steps", 3) + 1):
        context.report(step, {"reward": step * x})
        if context.should_stop():
            break
    return {"reward": step * x, "pid": os.getpid()}


def timed(model, context):
    """Sleeps `seconds`, recording when it ran (for concurrency checks) and where."""
    start = time.time()
    time.sleep(model.get("seconds", 0.3))
    return {"start": start, "end": time.time(), "pid": os.getpid(), "trial": context.trial_id,
            "env": {k: os.environ.get(k) for k in model.get("env", ())}}


def blocks(model, context):
    """Writes its pid to `pid_file`, then sleeps for a minute (to be killed by close)."""
    with open(model["pid_file"], "w") as f:
        f.write(str(os.getpid()))
    time.sleep(60)
    return {"reward": 1.0}


def counted(model, context):
    """Appends one line per attempt to `log`, then dies or raises as `how` says."""
    with open(model["log"], "a") as f:
        f.write(json.dumps({"pid": os.getpid()}) + "\n")
    if model["how"] == "die":
        os._exit(9)  # pylint: disable=protected-access
    if model["how"] == "raise":
        raise RuntimeError("raised on purpose")
    return {"reward": 1.0}


def noop(model, context):
    return {"reward": 0.0}


class StopAtTwo(pg.tuning.EarlyStoppingPolicy):
    """Stops every trial at its second report."""

    def should_stop_early(self, trial):
        return trial.measurements[-1].step >= 2


def search_curve(executor, root_dir, xs=(0, 1, 2, 3, 4)):
    """A search over `curve` through `executor`: one trial per x, in order, stopped at step 2."""
    return sa.search(pg.Dict(x=pg.oneof(list(xs))), algorithm=pg.geno.Sweeping(),
                     evaluator=curve, max_trials=len(xs), root_dir=root_dir,
                     early_stopping=StopAtTwo(), executor=executor,
                     max_consecutive_failures=10, progress=False)


def run_jobs(executor, evaluator, models, timeout=120):
    """Submits one job per model (ids from 1) and waits for all; outcomes by id."""
    for i, model in enumerate(models, 1):
        executor.submit(evaluator, executors.Job(i, model), lambda *_: False)
    outcomes = []
    deadline = time.time() + timeout
    while executor.in_flight:
        assert time.time() < deadline, "jobs still running"
        outcomes += executor.wait(timeout=5)
    return sorted(outcomes, key=lambda o: o.trial_id)


def process_running(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (killed, not yet reaped by its parent) has stopped running.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
