"""Worker-process evaluation: same records as in process, workers recycled."""

import sys
import textwrap

import pyglove as pg
import pytest

import symbolic_automl as sa
from symbolic_automl import executors

EVALUATORS = textwrap.dedent("""
    import os
    import symbolic_automl as sa

    def curve(model, context):
        if model.x == 0:
            raise sa.InfeasibleError("x=0 is not a model")
        if model.x == 1:
            raise ValueError("broken trial")
        if model.x == 2:
            os._exit(3)
        for step in range(1, 4):
            context.report(step, {"reward": step * model.x})
            if context.should_stop():
                break
        return {"reward": step * model.x, "pid": os.getpid()}
""")


@pytest.fixture
def evaluators_module(tmp_path, monkeypatch):
    (tmp_path / "worker_evaluators.py").write_text(EVALUATORS)
    monkeypatch.syspath_prepend(str(tmp_path))  # Spawned workers inherit sys.path.
    import worker_evaluators  # pylint: disable=g-import-not-at-top
    yield worker_evaluators
    sys.modules.pop("worker_evaluators", None)


class StopAtTwo(pg.tuning.EarlyStoppingPolicy):
    def should_stop_early(self, trial):
        return trial.measurements[-1].step >= 2


def test_worker_process_records_like_in_process(evaluators_module, tmp_path):
    space = pg.Dict(x=pg.oneof([0, 1, 2, 3, 4, 5, 6]))
    result = sa.search(space, algorithm=pg.geno.Sweeping(), evaluator=evaluators_module.curve,
                       max_trials=7, root_dir=str(tmp_path / "run"), early_stopping=StopAtTwo(),
                       executor=executors.WorkerProcess(trials_per_worker=2),
                       max_consecutive_failures=10, progress=False)
    statuses = [t.status for t in result.trials]
    assert statuses == ["infeasible", "failed", "failed", "stopped", "stopped", "stopped", "stopped"]
    assert "x=0 is not a model" in result.trials[0].error
    assert "broken trial" in result.trials[1].error and "worker process" in result.trials[1].error
    assert "died" in result.trials[2].error
    ok = result.trials[3:]
    assert all([m.step for m in t.measurements] == [1, 2] for t in ok)
    assert [t.reward for t in ok] == [6, 8, 10, 12]
    pids = [t.metrics["pid"] for t in ok]
    # 2 trials per worker; the crash in trial 3 replaced its worker early.
    assert pids[0] == pids[1] and pids[1] != pids[2] and pids[2] == pids[3]


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="trials_per_worker"):
        executors.WorkerProcess(trials_per_worker=0)
