"""`search`: propose → materialize → evaluate → feedback → record, resumable.

Example::

    import pyglove as pg
    import symbolic_automl as sa
    from symbolic_automl import algorithms as sa_algorithms
    from symbolic_automl import keras

    space = keras.Sequential([keras.Input(shape=(8, 8, 1)),
                              keras.layers.Conv2D(pg.oneof([16, 32]), 3),
                              keras.layers.Flatten(), keras.layers.Dense(10)])
    result = sa.search(space, algorithm=sa_algorithms.regularized_evolution(seed=1),
                       evaluator=sa.evaluators.KerasEvaluator(x, y, (xv, yv)),
                       max_trials=20, root_dir="runs/cnn")
    print(result.best)

Running the same call again with the same `root_dir` resumes: finished trials
are kept, the algorithm replays the history (`recover`), an interrupted trial
runs again under its own id, and new ids continue.
"""

import math
import os
import shutil
import sys
import time
import traceback
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from absl import logging
import pyglove as pg

from symbolic_automl import callbacks as callbacks_lib
from symbolic_automl import errors
from symbolic_automl import executors
from symbolic_automl import export
from symbolic_automl import reporting
from symbolic_automl import space as space_lib
from symbolic_automl import storage
from symbolic_automl import trial as trial_lib

Objective = Union[str, Sequence[str]]


