"""Trial records, the context an evaluator sees, and the result of a search."""

import dataclasses
import math
import os
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import pyglove as pg

from symbolic_automl import decisions as decisions_lib
from symbolic_automl import errors
from symbolic_automl.reporting.readable import format_decisions

Reward = Union[None, float, Tuple[float, ...]]

# Trial statuses. `running` in a store means the process died mid-trial.
RUNNING = "running"
COMPLETED = "completed"
STOPPED = "stopped"        # Completed, but stopped early by the stopping policy.
FAILED = "failed"          # Build or training raised, or produced NaN/inf.
INFEASIBLE = "infeasible"  # The space sample cannot become a model.
REJECTED = "rejected"      # Turned away by a cheap check before full evaluation.
STATUSES = (RUNNING, COMPLETED, STOPPED, FAILED, INFEASIBLE, REJECTED)
FINISHED_WITH_REWARD = (COMPLETED, STOPPED)


@dataclasses.dataclass
class Measurement:
    """An intermediate report of a trial, e.g. the metrics after one epoch."""

    step: int
    metrics: Dict[str, float]
    elapsed: float


@dataclasses.dataclass
class Trial:
    """Everything recorded about one trial.

    Attributes:
      id: 1-based, in proposal order; ids continue across resumes and are unique
        across the searches sharing a store (None until the store records it).
      dna: the genotype the algorithm proposed (a `pg.DNA`, built on first
        access when the trial was made from its JSON: building one costs
        milliseconds, which the search loop's hot path does without).
      status: one of `STATUSES`.
      model: the materialized symbolic model (lazily loaded from its JSON).
      metrics: what the evaluator returned (final values).
      reward: the value fed to the algorithm (higher is better; a tuple when
        multi-objective).
      error: the reason a trial failed, was infeasible or rejected.
      measurements: intermediate reports, in step order.
      created, started, finished: Unix times.
      dna_json: the DNA as `pg.to_json_str` writes it (what the store keeps).
      decisions: decision name -> chosen value (`Space.decisions`), what
        every view of the trial shows; None in stores written before it was
        recorded.
      parent_id: the trial whose evaluation ran this trial's search (the outer
        trial of a nested search's inner trial), else None.
    """

    id: Optional[int]
    dna: Optional[pg.DNA]
    status: str
    model_json: Optional[str] = None
    metrics: Dict[str, Any] = dataclasses.field(default_factory=dict)
    reward: Reward = None
    error: Optional[str] = None
    measurements: List[Measurement] = dataclasses.field(default_factory=list)
    created: float = 0.0
    started: float = 0.0
    finished: Optional[float] = None
    attempts: int = 1
    decisions: Optional[Dict[str, Any]] = None
    parent_id: Optional[int] = None
    dna_json: Optional[str] = dataclasses.field(default=None, repr=False, compare=False)
    build_dna: Optional[Callable[[], pg.DNA]] = dataclasses.field(
        default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.dna_json is None and self.dna is None and self.build_dna is None:
            raise ValueError(f"Trial {self.id} needs a dna, its dna_json, or build_dna")

    @property
    def model(self) -> Any:
        """The symbolic model of this trial, loaded without running code from the store.

        A model that is not fully symbolic (a define-by-run function's Keras
        model) is recorded by its decisions: this gives `{"decisions": {...}}`.

        Raises:
          StoreError: the record is not JSON, or holds a pickle or code.
        """
        if self.model_json is None:
            return None
        return _load_record(self, "model", self.model_json)

    @property
    def duration(self) -> Optional[float]:
        return None if self.finished is None else self.finished - self.started

    @property
    def has_reward(self) -> bool:
        return self.status in FINISHED_WITH_REWARD and self.reward is not None

    def __repr__(self):
        reward = format_reward(self.reward)
        if self.decisions is not None:
            return (f"Trial(id={self.id}, status={self.status!r}, reward={reward}, "
                    f"decisions=({format_decisions(self.decisions)}))")
        return (f"Trial(id={self.id}, status={self.status!r}, reward={reward}, "
                f"dna={self.dna!r})")

    def describe_decisions(self, max_chars: Optional[int] = None) -> str:
        """The decisions as `name=value, ...` (the DNA when none were recorded)."""
        if self.decisions is not None:
            return format_decisions(self.decisions, max_chars)
        return f"dna={self.dna}"



def _get_dna(trial: Trial) -> pg.DNA:
    dna = trial.__dict__.get("_dna")
    if dna is None:
        if trial.build_dna is not None:
            dna = trial.build_dna()
        else:
            dna = _load_record(trial, "DNA", trial.dna_json)
            if not isinstance(dna, pg.DNA):
                raise errors.StoreError(f"Trial {trial.id}'s recorded DNA is not a DNA: "
                                        f"{trial.dna_json[:200]}")
        trial.__dict__["_dna"] = dna
    return dna


def _load_record(trial: Trial, what: str, text: str) -> Any:
    """Parses a trial's stored JSON safely; a bad record is a `StoreError` naming the trial."""
    from symbolic_automl import export  # pylint: disable=g-import-not-at-top

    try:
        return export.loads(text)
    except Exception as e:  # pylint: disable=broad-except
        # A registered class may reject malformed arguments with any error.
        raise errors.StoreError(f"Trial {trial.id}'s recorded {what} cannot be loaded: {e}") from e


def _set_dna(trial: Trial, dna: Optional[pg.DNA]) -> None:
    trial.__dict__["_dna"] = dna
    if dna is not None:
        trial.__dict__["dna_json"] = None  # Derived from `dna` again when needed.


# A property on the dataclass field: `Trial(dna=...)` sets it, reads build lazily.
Trial.dna = property(_get_dna, _set_dna)


def trial_dna_json(trial: Trial) -> str:
    """The trial's DNA as JSON, from the record when it has one."""
    if trial.dna_json is None:
        trial.dna_json = pg.to_json_str(trial.dna)
    return trial.dna_json


def format_reward(reward: Reward) -> str:
    """A reward as short text (4 significant digits; tuples in parentheses)."""
    if reward is None:
        return "None"
    if isinstance(reward, tuple):
        return "(" + ", ".join(f"{r:.4g}" for r in reward) + ")"
    return f"{reward:.4g}"


class TrialContext:
    """What an evaluator sees of the search while it evaluates one trial.

    Example (a custom evaluator)::

        def evaluate(model, context):
            for epoch in range(10):
                accuracy = train_one_epoch(model)
                context.report(epoch + 1, {"val_accuracy": accuracy})
                if context.should_stop():
                    break
            return {"val_accuracy": accuracy}
    """

    def __init__(self, trial_id: int, dna: Union[pg.DNA, Callable[[], pg.DNA]],
                 training: Any = None, artifact_dir: Optional[str] = None,
                 on_report: Optional[Callable[[Measurement], bool]] = None):
        self.trial_id = trial_id
        self._dna = dna
        self.training = training
        self.artifact_dir = artifact_dir
        self.measurements: List[Measurement] = []
        self._on_report = on_report
        self._stop = False
        self._start = time.time()

    @property
    def dna(self) -> pg.DNA:
        """The trial's `pg.DNA` (built on first access when given as a function)."""
        if not isinstance(self._dna, pg.DNA) and callable(self._dna):
            self._dna = self._dna()
        return self._dna

    def report(self, step: int, metrics: Dict[str, Any]) -> None:
        """Records an intermediate measurement; may ask the trial to stop."""
        clean = {k: float(v) for k, v in metrics.items() if _is_number(v)}
        measurement = Measurement(int(step), clean, time.time() - self._start)
        self.measurements.append(measurement)
        if self._on_report is not None and self._on_report(measurement):
            self._stop = True

    def should_stop(self) -> bool:
        """True once the early-stopping policy has asked this trial to stop."""
        return self._stop

    def stop(self) -> None:
        self._stop = True


def _is_number(value) -> bool:
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False


def is_finite_number(value) -> bool:
    return _is_number(value) and math.isfinite(float(value))


class Result:
    """The trials of a search, with the best, the top-k and the Pareto front.

    Example::

        result = search(...)
        print(result.summary())            # decisions by name and value
        model = result.best_model()        # the best trial's Keras model
        result.decisions(result.best)      # [('filters', 32), ('learning_rate', 0.0072)]
        for trial in result.top(3): ...

    Args:
      trials: the trial records.
      objective: the objective metric names.
      root_dir: where the search kept its files (trained `.keras` models).
      space: the `Space` searched, when known (`search` gives it).
      history: the weight-sharing architecture history, if any.
      dna_spec: the genotype, when the space is not at hand (a store records it).
      study: the search's name in its store (None: the main search).
      inner_results: trial id -> the `Result`s of the searches its evaluation
        ran, for nested searches kept in memory (else they are read from the
        store; see `inner`).
    """

    def __init__(self, trials: Sequence[Trial], objective: Sequence[str],
                 root_dir: Optional[str] = None, space=None, history: Any = None,
                 dna_spec: Optional[pg.DNASpec] = None, study: Optional[str] = None,
                 inner_results: Optional[Dict[int, List["Result"]]] = None):
        self.trials = list(trials)
        self.objective = list(objective)
        self.root_dir = root_dir
        self.space = space
        self.architecture_history = history
        self.dna_spec = dna_spec if dna_spec is not None else getattr(space, "dna_spec", None)
        self.study = study
        self.inner_results = inner_results
        self._short_names = None

    def inner(self, trial: Union[int, Trial]) -> "Result":
        """The search that `trial`'s evaluation ran: a nested search's inner search.

        Example::

            result = flows.nested(...)
            for outer in result.trials:
                print(outer.id, result.inner(outer).best)

        Raises:
          ValueError: the trial ran no search, or several (see `inner_searches`).
        """
        searches = self.inner_searches(trial)
        trial_id = trial.id if isinstance(trial, Trial) else trial
        if len(searches) != 1:
            raise ValueError(
                f"Trial {trial_id} ran {len(searches)} searches "
                f"({[r.study for r in searches]}), not one: use inner_searches({trial_id}).")
        return searches[0]

    def inner_searches(self, trial: Union[int, Trial]) -> List["Result"]:
        """Every search `trial`'s evaluation ran (e.g. one per seed), in order.

        Raises:
          ValueError: the trial ran none, or its searches were kept nowhere.
        """
        trial_id = trial.id if isinstance(trial, Trial) else trial
        if self.inner_results is not None and trial_id in self.inner_results:
            return list(self.inner_results[trial_id])
        if self.root_dir is None:
            raise ValueError(f"Trial {trial_id} ran no search recorded with this result "
                             "(a search without root_dir keeps its store in memory).")
        from symbolic_automl import storage  # pylint: disable=g-import-not-at-top

        path = os.path.join(self.root_dir, storage.FILENAME)
        if not os.path.exists(path):
            raise ValueError(f"No trial store at {path}: no inner search of trial {trial_id}.")
        store = storage.TrialStore(path)
        try:
            studies = store.studies()
            mine = [s for s in studies if s.parent_id == trial_id]
            if not mine:
                parents = sorted({s.parent_id for s in studies if s.parent_id is not None})
                raise ValueError(f"Trial {trial_id} ran no search recorded in {path}; "
                                 f"trials that did: {parents}.")
            return [study_result(store.path, s.name, self.root_dir) for s in mine]
        finally:
            store.close()

    @property
    def rewarded(self) -> List[Trial]:
        return [t for t in self.trials if t.has_reward]

    @property
    def best(self) -> Optional[Trial]:
        """The trial with the highest reward (first objective when several).

        Its Keras model is `best_model()`.
        """
        top = self.top(1)
        return top[0] if top else None

    def decisions(self, trial: Trial) -> Optional[List[Tuple[str, Any]]]:
        """What `trial` chose, as (short unique name, value) pairs, in spec order.

        The one view of a trial's decisions for every viewer (summary, CLI,
        logs, dashboards, TensorBoard HParams): names are the shortest suffixes
        of the decisions' paths that stay unique across this result's trials
        (`layers[1].filters` -> `filters`), values are the candidates chosen.
        None when the trial recorded no decisions and no space is at hand.
        """
        if trial.decisions is not None:
            return decisions_lib.shorten(trial.decisions, self._names())
        if self.dna_spec is None:
            return None
        try:
            return decisions_lib.named(self.dna_spec, trial.dna, self._names())
        except (ValueError, KeyError, TypeError):
            return None  # A DNA from another space: shown as it is.

    def _names(self) -> Dict[str, str]:
        # Short names over every trial's decisions, so each trial shows the same.
        if self._short_names is None:
            keys: Dict[str, None] = {}
            if self.dna_spec is not None:
                keys.update(dict.fromkeys(decisions_lib.short_names(self.dna_spec)))
            for t in self.trials:
                keys.update(dict.fromkeys(t.decisions or ()))
            self._short_names = decisions_lib.shorten_names(keys)
        return self._short_names

    def _describe(self, trial: Trial) -> str:
        pairs = self.decisions(trial)
        return decisions_lib.format_pairs(pairs, 200) if pairs is not None else f"dna={trial.dna}"

    def keras_model(self, trial: Optional[Trial] = None) -> Any:
        """The Keras model of `trial` (default: the best), whatever wrapped it.

        The trained model when the search saved it (`root_dir/models/`, the
        `keep_models` best), else the model its decisions build, untrained. A
        model paired with its training recipe (`Trainable`) gives the model.

        Raises:
          ValueError: there is no such trial, or nothing to build it from.
        """
        trial = trial if trial is not None else self.best
        if trial is None:
            raise ValueError("No trial with a reward yet: no best model.")
        import keras  # pylint: disable=g-import-not-at-top
        from symbolic_automl import export  # pylint: disable=g-import-not-at-top
        from symbolic_automl import keras as symbolic_keras  # pylint: disable=g-import-not-at-top

        if self.root_dir is not None:
            saved = export.keras_model_path(self.root_dir, trial.id)
            if os.path.exists(saved):
                return keras.saving.load_model(saved)
        if self.space is not None:
            model = self.space.materialize(trial.dna)
        else:
            model = trial.model
            if model is None or (isinstance(model, pg.Dict) and set(model.keys()) == {"decisions"}):
                raise ValueError(
                    f"Trial {trial.id} records only its decisions (a define-by-run space) and "
                    "no trained model was saved: rebuild it with Space(fn).materialize(trial.dna).")
        model = getattr(model, "model", model) if type(model).__name__ == "Trainable" else model
        return symbolic_keras.to_keras(model)

    def best_model(self) -> Any:
        """The best trial's Keras model (trained when saved); see `keras_model`."""
        return self.keras_model(self.best)

    def top(self, k: int) -> List[Trial]:
        """The `k` trials with the highest rewards, best first."""
        def key(t):
            return t.reward if not isinstance(t.reward, tuple) else t.reward[0]
        return sorted(self.rewarded, key=lambda t: (-key(t), t.id))[:k]

    def pareto_front(self) -> List[Trial]:
        """Trials no other trial dominates on every objective (maximizing rewards)."""
        trials = self.rewarded
        rewards = [t.reward if isinstance(t.reward, tuple) else (t.reward,) for t in trials]
        front = []
        for i, r in enumerate(rewards):
            dominated = any(
                all(a >= b for a, b in zip(o, r)) and any(a > b for a, b in zip(o, r))
                for j, o in enumerate(rewards) if j != i)
            if not dominated:
                front.append(trials[i])
        return front

    def count(self, status: str) -> int:
        return sum(t.status == status for t in self.trials)

    def summary(self, k: int = 5) -> str:
        """A short text table of the search: counts, then the top `k` trials' decisions."""
        counts = ", ".join(f"{s}={self.count(s)}" for s in STATUSES if self.count(s))
        lines = [f"{len(self.trials)} trials ({counts}); objective: {', '.join(self.objective)}"]
        for t in self.top(k):
            metrics = ", ".join(f"{m}={t.metrics[m]:.4g}" for m in self.objective
                                if is_finite_number(t.metrics.get(m)))
            lines.append(f"  #{t.id:<4} {metrics}  {self._describe(t)}")
        return "\n".join(lines)

    def __repr__(self):
        study = "" if self.study is None else f"study={self.study!r}, "
        return f"Result({study}{len(self.trials)} trials, best={self.best!r})"


def study_result(path: str, study: Optional[str], root_dir: Optional[str] = None) -> Result:
    """The `Result` of one study of the store at `path`, read from the file."""
    from symbolic_automl import storage  # pylint: disable=g-import-not-at-top

    store = storage.TrialStore(path, study=study)
    try:
        return Result(store.trials(), store.get_meta("objectives") or ["reward"],
                      root_dir if root_dir is not None else os.path.dirname(path),
                      history=store.get_meta("architecture_history"), study=study)
    finally:
        store.close()
