"""`TrialLoop`: propose → materialize → evaluate → feedback → record, N trials in flight.

The loop keeps up to `parallelism` trials submitted to its executor. It
proposes the next candidates before earlier ones have been fed back (PyGlove's
generators allow it), records each outcome as it arrives, in whatever order the
executor returns them, and feeds it back to the algorithm; intermediate reports
reach the early-stopping policy for their own trial, from inside
`executor.wait`. On resume, every interrupted (`running`) trial runs again
under its own id before new ones are proposed. A trial's `started` time is
when it was submitted: an executor with fewer workers than trials in flight
queues it.

Several processes may run the same search on one store, each as a worker
(PyGlove's shared-group workers, Optuna's shared storage): the budget counts
every worker's trials; before each proposal the loop feeds the trials other
workers finished to its own algorithm, so evolution sees the whole population;
a trial running in another live worker is never taken, one whose worker died
is claimed by one worker and runs again; when the rest of the budget is in
other workers' hands, the loop waits for their trials to end.

Stopping: when the algorithm has no more proposals, when `max_rejections`
trials were rejected, or when `max_consecutive_failures` trials failed in a
row, the loop proposes nothing more and lets the trials in flight finish (they
are recorded); the last case then raises `TooManyFailuresError`.

Example::

    loop = TrialLoop(space, proposals.proposer_for(algorithm, space), evaluator,
                     recorder, objectives, executor=executors.InProcess(), parallelism=4)
    loop.run(max_trials=100)
"""

import dataclasses
import time
import traceback
from typing import Any, Callable, Dict, List, Optional, Sequence

from absl import logging
import pyglove as pg

from symbolic_automl import arguments
from symbolic_automl import callbacks as callbacks_lib
from symbolic_automl import compatibility
from symbolic_automl import errors
from symbolic_automl import executors
from symbolic_automl import objectives as objectives_lib
from symbolic_automl import proposals as proposals_lib
from symbolic_automl import recording
from symbolic_automl import reporting
from symbolic_automl import space as space_lib
from symbolic_automl import trial as trial_lib


@dataclasses.dataclass
class _InFlight:
    trial: trial_lib.Trial
    proposal: proposals_lib.Proposal
    artifact_dir: Optional[str]