def search(space: Any,
           algorithm: Any,
           evaluator: Optional[Callable[[Any, trial_lib.TrialContext], dict]] = None,
           max_trials: Optional[int] = None,
           root_dir: Optional[str] = None,
           *,
           objective: Optional[Objective] = None,
           direction: Optional[Union[str, Sequence[str]]] = None,
           early_stopping: Optional[pg.tuning.EarlyStoppingPolicy] = None,
           max_consecutive_failures: int = 5,
           max_rejections: Optional[int] = None,
           keep_models: int = 3,
           executor: Optional[Any] = None,
           progress: bool = True,
           callbacks: Optional[Sequence[Any]] = None,
           tensorboard_dir: Optional[str] = None,
           study: Optional[str] = None,
           parent_id: Optional[int] = None) -> trial_lib.Result:
    """Searches `space` with `algorithm`, scoring candidates with `evaluator`.

    Args:
      space: a symbolic value with hyper-values (e.g. a symbolic Keras model) or
        a define-by-run function; see `Space`.
      algorithm: a `pg.DNAGenerator` (PyGlove's or ours), or a weight-sharing
        algorithm from `symbolic_automl.algorithms`.
      evaluator: `callable(model, context) -> dict of metrics`, e.g. a
        `KerasEvaluator`. Its `training` recipe may hold hyper-values, which
        join the search space. Leave it out for a symbolic Keras model on which
        `compile(...)` and `fit(x, y, validation_data=...)` were called: those
        arguments are the recipe (see `symbolic_automl.keras.facade`).
      max_trials: number of evaluated trials, counted across resumes; trials
        turned away by a cheap check (status "rejected") do not count.
      root_dir: where the trial store (one SQLite file) and trained models go;
        `None` keeps everything in memory.
      objective: metric name(s) whose value is the reward; defaults to the
        evaluator's `objective`, else "reward". Several names = multi-objective.
      direction: "max" or "min", one per objective; defaults to the evaluator's
        `direction` (a recorded recipe scoring a loss says "min"), else "max".
      early_stopping: a `pg.tuning.EarlyStoppingPolicy` consulted on every
        intermediate report.
      max_consecutive_failures: stop with `TooManyFailuresError` after this
        many failed trials in a row.
      max_rejections: stop once this many trials have been rejected in all
        (default: 10 x max_trials), so a too-strict check cannot loop forever.
      keep_models: how many best trained `.keras` models to keep on disk.
      executor: where evaluations run: `executors.InProcess()` (default);
        `executors.WorkerProcess(trials_per_worker=...)`, one recycled child
        process, which keeps memory flat over long searches;
        `executors.LocalPool(workers=N, gpus_per_trial=...)`, N such processes
        at once, each seeing only its GPU(s); `executors.Ray(address=...)`, Ray
        tasks on a cluster (`pip install "symbolic_automl[ray]"`).
      progress: show a progress bar.
      callbacks: observers of the search (`symbolic_automl.callbacks.Callback`),
        told when it begins, on each intermediate report, as each trial ends,
        and when it ends.
      tensorboard_dir: write TensorBoard HParams here (one run per trial, named
        by its id); a shortcut for
        `callbacks=[symbolic_automl.reporting.tensorboard.HParamsLogger(dir)]`.
      study: the name of this search in `root_dir`'s store, when several searches
        share one experiment (None: its main search). Its trials, metadata and
        resume are apart from the other studies'; ids stay unique in the file.
        `symbolic_automl.flows` names the inner searches of a nested search.
      parent_id: the trial (of another study) whose evaluation runs this search;
        every trial records it as `Trial.parent_id`.

    Returns:
      A `Result` with every trial, `best`, `top(k)` and `pareto_front()`.
    """
    if max_trials is None and isinstance(evaluator, int):
        raise TypeError(
            f"search's third argument is the evaluator, got {evaluator!r}: pass "
            f"max_trials={evaluator} by keyword (sa.search(model, algorithm, "
            f"max_trials={evaluator}) uses the model's recorded compile/fit).")
    if not isinstance(max_trials, int) or max_trials < 1:
        raise ValueError(f"max_trials must be a positive int, got {max_trials!r}.")
    if evaluator is None:
        evaluator = _recorded_evaluator(space)
    if direction is None:
        direction = getattr(evaluator, "direction", None) or "max"
    if not callable(evaluator):
        raise TypeError(f"evaluator must be callable as evaluator(model, context), got "
                        f"{type(evaluator).__name__}: {evaluator!r:.100}")
    if not (_is_weight_sharing(algorithm) or isinstance(algorithm, pg.DNAGenerator)):
        raise TypeError(f"algorithm must be a pg.DNAGenerator (e.g. "
                        f"symbolic_automl.algorithms.regularized_evolution(seed=1)) or a "
                        f"weight-sharing algorithm, got {type(algorithm).__name__}: "
                        f"{algorithm!r:.100}")
    objectives = _objectives(objective, evaluator)
    directions = _directions(direction, len(objectives))
    observers = callbacks_lib.check(callbacks)
    if tensorboard_dir is not None:
        from symbolic_automl.reporting import tensorboard  # pylint: disable=g-import-not-at-top
        observers.append(tensorboard.HParamsLogger(tensorboard_dir))
    experiment = _Experiment(space, algorithm, evaluator, root_dir, objectives, directions,
                             early_stopping, max_consecutive_failures, keep_models,
                             executor or executors.InProcess(),
                             10 * max_trials if max_rejections is None else max_rejections,
                             observers, study, parent_id)
    result = None
    try:
        callbacks_lib.notify(observers, "on_search_begin", callbacks_lib.SearchInfo(
            experiment.space, objectives, directions, list(experiment.trials), root_dir),
            raise_errors=True)
        if _is_weight_sharing(algorithm):
            experiment.run_weight_sharing()
        else:
            experiment.run(max_trials, progress)
        result = experiment.result()
        return result
    finally:
        try:
            callbacks_lib.notify(observers, "on_search_end", result)
        finally:
            experiment.close()


def _recorded_evaluator(space):
    """The evaluator a symbolic Keras model's recorded compile/fit describe."""
    facade = sys.modules.get("symbolic_automl.keras.facade")
    if facade is not None and isinstance(space, facade.KerasModelFacade):
        return space.recorded_evaluator()
    raise TypeError(
        "search needs evaluator=... (e.g. sa.KerasEvaluator(x, y, validation_data=...)), "
        "or a symbolic Keras model on which compile(...) and fit(x, y, validation_data=...) "
        f"were called to record the training recipe; got a {type(space).__name__} space.")


def _objectives(objective, evaluator) -> List[str]:
    if objective is None:
        objective = getattr(evaluator, "objective", None) or "reward"
    names = [objective] if isinstance(objective, str) else list(objective)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"objective must be a metric name or a list of names, got {objective!r}.")
    return names


def _directions(direction, n) -> List[str]:
    directions = [direction] * n if isinstance(direction, str) else list(direction)
    if len(directions) != n or any(d not in ("max", "min") for d in directions):
        raise ValueError(
            f"direction must be 'max' or 'min' (one per objective, {n} here), got {direction!r}.")
    return directions


