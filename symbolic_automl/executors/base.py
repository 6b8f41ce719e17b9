"""`Executor`: where trials' evaluations run, and how their results come back.

The search loop owns the store, the algorithm and the early-stopping policy;
an executor only runs evaluations. The loop hands it `Job`s with `submit` and
collects `Outcome`s with `wait`; intermediate reports reach the loop through
the `on_report` callback given at `submit`, whose answer ("stop this trial")
goes back to the evaluator.

Invariants every executor keeps (a shared test checks them for each one):

* Every submitted job yields exactly one `Outcome`, from `wait`, with the job's
  `trial_id`; a job whose evaluator raised yields an outcome carrying the error
  (a `RejectedError`/`InfeasibleError` keeps its class), never an exception
  out of `wait`. A worker that dies yields `Outcome(error=WorkerLostError)`
  once its retries, if any, are used up.
* At most `capacity` jobs run at once; `submit` beyond that queues the job.
* `on_report` is only called from inside `wait`, in the thread that called
  `wait`: the loop is single-threaded and alone writes the store.
* `close` releases every worker; an executor may be used again after it.

Example (a loop in miniature)::

    executor = InProcess()
    executor.submit(evaluator, Job(1, model, dna=lambda: dna), on_report=lambda i, m: False)
    for outcome in executor.wait():
        print(outcome.trial_id, outcome.metrics or outcome.error)
"""

import abc
import dataclasses
from typing import Any, Callable, Dict, List, Optional

import pyglove as pg

from symbolic_automl import errors
from symbolic_automl import trial as trial_lib

# (trial id, measurement) -> True to ask the trial to stop early.
OnReport = Callable[[int, trial_lib.Measurement], bool]


class WorkerLostError(errors.SymbolicAutoMLError):
    """The process (or node) evaluating a trial died, e.g. killed or out of memory."""


@dataclasses.dataclass
class Job:
    """One evaluation: what the evaluator's `TrialContext` is made from.

    Attributes:
      trial_id: the trial's id in the store.
      model: the materialized model (pickled to worker processes: plain
        symbolic values and arrays travel, open files and sessions do not).
      dna: the trial's `pg.DNA`, or a function building it on first use.
      training: the trial's training recipe (`Trainable.training`), if any.
      artifact_dir: where the evaluator may write files (e.g. `model.keras`).
    """

    trial_id: int
    model: Any
    dna: Any = None
    training: Any = None
    artifact_dir: Optional[str] = None

    def resolved_dna(self) -> Optional[pg.DNA]:
        """The DNA itself (built now if given as a function): what travels to workers."""
        if self.dna is not None and not isinstance(self.dna, pg.DNA) and callable(self.dna):
            self.dna = self.dna()
        return self.dna


@dataclasses.dataclass
class Outcome:
    """How one job ended: metrics, or the error that ended it.

    Attributes:
      trial_id: the job's trial id.
      metrics: what the evaluator returned (None when it raised).
      error: the exception, when the evaluation did not return.
      stopped: whether the trial was asked to stop early.
      measurements: the intermediate reports, in order.
      attempts: how many times it was started (retries after a lost worker).
    """

    trial_id: int
    metrics: Optional[Dict[str, Any]] = None
    error: Optional[BaseException] = None
    stopped: bool = False
    measurements: List[trial_lib.Measurement] = dataclasses.field(default_factory=list)
    attempts: int = 1


class Executor(abc.ABC):
    """Base class of executors; see the module docstring for the invariants."""

    @property
    def capacity(self) -> int:
        """How many jobs can run at once (the loop's default parallelism)."""
        return 1

    @abc.abstractmethod
    def submit(self, evaluator: Callable[[Any, trial_lib.TrialContext], dict], job: Job,
               on_report: OnReport) -> None:
        """Starts (or queues) `evaluator(job.model, context)`; does not wait for it."""

    @abc.abstractmethod
    def wait(self, timeout: Optional[float] = None) -> List[Outcome]:
        """Blocks until at least one submitted job ends (or `timeout` seconds pass).

        Returns the outcomes that are ready ([] on timeout or when nothing is in
        flight), delivering intermediate reports through `on_report` meanwhile.
        """

    @property
    @abc.abstractmethod
    def in_flight(self) -> int:
        """Jobs submitted whose outcome `wait` has not yet returned."""

    def close(self) -> None:
        """Releases workers (default: nothing to release)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
