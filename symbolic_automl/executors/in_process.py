"""`InProcess`: evaluations run one at a time in the search's own process."""

import collections
from typing import List, Optional

from symbolic_automl import trial as trial_lib
from symbolic_automl.executors import base


class InProcess(base.Executor):
    """Calls the evaluator directly, in submission order (the default executor).

    Jobs submitted ahead (parallelism > 1) wait in a queue; `wait` runs the
    oldest one to completion and returns its outcome, so a search with N in
    flight here proposes ahead of feedback but trains one model at a time.
    """

    def __init__(self):
        self._queue = collections.deque()

    @property
    def in_flight(self) -> int:
        return len(self._queue)

    def submit(self, evaluator, job: base.Job, on_report: base.OnReport) -> None:
        self._queue.append((evaluator, job, on_report))

    def wait(self, timeout: Optional[float] = None) -> List[base.Outcome]:
        del timeout  # A running in-process evaluation cannot be interrupted.
        if not self._queue:
            return []
        evaluator, job, on_report = self._queue.popleft()
        context = trial_lib.TrialContext(
            job.trial_id, job.dna, training=job.training, artifact_dir=job.artifact_dir,
            on_report=lambda m: on_report(job.trial_id, m))
        outcome = base.Outcome(job.trial_id, measurements=context.measurements)
        try:
            outcome.metrics = evaluator(job.model, context)
        except Exception as e:  # pylint: disable=broad-except
            outcome.error = e
        outcome.stopped = context.should_stop()
        return [outcome]

    def close(self) -> None:
        self._queue.clear()  # Jobs not yet run are dropped, as a pool drops its queue.