def _is_weight_sharing(algorithm) -> bool:
    # An instance of a weight-sharing class means its module is imported; checking
    # sys.modules keeps Keras out of Keras-free searches.
    oneshot = sys.modules.get("symbolic_automl.oneshot")
    base = getattr(oneshot, "WeightSharingAlgorithm", None)
    return base is not None and isinstance(algorithm, base)


class _Experiment:
    """One search's state: space, store, algorithm, and the trial loop."""

    def __init__(self, space, algorithm, evaluator, root_dir, objectives, directions,
                 early_stopping, max_consecutive_failures, keep_models, executor,
                 max_rejections, observers=(), study=None, parent_id=None):
        self.executor = executor
        self.observers = list(observers)
        self.max_rejections = max_rejections
        value = space.value if isinstance(space, space_lib.Space) else space
        training = getattr(evaluator, "training", None)
        if training is not None and not pg.is_deterministic(training) and not (
                space_lib.value_callable(value) and _is_weight_sharing(algorithm)):
            # The recipe's hyper-values join the model's: one genotype for both, in
            # either style; each trial materializes a `Trainable(model, training)`.
            self.space = space_lib.Space(value, training=training)
        else:
            self.space = space_lib.Space(space)
        self.algorithm = algorithm
        self.evaluator = evaluator
        self.root_dir = root_dir
        self.objectives = objectives
        self.directions = directions
        self.early_stopping = early_stopping
        self.max_consecutive_failures = max_consecutive_failures
        self.keep_models = keep_models
        self.store = storage.TrialStore.in_dir(root_dir, study=study, parent_id=parent_id)
        self._check_or_record_space()
        self.trials: List[trial_lib.Trial] = self.store.trials()
        # Trial id -> the assignment of an algorithm on the fast path (see `_uses_assignments`).
        self._assignments: Dict[int, Dict[str, Any]] = {}
        self._fast = False

    def close(self):
        self.executor.close()
        self.store.close()

    def result(self) -> trial_lib.Result:
        # The in-memory records equal the store's (each was committed as it
        # changed); re-reading would re-parse every DNA, ~10 ms each.
        return trial_lib.Result(list(self.trials), self.objectives, self.root_dir,
                                self.space, self.store.get_meta("architecture_history"),
                                study=self.store.study)

    def _check_or_record_space(self):
        fingerprint = self.space.fingerprint()
        recorded = self.store.get_meta("space_fingerprint")
        if recorded is None:
            self.store.set_meta("space_fingerprint", fingerprint)
            self.store.set_meta("space", self.space.to_json_str())
            self.store.set_meta("objectives", self.objectives)
            self.store.set_meta("directions", self.directions)
            self.store.set_meta("created", time.time())
        elif recorded != fingerprint:
            raise errors.StoreError(
                f"{self.store.path} holds a search over a different search space "
                f"(fingerprint {recorded}, this space's is {fingerprint}). Resuming it with "
                "another space would mix incomparable trials: use a new root_dir.")
        else:
            recorded_objectives = self.store.get_meta("objectives")
            if recorded_objectives != self.objectives:
                raise errors.StoreError(
                    f"{self.store.path} was searched for objective {recorded_objectives}, "
                    f"not {self.objectives}: use a new root_dir.")

    # The black-box loop.

    def _uses_assignments(self) -> bool:
        """Whether the algorithm speaks assignments (no `pg.DNA` on the hot path).

        `symbolic_automl.algorithms.Algorithm` does: `propose_assignment()`
        returns a dict `{decision id: value}` of `space.genome`, and `feedback`
        and `feedback_infeasible` take it back. Any other `pg.DNAGenerator` gets
        and gives `pg.DNA`s.
        """
        return (callable(getattr(self.algorithm, "propose_assignment", None))
                and self.space.genome is not None)

    def run(self, max_trials: int, show_progress: bool):
        self.algorithm.setup(self.space.dna_spec)
        self._fast = self._uses_assignments()
        if self.early_stopping is not None:
            self.early_stopping.setup(self.space.dna_spec)
        interrupted = [t for t in self.trials if t.status == trial_lib.RUNNING]
        self._recover()
        rejected = sum(t.status == trial_lib.REJECTED for t in self.trials)
        finished = len(self.trials) - len(interrupted) - rejected
        counts = {s: sum(t.status == s for t in self.trials) for s in trial_lib.STATUSES}
        progress = reporting.Progress(max_trials, min(finished, max_trials), show_progress,
                                      counts=counts)
        consecutive_failures: List[trial_lib.Trial] = []
        best = trial_lib.Result(self.trials, self.objectives).best
        try:
            pending = list(interrupted)
            while finished < max_trials:
                if pending:
                    trial = pending.pop(0)
                    trial.attempts += 1
                    trial.started = time.time()
                    self.store.restart(trial)
                    logging.info("Re-running trial %d, interrupted before.", trial.id)
                else:
                    trial = self._propose()
                    if trial is None:
                        logging.info("The algorithm has no more proposals.")
                        break
                self._evaluate(trial)
                self._feedback(trial)
                if self.observers:
                    callbacks_lib.notify(self.observers, "on_trial_end", trial)
                if trial.has_reward and (best is None or _first(trial.reward) > _first(best.reward)):
                    best = trial
                if trial.status == trial_lib.REJECTED:
                    progress.update(trial, best)
                    rejected += 1
                    if rejected >= self.max_rejections:
                        logging.warning("Stopping: %d trials were rejected (max_rejections).",
                                        rejected)
                        break
                    continue
                finished += 1
                progress.update(trial, best)
                if trial.status == trial_lib.FAILED:
                    consecutive_failures.append(trial)
                    if len(consecutive_failures) >= self.max_consecutive_failures:
                        raise errors.TooManyFailuresError(_failures_message(consecutive_failures))
                else:
                    consecutive_failures = []
        finally:
            progress.close()

    def _recover(self):
        if not self.trials:
            return
        if self._fast:
            genotypes = [self.space.genome.assignment_from_dna_json(trial_lib.trial_dna_json(t))
                         for t in self.trials]
            # Only an interrupted trial runs again and needs its assignment.
            self._assignments = {t.id: a for t, a in zip(self.trials, genotypes)
                                 if t.status == trial_lib.RUNNING}
        else:
            genotypes = [self.space.check_dna(t.dna) for t in self.trials]
        self.algorithm.recover([(g, t.reward if t.has_reward else None)
                                for g, t in zip(genotypes, self.trials)])
        # History carries no reward for infeasible trials; algorithms that track
        # them hear about them again, as they did during the run.
        tell = getattr(self.algorithm, "feedback_infeasible", None)
        if tell is not None:
            for g, t in zip(genotypes, self.trials):
                if t.status in (trial_lib.INFEASIBLE, trial_lib.REJECTED, trial_lib.FAILED):
                    tell(g)
        if self.early_stopping is not None:
            self.early_stopping.recover([self._pg_trial(t) for t in self.trials])
        logging.info("Resumed %d trials from %s.", len(self.trials), self.store.path)

    def _propose(self) -> Optional[trial_lib.Trial]:
        try:
            proposal = (self.algorithm.propose_assignment() if self._fast
                        else self.algorithm.propose())
        except StopIteration:
            return None
        now = time.time()
        trial_id = len(self.trials) + 1  # A placeholder: the store allocates the id.
        if self._fast:
            genome = self.space.genome
            trial = trial_lib.Trial(
                id=None, dna=None, dna_json=genome.to_dna_json(proposal),
                build_dna=lambda: genome.to_dna(proposal),
                status=trial_lib.RUNNING, created=now, started=now)
        else:
            trial = trial_lib.Trial(id=None, dna=self.space.check_dna(proposal),
                                    status=trial_lib.RUNNING, created=now, started=now)
        trial.decisions = self._decisions(trial, proposal if self._fast else None)
        self.store.add(trial)
        if self._fast:
            self._assignments[trial.id] = proposal
        self.trials.append(trial)
        return trial

    def _decisions(self, trial: trial_lib.Trial, assignment=None) -> Optional[Dict[str, Any]]:
        """Decision name -> value, recorded so viewers without the space show values."""
        try:
            if assignment is not None and not self.space.is_define_by_run:
                # Same as `Space.decisions`, without building the trial's pg.DNA.
                return reporting.decisions_of_assignment(self.space.genome, assignment)
            return self.space.decisions(trial.dna)
        except Exception:  # pylint: disable=broad-except
            # Only a view of the trial: a space whose values do not describe
            # themselves still searches (viewers fall back to the DNA).
            logging.debug("No readable decisions for trial %d:\n%s", trial.id,
                          traceback.format_exc(limit=4))
            return None

    def _evaluate(self, trial: trial_lib.Trial) -> None:
        artifact_dir = None
        if self.root_dir is not None and getattr(self.evaluator, "saves_models", False):
            artifact_dir = os.path.join(self.root_dir, "trials", str(trial.id))
            os.makedirs(artifact_dir, exist_ok=True)
        trial.measurements = []  # Filled by `_on_report`, as reports arrive.
        try:
            assignment = self._assignments.get(trial.id)
            model = (self.space.materialize(trial.dna) if assignment is None
                     else self.space.materialize_assignment(assignment))
            trial.model_json = _model_json(model, self.space, lambda: trial.dna)
            self.executor.submit(
                self.evaluator,
                executors.Job(trial.id, model, dna=lambda: trial.dna,
                              artifact_dir=artifact_dir),
                on_report=lambda _, m: self._on_report(trial, m))
            outcome, = self.executor.wait()
            if outcome.error is not None:
                raise outcome.error
            trial.metrics = _check_metrics(outcome.metrics)
            trial.reward = self._reward(trial.metrics)
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
        trial.finished = time.time()
        self.store.finish(trial)
        self._keep_trained_model(trial, artifact_dir)

    def _on_report(self, trial: trial_lib.Trial, measurement: trial_lib.Measurement) -> bool:
        trial.measurements.append(measurement)
        self.store.add_measurement(trial.id, measurement)
        if self.observers:
            callbacks_lib.notify(self.observers, "on_measurement", trial, measurement)
        if self.early_stopping is None:
            return False
        return bool(self.early_stopping.should_stop_early(self._pg_trial(trial)))

    def _reward(self, metrics: dict):
        values = []
        for name, direction in zip(self.objectives, self.directions):
            if name not in metrics:
                raise KeyError(f"The evaluator returned no {name!r} (the objective); "
                               f"it returned {sorted(metrics)}.")
            value = float(metrics[name])
            if not math.isfinite(value):
                raise FloatingPointError(f"Objective {name!r} is {value}.")
            values.append(value if direction == "max" else -value)
        return values[0] if len(values) == 1 else tuple(values)

    def _feedback(self, trial: trial_lib.Trial) -> None:
        genotype = self._assignments.pop(trial.id) if self._fast else trial.dna
        if trial.has_reward:
            self.algorithm.feedback(genotype, trial.reward)
        elif trial.status in (trial_lib.INFEASIBLE, trial_lib.REJECTED, trial_lib.FAILED):
            # PyGlove's convention is to feed nothing back for an infeasible
            # trial; algorithms that can use the information say so.
            tell = getattr(self.algorithm, "feedback_infeasible", None)
            if tell is not None:
                tell(genotype)

    def _pg_trial(self, trial: trial_lib.Trial) -> pg.tuning.Trial:
        measurements = []
        for m in trial.measurements:
            reward = m.metrics.get(self.objectives[0])
            if reward is not None and self.directions[0] == "min":
                reward = -reward
            measurements.append(pg.tuning.Measurement(
                step=m.step, elapse_secs=m.elapsed, reward=reward, metrics=m.metrics))
        done = trial.status != trial_lib.RUNNING
        final = None
        if trial.has_reward and not isinstance(trial.reward, tuple):
            final = pg.tuning.Measurement(
                step=measurements[-1].step if measurements else 0,
                elapse_secs=trial.duration or 0.0, reward=trial.reward,
                metrics={k: v for k, v in trial.metrics.items() if trial_lib.is_finite_number(v)})
        return pg.tuning.Trial(
            id=trial.id, dna=trial.dna, status="COMPLETED" if done else "PENDING",
            infeasible=trial.status in (trial_lib.INFEASIBLE, trial_lib.REJECTED,
                                        trial_lib.FAILED),
            measurements=measurements, final_measurement=final,
            created_time=int(trial.created))

    # Trained models: keep the best `keep_models` under root_dir/models.

    def _keep_trained_model(self, trial, artifact_dir):
        if artifact_dir is None:
            return
        saved = os.path.join(artifact_dir, "model.keras")
        if trial.has_reward and os.path.exists(saved):
            target = export.keras_model_path(self.root_dir, trial.id)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(saved, target)
            self._prune_models()
        shutil.rmtree(artifact_dir, ignore_errors=True)
        try:
            os.rmdir(os.path.dirname(artifact_dir))  # `trials/`, once empty.
        except OSError:
            pass

    def _prune_models(self):
        if self.root_dir is None:
            return
        keep = {t.id for t in trial_lib.Result(self.trials, self.objectives).top(self.keep_models)}
        for t in self.trials:
            path = export.keras_model_path(self.root_dir, t.id)
            if t.id not in keep and os.path.exists(path):
                os.remove(path)

    # Weight sharing: the algorithm trains a supernet, then one ordinary trial.

    def run_weight_sharing(self):
        if any(t.status in trial_lib.FINISHED_WITH_REWARD for t in self.trials):
            logging.info("A derived architecture is already recorded; not searching again.")
            return
        if self.space.has_shared_decisions:
            # A supernet relaxes each place on its own and could derive two values
            # for what the space says is one decision.
            raise errors.SearchSpaceError(
                "Weight-sharing search does not support a hyper-value used in several "
                "places (one decision for all of them): give each place its own "
                "hyper-value, or use a black-box algorithm (random, evolution).")
        outcome = self.algorithm.search(self.space.value, self.evaluator)
        self.store.set_meta("architecture_history", outcome.history)
        fixed = _FixedProposal(dna=outcome.dna)
        retrain = getattr(self.algorithm, "retrain", True)
        if retrain:
            self.algorithm, original = fixed, self.algorithm
            try:
                self.run(max_trials=len(self.trials) + 1, show_progress=False)
            finally:
                self.algorithm = original
        else:
            now = time.time()
            trial = trial_lib.Trial(id=len(self.trials) + 1, dna=self.space.check_dna(outcome.dna),
                                    status=trial_lib.RUNNING, created=now, started=now)
            trial.decisions = self._decisions(trial)
            self.store.add(trial)
            self.trials.append(trial)
            model = self.space.materialize(trial.dna)
            trial.model_json = _model_json(model, self.space, lambda: trial.dna)
            trial.metrics = _check_metrics(getattr(outcome, "metrics", {}) or {})
            try:  # Inherited-weight metrics, when they hold the objective.
                trial.reward = self._reward(trial.metrics)
            except (KeyError, FloatingPointError, TypeError, ValueError):
                trial.reward = None
            trial.finished = time.time()
            trial.status = trial_lib.COMPLETED
            self.store.finish(trial)
            callbacks_lib.notify(self.observers, "on_trial_end", trial)


