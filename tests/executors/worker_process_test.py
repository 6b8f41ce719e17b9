"""WorkerProcess (a LocalPool of one worker): same records as in process, workers recycled."""

import pytest

from symbolic_automl import executors
import executor_evaluators as evaluators  # pylint: disable=g-bad-import-order  (conftest's path)


def test_worker_process_records_like_in_process(tmp_path):
    result = evaluators.search_curve(executors.WorkerProcess(trials_per_worker=2),
                                     str(tmp_path / "run"), xs=[0, 1, 2, 3, 4, 5, 6])
    statuses = [t.status for t in result.trials]
    assert statuses == ["infeasible", "failed", "failed", "stopped", "stopped", "stopped", "stopped"]
    assert "x=0 is not a model" in result.trials[0].error
    # The worker's error keeps its class, and its traceback says where it was raised.
    assert result.trials[1].error.startswith("ValueError: broken trial")
    assert "raised in a worker process" in result.trials[1].error
    assert 'raise ValueError("broken trial")' in result.trials[1].error
    assert "trial 3 died (exit code 3)" in result.trials[2].error
    ok = result.trials[3:]
    assert all([m.step for m in t.measurements] == [1, 2] for t in ok)
    assert [t.reward for t in ok] == [6, 8, 10, 12]
    pids = [t.metrics["pid"] for t in ok]
    # 2 trials per worker; the crash in trial 3 replaced its worker early.
    assert pids[0] == pids[1] and pids[1] != pids[2] and pids[2] == pids[3]


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="trials_per_worker"):
        executors.WorkerProcess(trials_per_worker=0)
    assert executors.WorkerProcessError is executors.WorkerLostError  # The old name still works.
