"""Where a trial's evaluation runs: in this process, or in recycled worker processes.

TensorFlow keeps a little memory per model it has ever built, even after
`keras.backend.clear_session()` (about 4 MiB per tiny model here). For long
searches, `WorkerProcess` runs evaluations in a child process that is replaced
every `trials_per_worker` trials, so memory stays flat however many trials run.
Intermediate reports and stop requests still flow between the trial and the
search, and the search records everything in the parent process.

Example::

    result = search(space, algorithm=..., evaluator=KerasEvaluator(...),
                    max_trials=500, executor=WorkerProcess(trials_per_worker=25))
"""

import collections
import multiprocessing
import traceback
from typing import Any, List, Optional

from symbolic_automl import errors
from symbolic_automl import trial as trial_lib
from symbolic_automl.executors import base


class WorkerProcessError(base.WorkerLostError):
    """An evaluation raised in the worker, or the worker died; carries its traceback."""


class WorkerProcess(base.Executor):
    """Evaluates in a child process, started fresh every `trials_per_worker` trials.

    Args:
      trials_per_worker: trials one child evaluates before it is replaced.
      start_method: multiprocessing start method; "spawn" (the default) is the
        one that is safe once TensorFlow has started threads.

    The evaluator and each model are pickled to the child: define custom
    classes at module level, and pass data as arrays (not `tf.data` pipelines).
    This is the only pickling in the library, and it never touches a file: the
    evaluator once per worker start, then per trial (model, trial id, DNA,
    training recipe, artifact directory) down a pipe to our own child, which
    sends back plain tuples (reports: step and metric numbers; the final
    metrics; or an error's text). The trial store holds only JSON.
    """

    def __init__(self, trials_per_worker: int = 25, start_method: str = "spawn"):
        if not isinstance(trials_per_worker, int) or trials_per_worker < 1:
            raise ValueError(f"trials_per_worker must be a positive int, got {trials_per_worker!r}.")
        self.trials_per_worker = trials_per_worker
        self._context = multiprocessing.get_context(start_method)
        self._process: Optional[Any] = None
        self._connection = None
        self._evaluator = None
        self._trials_done = 0
        self._queue = collections.deque()

    @property
    def in_flight(self) -> int:
        return len(self._queue)

    def submit(self, evaluator, job: base.Job, on_report: base.OnReport) -> None:
        self._queue.append((evaluator, job, on_report))

    def wait(self, timeout: Optional[float] = None) -> List[base.Outcome]:
        del timeout
        if not self._queue:
            return []
        evaluator, job, on_report = self._queue.popleft()
        context = trial_lib.TrialContext(
            job.trial_id, job.resolved_dna(), training=job.training,
            artifact_dir=job.artifact_dir, on_report=lambda m: on_report(job.trial_id, m))
        outcome = base.Outcome(job.trial_id, measurements=context.measurements)
        try:
            outcome.metrics = self.evaluate(evaluator, job.model, context)
        except Exception as e:  # pylint: disable=broad-except
            outcome.error = e
        outcome.stopped = context.should_stop()
        return [outcome]

    def evaluate(self, evaluator, model, context) -> dict:
        """Evaluates one model in the worker, relaying reports; returns its metrics."""
        if (self._process is None or self._evaluator is not evaluator
                or self._trials_done >= self.trials_per_worker or not self._process.is_alive()):
            self._start(evaluator)
        self._trials_done += 1
        self._connection.send(("trial", model, context.trial_id, context.dna,
                               context.training, context.artifact_dir))
        while True:
            try:
                message = self._connection.recv()
            except (EOFError, OSError):
                exitcode = self._process.exitcode if self._process else None
                self.close()
                raise WorkerProcessError(
                    f"The worker process evaluating trial {context.trial_id} died "
                    f"(exit code {exitcode}); out of memory, or a crash in native code?")
            kind = message[0]
            if kind == "report":
                context.report(message[1], message[2])
                self._connection.send(context.should_stop())
            elif kind == "done":
                if message[2]:
                    context.stop()
                return message[1]
            else:
                _, error_class, text = message
                raise {"rejected": errors.RejectedError,
                       "infeasible": errors.InfeasibleError}.get(error_class, WorkerProcessError)(text)

    def _start(self, evaluator):
        self.close()
        parent, child = self._context.Pipe()
        try:
            process = self._context.Process(target=_worker_main, args=(child, evaluator),
                                            daemon=True)
            process.start()
        except Exception as e:  # pylint: disable=broad-except
            raise WorkerProcessError(
                f"Could not start a worker process for evaluator {type(evaluator).__name__}: "
                f"{type(e).__name__}: {e}. Its data and settings must be picklable (arrays, "
                "not tf.data pipelines), or evaluate in process.") from e
        child.close()
        self._process, self._connection, self._evaluator = process, parent, evaluator
        self._trials_done = 0

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.send(None)
            except (OSError, BrokenPipeError):
                pass
            self._connection.close()
        if self._process is not None:
            self._process.join(timeout=30)
            if self._process.is_alive():
                self._process.kill()
        self._process = self._connection = None


class _RemoteContext(trial_lib.TrialContext):
    """The trial context inside a worker: reports go to the parent, stops come back."""

    def __init__(self, connection, trial_id, dna, training, artifact_dir):
        super().__init__(trial_id, dna, training=training, artifact_dir=artifact_dir)
        self._connection = connection

    def report(self, step, metrics):
        super().report(step, metrics)
        measurement = self.measurements[-1]
        self._connection.send(("report", measurement.step, measurement.metrics))
        if self._connection.recv():
            self.stop()


def _worker_main(connection, evaluator):
    while True:
        try:
            message = connection.recv()
        except EOFError:  # The search process is gone.
            return
        if message is None:
            return
        _, model, trial_id, dna, training, artifact_dir = message
        context = _RemoteContext(connection, trial_id, dna, training, artifact_dir)
        try:
            metrics = evaluator(model, context)
            connection.send(("done", metrics, context.should_stop()))
        except Exception as e:  # pylint: disable=broad-except
            kind = ("rejected" if isinstance(e, errors.RejectedError) else
                    "infeasible" if isinstance(e, errors.InfeasibleError) else "error")
            text = str(e) if kind != "error" else (
                f"{type(e).__name__}: {e}\n(in the worker process)\n{traceback.format_exc(limit=8)}")
            connection.send(("error", kind, text))