class TrialLoop:
    """The black-box trial loop of one search (see the module docstring).

    Args:
      space: the `Space` searched.
      proposer: the algorithm, adapted (`proposals.proposer_for`).
      evaluator: `callable(model, context) -> metrics`.
      recorder: the search's `recording.Recorder` (it alone writes the store).
      objectives: what the reward is made of.
      executor: where evaluations run (`executors.Executor`).
      parallelism: trials kept in flight; default the executor's `capacity`.
      early_stopping: a `pg.tuning.EarlyStoppingPolicy`, consulted on each report.
      max_consecutive_failures: stop after this many failed trials in a row.
      max_rejections: stop once this many trials were rejected in all (None: no cap).
      observers: search callbacks.
      stop_on_missing_objective: stop with `ObjectiveNotReturnedError` when the
        first metrics returned lack an objective (every trial would fail);
        otherwise that trial just fails.
    """

    def __init__(self, space: space_lib.Space, proposer: proposals_lib.Proposer,
                 evaluator: Callable[[Any, trial_lib.TrialContext], dict],
                 recorder: recording.Recorder, objectives: objectives_lib.Objectives, *,
                 executor: executors.Executor, parallelism: Optional[int] = None,
                 early_stopping: Optional[pg.tuning.EarlyStoppingPolicy] = None,
                 max_consecutive_failures: int = 5, max_rejections: Optional[int] = None,
                 observers: Sequence[Any] = (), stop_on_missing_objective: bool = True):
        self.space = space
        self.proposer = proposer
        self.evaluator = evaluator
        self.recorder = recorder
        self.objectives = objectives
        self.executor = executor
        self.parallelism = executor.capacity if parallelism is None else parallelism
        if not isinstance(self.parallelism, int) or self.parallelism < 1:
            raise ValueError(f"parallelism must be a positive int, got {self.parallelism!r}.")
        self.early_stopping = early_stopping
        self.max_consecutive_failures = max_consecutive_failures
        self.max_rejections = max_rejections
        self.observers = list(observers)
        self._in_flight: Dict[int, _InFlight] = {}
        # Outcomes of trials that ended before reaching the executor (their model
        # did not build), returned ahead of the executor's.
        self._ready: List[executors.Outcome] = []
        self._objective_checked = not stop_on_missing_objective
        self._objective_error: Optional[errors.ObjectiveNotReturnedError] = None

    def run(self, max_trials: int, show_progress: bool = True) -> None:
        """Runs trials until `max_trials` counted ones (rejections do not count) are recorded.

        Raises:
          TooManyFailuresError: `max_consecutive_failures` failed in a row.
          ObjectiveNotReturnedError: the first metrics returned lack an objective.
        """
        trials = self.recorder.trials
        self.proposer.setup()
        if self.early_stopping is not None:
            self.early_stopping.setup(self.space.dna_spec)
        # Proposals of trials running when the search began (here before, or in
        # another worker): to run them again if claimed, or to feed back the
        # result another worker records.
        pending: Dict[int, proposals_lib.Proposal] = {}
        if trials:
            recovered = self.proposer.recover(trials)
            pending = {t.id: p for t, p in zip(trials, recovered)
                       if t.status == trial_lib.RUNNING}
            if self.early_stopping is not None:
                self.early_stopping.recover([self.objectives.pg_trial(t) for t in trials])
            logging.info("Resumed %d trials from %s.", len(trials), self.recorder.store.path)
        counts = {s: sum(t.status == s for t in trials) for s in trial_lib.STATUSES}
        rejected = counts[trial_lib.REJECTED]
        finished = len(trials) - counts[trial_lib.RUNNING] - rejected
        progress = reporting.Progress(max_trials, min(finished, max_trials), show_progress,
                                      counts=counts)
        consecutive_failures = compatibility.trailing_failures(trials)  # Survives resume.
        failures_error = None
        # A recorded reward shows that the evaluator produces the objective.
        self._objective_checked = self._objective_checked or any(t.has_reward for t in trials)
        best = trial_lib.Result(trials, self.objectives.names).best
        proposing = True
        try:
            while True:
                # What other workers finished: fed back before the next proposal.
                for trial in self._absorb_elsewhere(pending):
                    best = _best_of(best, trial)
                    progress.update(trial, best)
                    finished += trial.status != trial_lib.REJECTED
                # Keep `parallelism` trials in flight, none beyond the budget: each
                # one in flight may still count.
                while (proposing and len(self._in_flight) < self.parallelism
                       and finished + len(self._in_flight) < max_trials):
                    claimed = self.recorder.claim_interrupted(limit=1)
                    if claimed:
                        trial = claimed[0]
                        proposal = pending.pop(trial.id, None) or self.proposer.proposal_of(trial)
                    else:
                        if self.recorder.budget_used() >= max_trials:
                            break  # Other workers' trials in flight hold the rest.
                        proposal = self.proposer.propose()
                        if proposal is None:
                            logging.info("The algorithm has no more proposals.")
                            proposing = False
                            break
                        trial = self.recorder.open(proposal, budget=max_trials)
                        if trial is None:
                            break  # Another worker took the last of the budget first.
                    self._submit(trial, proposal)
                if not self._in_flight:
                    if not proposing or finished >= max_trials:
                        break
                    # The rest of the budget runs in other workers: wait for their
                    # trials to finish, or for a dead one's lease to end.
                    time.sleep(self.recorder.poll_seconds)
                    continue
                ended = self._collect()
                if self._objective_error is not None:
                    proposing = False
                for trial in ended:
                    best = _best_of(best, trial)
                    progress.update(trial, best)
                    if trial.status == trial_lib.REJECTED:
                        rejected += 1
                        if (proposing and self.max_rejections is not None
                                and rejected >= self.max_rejections):
                            logging.warning("Stopping: %d trials were rejected "
                                            "(max_rejections).", rejected)
                            proposing = False
                        continue
                    finished += 1
                    if trial.status != trial_lib.FAILED:
                        consecutive_failures = []
                        continue
                    consecutive_failures.append(trial)
                    if (failures_error is None
                            and len(consecutive_failures) >= self.max_consecutive_failures):
                        failures_error = errors.TooManyFailuresError(
                            _failures_message(consecutive_failures))
                        proposing = False
        finally:
            progress.close()
        if self._objective_error is not None:
            raise self._objective_error
        if failures_error is not None:
            raise failures_error

    def _absorb_elsewhere(self, pending: Dict[int, proposals_lib.Proposal]
                          ) -> List[trial_lib.Trial]:
        """Feeds the trials other workers finished to the algorithm; returns them.

        The early-stopping policy hears of them too (PyGlove's `recover`
        replays their reports), unless it saw them here already: running when
        this search began, or taken over from this worker.
        """
        finished = self.recorder.finished_elsewhere()
        if self.early_stopping is not None and finished:
            unseen = [t for t in finished if t.id not in pending and t.id not in self._in_flight]
            self.early_stopping.recover([self.objectives.pg_trial(t) for t in unseen])
        for trial in finished:
            # The algorithm's own proposal when it knows the trial (recovered as
            # running, or taken over from this worker), so it is told once.
            proposal = pending.pop(trial.id, None)
            if proposal is None and trial.id in self._in_flight:
                proposal = self._in_flight[trial.id].proposal
            self.proposer.tell(proposal or self.proposer.proposal_of(trial), trial)
        return finished

    def _submit(self, trial: trial_lib.Trial, proposal: proposals_lib.Proposal) -> None:
        artifact_dir = self.recorder.artifact_dir(trial, self.evaluator)
        trial.measurements = []  # Filled by `_on_report`, as reports arrive.
        self._in_flight[trial.id] = _InFlight(trial, proposal, artifact_dir)
        try:
            model, model_json = self.space.materialize_with_json(proposal)
            self.recorder.set_model(trial, model, model_json)
        except Exception as e:  # pylint: disable=broad-except
            # Recorded like an evaluation that raised (infeasible, failed).
            self._ready.append(executors.Outcome(trial.id, error=e))
            return
        self.executor.submit(
            self.evaluator,
            executors.Job(trial.id, model, dna=lambda: proposal.dna, artifact_dir=artifact_dir),
            on_report=self._on_report)

    def _collect(self) -> List[trial_lib.Trial]:
        """Waits for outcomes; records each and feeds it back. Returns the trials ended."""
        if self._ready:
            outcomes, self._ready = self._ready, []
        else:
            outcomes = self.executor.wait()
            if not outcomes and not self.executor.in_flight:
                raise errors.SymbolicAutoMLError(
                    f"The executor {type(self.executor).__name__} holds no job, but trials "
                    f"{sorted(self._in_flight)} got no outcome: it lost them.")
        ended = []
        for outcome in outcomes:
            running = self._in_flight.pop(outcome.trial_id, None)
            if running is None:
                raise errors.SymbolicAutoMLError(
                    f"The executor returned an outcome for trial {outcome.trial_id}, which is "
                    f"not in flight (in flight: {sorted(self._in_flight)}).")
            trial = running.trial
            self._conclude(trial, outcome)
            if not self.recorder.finish(trial, running.artifact_dir):
                # Another worker took it over (this one's lease ran out): its run
                # is recorded, and comes back through `_absorb_elsewhere`.
                continue
            if not self._objective_checked and isinstance(outcome.metrics, dict):
                # The first metrics returned tell whether the objective can be
                # produced at all; if not, stop rather than fail every trial.
                self._objective_checked = True
                try:
                    arguments.check_objectives_returned(self.objectives.names, outcome.metrics,
                                                        stop_after=trial.id)
                except errors.ObjectiveNotReturnedError as e:
                    self._objective_error = e
            self.proposer.tell(running.proposal, trial)
            if self.observers:
                callbacks_lib.notify(self.observers, "on_trial_end", trial)
            ended.append(trial)
        return ended

    def _conclude(self, trial: trial_lib.Trial, outcome: executors.Outcome) -> None:
        """Sets the trial's status, metrics, reward and error from its outcome."""
        try:
            if outcome.error is not None:
                raise outcome.error
            trial.metrics = objectives_lib.check_metrics(outcome.metrics)
            trial.reward = self.objectives.reward(trial.metrics)
            trial.status = trial_lib.STOPPED if outcome.stopped else trial_lib.COMPLETED
        except errors.RejectedError as e:
            trial.status, trial.error = trial_lib.REJECTED, str(e)
            trial.metrics = dict(getattr(e, "metrics", None) or {})
        except errors.InfeasibleError as e:
            trial.status, trial.error = trial_lib.INFEASIBLE, str(e)
        except Exception as e:  # pylint: disable=broad-except
            # A failing trial is recorded and the search goes on.
            trial.status = trial_lib.FAILED
            trial.error = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=8)}"

    def _on_report(self, trial_id: int, measurement: trial_lib.Measurement) -> bool:
        """An intermediate report of a trial in flight; True asks it to stop."""
        trial = self._in_flight[trial_id].trial
        if not self.recorder.add_measurement(trial, measurement):
            return True  # Taken over by another worker: this run's result is dropped.
        if self.observers:
            callbacks_lib.notify(self.observers, "on_measurement", trial, measurement)
        if self.early_stopping is None:
            return False
        return bool(self.early_stopping.should_stop_early(self.objectives.pg_trial(trial)))


def _best_of(best: Optional[trial_lib.Trial], trial: trial_lib.Trial) -> Optional[trial_lib.Trial]:
    """The better of the best so far and a trial just ended (by the first objective)."""
    if trial.has_reward and (best is None or objectives_lib.first(trial.reward)
                             > objectives_lib.first(best.reward)):
        return trial
    return best


def _failures_message(failures: List[trial_lib.Trial]) -> str:
    last = "\n".join(f"  trial {t.id}: {(t.error or '').splitlines()[0]}" for t in failures[-5:])
    return (f"{len(failures)} trials in a row failed; stopping the search (their records are "
            f"kept; raise max_consecutive_failures to go on). Last errors:\n{last}")
