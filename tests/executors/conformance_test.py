"""Every executor keeps the contract of `executors.base` (the same checks for each one).

InProcess, WorkerProcess, LocalPool(2) and Ray (local, 2 CPUs) are driven by
`submit`/`wait` directly: one outcome per job with its id, errors keep their
class (and a rejection its metrics), reports reach `on_report` from inside
`wait` and the stop answer stops the evaluator, at most `capacity` jobs run at
once (and a pool really runs `capacity` at once), `close` releases workers.
"""

import threading
import time

import pytest

import symbolic_automl as sa
from symbolic_automl import executors
import executor_evaluators as evaluators  # pylint: disable=g-bad-import-order  (conftest's path)

KINDS = ["in_process", "worker_process", "local_pool", "ray"]


@pytest.fixture(scope="module", params=KINDS)
def executor(request):
    """The parametrized executor, shared by this module's tests (workers stay warm)."""
    if request.param == "ray":
        request.getfixturevalue("ray_session")
    made = {"in_process": executors.InProcess,
            "worker_process": lambda: executors.WorkerProcess(trials_per_worker=50),
            "local_pool": lambda: executors.LocalPool(workers=2, trials_per_worker=50),
            "ray": lambda: executors.Ray(max_retries=0)}[request.param]()
    made.kind = request.param
    yield made
    made.close()


class Driver:
    """Submits jobs and collects outcomes, noting where `on_report` was called from."""

    def __init__(self, executor):
        self.executor = executor
        self.inside_wait = False
        self.reports = []  # (trial id, step, inside wait, thread)

    def on_report(self, trial_id, measurement):
        self.reports.append((trial_id, measurement.step, self.inside_wait,
                             threading.get_ident()))
        return measurement.step >= 2

    def run(self, evaluator, models, timeout=120):
        for i, model in enumerate(models, 1):
            self.executor.submit(evaluator, executors.Job(i, model), self.on_report)
        outcomes = []
        deadline = time.time() + timeout
        while self.executor.in_flight and time.time() < deadline:
            self.inside_wait = True
            try:
                outcomes += self.executor.wait(timeout=5)
            finally:
                self.inside_wait = False
        return outcomes


def test_one_outcome_per_job_and_errors_keep_their_class(executor):
    driver = Driver(executor)
    xs = [3, 0, 1, -1, -2, 4]
    outcomes = driver.run(evaluators.curve, [{"x": x} for x in xs])
    assert sorted(o.trial_id for o in outcomes) == [1, 2, 3, 4, 5, 6]
    by_id = {o.trial_id: o for o in outcomes}
    assert by_id[1].metrics["reward"] == 6 and by_id[1].error is None
    assert type(by_id[2].error) is sa.InfeasibleError and str(by_id[2].error) == "x=0 is not a model"
    assert type(by_id[3].error) is ValueError and str(by_id[3].error) == "broken trial"
    assert type(by_id[4].error) is evaluators.Rejection and by_id[4].error.metrics == {"acc": 0.1}
    assert type(by_id[5].error) is KeyError and by_id[5].error.args == ("missing",)
    assert by_id[6].metrics["reward"] == 8
    for o in (by_id[2], by_id[3], by_id[4], by_id[5]):
        assert o.metrics is None
    if executor.kind != "in_process":
        # The worker's traceback travels as the error's cause, naming the raising line.
        assert 'raise ValueError("broken trial")' in str(by_id[3].error.__cause__)
    assert driver.executor.in_flight == 0 and driver.executor.wait(timeout=1) == []


def test_reports_arrive_inside_wait_and_the_stop_answer_stops(executor):
    driver = Driver(executor)
    outcomes = driver.run(evaluators.curve, [{"x": 5, "steps": 4}, {"x": 7, "steps": 4}])
    assert len(outcomes) == 2
    for outcome in outcomes:
        # Asked to stop at step 2 (on_report says so), the evaluator ended there.
        assert [m.step for m in outcome.measurements] == [1, 2]
        assert outcome.stopped and outcome.metrics["reward"] == 2 * (5 if outcome.trial_id == 1
                                                                       else 7)
        assert [m.metrics["reward"] for m in outcome.measurements] == [
            outcome.metrics["reward"] / 2, outcome.metrics["reward"]]
    assert sorted((r[0], r[1]) for r in driver.reports) == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert all(r[2] for r in driver.reports), "on_report was called outside wait"
    assert {r[3] for r in driver.reports} == {threading.get_ident()}


def test_at_most_capacity_jobs_run_at_once(executor):
    capacity = executor.capacity
    # Warm the workers up, so that their start does not spread the timed jobs apart.
    Driver(executor).run(evaluators.noop, [{}] * capacity)
    outcomes = Driver(executor).run(evaluators.timed, [{"seconds": 0.5}] * (2 * capacity + 1))
    assert len(outcomes) == 2 * capacity + 1 and all(o.error is None for o in outcomes)
    intervals = [(o.metrics["start"], o.metrics["end"]) for o in outcomes]
    overlap = max(sum(s <= start < e for s, e in intervals) for start, _ in intervals)
    assert overlap <= capacity
    if capacity > 1:
        assert overlap == capacity, "the jobs ran one after the other"
        assert len({o.metrics["pid"] for o in outcomes}) == capacity


def test_close_releases_workers_and_the_executor_works_again(executor, tmp_path):
    if executor.kind == "in_process":
        executor.submit(evaluators.noop, executors.Job(1, {}), lambda *_: False)
        executor.close()  # Nothing runs in the background: close drops what was queued.
        assert executor.in_flight == 0
    else:
        pid_file = tmp_path / "pid"
        executor.submit(evaluators.blocks, executors.Job(1, {"pid_file": str(pid_file)}),
                        lambda *_: False)
        deadline = time.time() + 60
        while not pid_file.exists() or not pid_file.read_text():
            assert executor.wait(timeout=0.2) == [] and time.time() < deadline
        pid = int(pid_file.read_text())
        executor.close()
        assert executor.in_flight == 0
        deadline = time.time() + 20
        while evaluators.process_running(pid):
            assert time.time() < deadline, f"worker {pid} still runs after close"
            time.sleep(0.1)
    outcomes = Driver(executor).run(evaluators.curve, [{"x": 3, "steps": 1}])
    assert [(o.trial_id, o.metrics["reward"]) for o in outcomes] == [(1, 3)]
