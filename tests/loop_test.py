"""N trials in flight: out-of-order outcomes, concurrent reports, resume, stopping."""

import collections
import queue
import random
import threading

import pyglove as pg
import pytest

import symbolic_automl as sa
from symbolic_automl import algorithms
from symbolic_automl import callbacks
from symbolic_automl import executors
from symbolic_automl import trial as trial_lib

SPACE = pg.Dict(x=pg.oneof(list(range(10))), y=pg.floatv(0.0, 1.0))


def score(model, context):
    del context
    return {"reward": model.x + model.y}


class _Job:
    """One job run as a coroutine: its thread runs only between two `step` calls."""

    def __init__(self, evaluator, job, on_report):
        self.job, self.evaluator, self.on_report = job, evaluator, on_report
        self._to_job, self._from_job = queue.Queue(), queue.Queue()
        self._thread = None
        self._answer = None
        self.context = trial_lib.TrialContext(job.trial_id, job.dna,
                                              artifact_dir=job.artifact_dir,
                                              on_report=self._report)

    def _report(self, measurement):  # In the job's thread: hand over, wait for the answer.
        self._from_job.put(("report", measurement))
        return self._to_job.get()

    def _main(self):
        self._to_job.get()
        outcome = executors.Outcome(self.job.trial_id, measurements=self.context.measurements)
        try:
            outcome.metrics = self.evaluator(self.job.model, self.context)
        except Exception as e:  # pylint: disable=broad-except
            outcome.error = e
        outcome.stopped = self.context.should_stop()
        self._from_job.put(("done", outcome))

    def step(self):
        """Runs the job to its next report (None; the loop is asked) or its end (the Outcome)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._main, daemon=True)
            self._thread.start()
        self._to_job.put(self._answer)
        kind, value = self._from_job.get()
        if kind == "done":
            return value
        self._answer = bool(self.on_report(self.job.trial_id, value))
        return None


class Interleaved(executors.Executor):
    """Runs up to `capacity` jobs at once; a seeded choice of which one advances next.

    Reports of the running jobs interleave and jobs end out of submission order,
    deterministically for a seed: what a pool of workers does, minus the timing.
    """

    def __init__(self, capacity, seed=0):
        self._capacity = capacity
        self._rng = random.Random(seed)
        self._queue = collections.deque()
        self._running = []
        self.most_running = 0

    @property
    def capacity(self):
        return self._capacity

    @property
    def in_flight(self):
        return len(self._queue) + len(self._running)

    def submit(self, evaluator, job, on_report):
        self._queue.append(_Job(evaluator, job, on_report))

    def wait(self, timeout=None):
        del timeout
        while self._queue and len(self._running) < self._capacity:
            self._running.append(self._queue.popleft())
        self.most_running = max(self.most_running, len(self._running))
        while self._running:
            job = self._rng.choice(self._running)
            outcome = job.step()
            if outcome is not None:
                self._running.remove(job)
                return [outcome]
        return []


class Ends(callbacks.Callback):
    def __init__(self):
        self.ended, self.reports = [], []

    def on_trial_end(self, trial):
        self.ended.append(trial.id)

    def on_measurement(self, trial, measurement):
        self.reports.append(trial.id)


def _search(executor, algorithm, max_trials, root_dir=None, evaluator=score, **kwargs):
    return sa.search(SPACE, algorithm=algorithm, evaluator=evaluator, max_trials=max_trials,
                     root_dir=None if root_dir is None else str(root_dir), executor=executor,
                     progress=False, **kwargs)


def _ours():
    return algorithms.regularized_evolution(population_size=4, tournament_size=2, seed=1)


@pytest.fixture(params=["assignments", "dna"])
def make_algorithm(request, dna_only):
    """Our evolution, speaking assignments or (PyGlove's own evolution is not
    reproducible within one process, even seeded) seen through pg.DNAs only."""
    if request.param == "assignments":
        return _ours
    return lambda: dna_only(_ours())


def test_the_fake_executor_ends_jobs_out_of_order_and_runs_several():
    ends = Ends()
    executor = Interleaved(capacity=4, seed=3)
    result = _search(executor, pg.geno.Random(seed=1), 12, callbacks=[ends])
    assert ends.ended != sorted(ends.ended) and sorted(ends.ended) == list(range(1, 13))
    assert executor.most_running == 4
    for t in result.trials:  # Each outcome reached its own trial.
        assert t.reward == t.model.x + t.model.y


def test_one_in_flight_is_the_sequential_search(make_algorithm):
    sequential = _search(executors.InProcess(), make_algorithm(), 20)
    one = _search(Interleaved(capacity=4), make_algorithm(), 20, parallelism=1)
    assert [(t.dna, t.reward) for t in one.trials] == [
        (t.dna, t.reward) for t in sequential.trials]


@pytest.mark.parametrize("seed", [0, 1])
def test_n_in_flight_gives_what_the_algorithm_gives_for_that_feedback_order(
        make_algorithm, seed):
    budget, parallelism = 16, 4
    ends = Ends()
    result = _search(Interleaved(capacity=parallelism, seed=seed), make_algorithm(), budget,
                     callbacks=[ends])
    # The same algorithm driven by hand: `parallelism` proposals, then one new
    # proposal after each feedback, fed back in the order the trials ended.
    algorithm = make_algorithm()
    algorithm.setup(sa.Space(SPACE).dna_spec)
    proposed = {}
    for trial_id in range(1, parallelism + 1):
        proposed[trial_id] = algorithm.propose()
    for trial_id in ends.ended:
        model = pg.materialize(SPACE, proposed[trial_id])
        algorithm.feedback(proposed[trial_id], model.x + model.y)
        if len(proposed) < budget:
            proposed[len(proposed) + 1] = algorithm.propose()
    assert ends.ended != sorted(ends.ended)
    assert [t.dna for t in result.trials] == [proposed[i] for i in range(1, budget + 1)]
    assert [t.reward for t in result.trials] == [
        pg.materialize(SPACE, proposed[i]).x + pg.materialize(SPACE, proposed[i]).y
        for i in range(1, budget + 1)]


def test_proposals_are_made_before_earlier_feedback_arrives():
    result = _search(executors.InProcess(), _ours(), 8, parallelism=4)
    first, fourth = result.trials[0], result.trials[3]
    assert fourth.created <= first.finished


class StopTrial(pg.tuning.EarlyStoppingPolicy):
    """Stops trial `trial_id` at step 2; remembers what each call saw."""

    trial_id: int

    def _on_bound(self):
        super()._on_bound()
        self.seen = []

    def should_stop_early(self, trial):
        self.seen.append((trial.id, [m.step for m in trial.measurements],
                          [m.metrics["x"] for m in trial.measurements]))
        return trial.id == self.trial_id and trial.measurements[-1].step >= 2


def test_early_stopping_on_concurrent_reports_stops_the_right_trial(tmp_path):
    def curve(model, context):
        for step in range(1, 6):
            context.report(step, {"reward": step + model.x, "x": model.x})
            if context.should_stop():
                break
        return {"reward": step + model.x}

    policy, ends = StopTrial(trial_id=3), Ends()
    result = sa.search(pg.Dict(x=pg.oneof(list(range(8)))), algorithm=pg.geno.Sweeping(),
                       evaluator=curve, max_trials=8, root_dir=str(tmp_path),
                       executor=Interleaved(capacity=4, seed=2), early_stopping=policy,
                       callbacks=[ends], progress=False)
    by_id = {t.id: t for t in result.trials}
    assert by_id[3].status == "stopped" and [m.step for m in by_id[3].measurements] == [1, 2]
    for t in result.trials:
        assert all(m.metrics["x"] == t.model.x for m in t.measurements)  # Its own reports.
        if t.id != 3:
            assert t.status == "completed" and [m.step for m in t.measurements] == [1, 2, 3, 4, 5]
    # Each call saw one trial's reports so far, in order, and nothing else's.
    for trial_id, steps, xs in policy.seen:
        assert steps == list(range(1, len(steps) + 1))
        assert xs == [by_id[trial_id].model.x] * len(steps)
    # The reports really were concurrent: trial 3's came between others'.
    reports = ends.reports
    first, last = reports.index(3), len(reports) - 1 - reports[::-1].index(3)
    assert set(reports[first:last + 1]) != {3}
    stored = {t.id: t for t in sa.TrialStore.in_dir(str(tmp_path)).trials()}
    assert [m.step for m in stored[3].measurements] == [1, 2]
    assert all(len(stored[i].measurements) == 5 for i in stored if i != 3)


class Killed(BaseException):
    """Stands in for the process being killed: nothing in the loop catches it."""


def test_several_interrupted_trials_run_again_under_their_ids(tmp_path):
    calls = []

    def dies_on_third(model, context):
        calls.append(context.trial_id)
        if len(calls) == 3:
            raise Killed()
        return score(model, context)

    with pytest.raises(Killed):
        _search(executors.InProcess(), _ours(), 8, root_dir=tmp_path, evaluator=dies_on_third,
                parallelism=4)
    before = {t.id: t for t in sa.TrialStore.in_dir(str(tmp_path)).trials()}
    assert [before[i].status for i in sorted(before)] == ["completed"] * 2 + ["running"] * 4

    rerun = []

    def records(model, context):
        rerun.append(context.trial_id)
        return score(model, context)

    result = _search(Interleaved(capacity=2, seed=1), _ours(), 8, root_dir=tmp_path,
                     evaluator=records)
    assert [t.id for t in result.trials] == list(range(1, 9))
    assert all(t.status == "completed" for t in result.trials)
    assert sorted(rerun[:4]) == [3, 4, 5, 6] and sorted(rerun[4:]) == [7, 8]
    assert [t.attempts for t in result.trials] == [1, 1, 2, 2, 2, 2, 1, 1]
    for i in range(1, 7):
        assert result.trials[i - 1].dna == before[i].dna
        assert result.trials[i - 1].reward == result.trials[i - 1].model.x + result.trials[
            i - 1].model.y
    # The resumed algorithm continued where it stopped: what one uninterrupted
    # run would have proposed next, given the same order of feedback.
    assert len({pg.to_json_str(t.dna) for t in result.trials}) == 8


def test_consecutive_failures_stop_after_the_trials_in_flight_are_recorded(tmp_path):
    def broken(model, context):
        raise ValueError(f"bad model {model.x}")

    with pytest.raises(sa.TooManyFailuresError, match="3 trials in a row failed"):
        _search(executors.InProcess(), pg.geno.Random(seed=1), 20, root_dir=tmp_path,
                evaluator=broken, parallelism=4, max_consecutive_failures=3)
    # Trials 1-3 failed with 4-6 in flight: those are recorded too, none left running.
    stored = sa.TrialStore.in_dir(str(tmp_path)).trials()
    assert [t.status for t in stored] == ["failed"] * 6


def test_rejections_stop_at_the_budget_with_trials_in_flight():
    def never(model, context):
        raise sa.RejectedError("rejected")

    result = _search(Interleaved(capacity=4, seed=5), pg.geno.Random(seed=1), 10,
                     evaluator=never, max_rejections=5)
    # The fifth rejection stops proposing; the three trials in flight finish.
    assert [t.status for t in result.trials] == ["rejected"] * 8


def test_the_budget_holds_with_more_in_flight_than_trials():
    executor = Interleaved(capacity=16)
    result = _search(executor, _ours(), 5, parallelism=16)
    assert [t.id for t in result.trials] == [1, 2, 3, 4, 5]
    assert executor.most_running == 5


class Odd(pg.Object):
    """A model that refuses to be built with an even value."""

    value: int

    def _on_bound(self):
        super()._on_bound()
        if isinstance(self.value, int) and self.value % 2 == 0:
            raise ValueError(f"Odd got the even value {self.value}")


def test_a_model_that_does_not_build_fails_its_trial_and_the_others_run():
    result = sa.search(Odd(value=pg.oneof([1, 2, 3, 4, 5])), algorithm=pg.geno.Sweeping(),
                       evaluator=lambda model, context: {"reward": float(model.value)},
                       max_trials=5, executor=Interleaved(capacity=3), progress=False,
                       max_consecutive_failures=5)
    assert [t.status for t in result.trials] == ["completed", "failed"] * 2 + ["completed"]
    assert "Odd got the even value 4" in result.trials[3].error
    assert [t.reward for t in result.trials if t.has_reward] == [1.0, 3.0, 5.0]


@pytest.mark.parametrize("parallelism", [0, -1, 1.5])
def test_bad_parallelism_is_named(parallelism):
    with pytest.raises((TypeError, ValueError), match=r"parallelism=.*a positive int"):
        _search(executors.InProcess(), pg.geno.Random(seed=1), 2, parallelism=parallelism)