class _FixedProposal(pg.DNAGenerator):
    """Proposes one given DNA, then stops."""

    dna: pg.typing.Object(pg.DNA)

    def _propose(self):
        if self.num_proposals:
            raise StopIteration()
        return self.dna.clone()


def _model_json(model, space, get_dna: Callable[[], pg.DNA]) -> Optional[str]:
    if isinstance(model, pg.Symbolic):
        try:
            return export.dumps(model)
        except (TypeError, ValueError):  # e.g. `Trainable(model=<a plain keras.Model>)`.
            pass
    # Define-by-run models, and symbolic ones holding values with no safe JSON
    # form, are recorded by their decisions: `export.dumps` never writes a pickle.
    return export.decisions_json(space.decisions(get_dna()))


def _first(reward) -> float:
    return reward[0] if isinstance(reward, tuple) else reward


def _check_metrics(metrics) -> dict:
    if not isinstance(metrics, dict):
        raise TypeError(f"The evaluator must return a dict of metrics, got {type(metrics).__name__}: "
                        f"{metrics!r:.200}")
    return dict(metrics)


def _failures_message(failures: List[trial_lib.Trial]) -> str:
    last = "\n".join(f"  trial {t.id}: {(t.error or '').splitlines()[0]}" for t in failures[-5:])
    return (f"{len(failures)} trials in a row failed; stopping the search (their records are "
            f"kept; raise max_consecutive_failures to go on). Last errors:\n{last}")
