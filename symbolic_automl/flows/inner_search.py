"""`InnerSearch`: an evaluator that runs a whole search, so searches nest.

The outer search's model is its choice (a symbolic value: a batch size, an
input resolution, a latency budget, ... or a search algorithm); each outer
trial's evaluation runs one inner search, recorded in the same store as the
study `trial/<outer id>` with `parent_id` = the outer trial's id, and the
outer reward is `reward(inner_result, outer_choice)`.

Any of `space`, `algorithm`, `evaluator` and `max_trials` may be a function of
the outer choice: a plain function (or lambda) with exactly one parameter. A
define-by-run space takes none, an evaluator two (`model, context`), so these
never read as functions of the outer choice.

Example::

    inner = flows.InnerSearch(
        space=lambda outer: cnn(input_shape=(outer.resolution,) * 2 + (1,)),
        algorithm=sa.regularized_evolution(population_size=8, tournament_size=3, seed=1),
        evaluator=lambda outer: sa.KerasEvaluator(*digits_at(outer.resolution)),
        max_trials=20,
        reward=flows.best_under("params", lambda outer: outer.max_params))
    result = sa.search(outer_space, sa.random(seed=0), evaluator=inner.bind("runs/a"),
                       max_trials=6, root_dir="runs/a")     # or flows.nested(...)
"""

import copy
import inspect
import math
import types
from typing import Any, Callable, Dict, List, Optional

import pyglove as pg

from symbolic_automl import errors
from symbolic_automl import experiment
from symbolic_automl import trial as trial_lib
from symbolic_automl.flows import rewards

# The inner searches of outer trial N are the studies `trial/N` (`trial/N/<repeat>`).
STUDY_PREFIX = "trial/"


def study_name(outer_trial_id: int, repeat: Optional[int] = None) -> str:
    """The store study holding outer trial `outer_trial_id`'s inner search."""
    name = f"{STUDY_PREFIX}{outer_trial_id}"
    return name if repeat is None else f"{name}/{repeat}"


def is_outer_function(value: Any) -> bool:
    """Whether `value` is a function of the outer choice: a plain function of one parameter."""
    if not isinstance(value, (types.FunctionType, types.MethodType)):
        return False
    try:
        parameters = inspect.signature(value).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) == 1


class InnerSearch:
    """Evaluates an outer choice by running a search; see the module docstring.

    Args:
      space: the inner search space, or `outer -> space`.
      algorithm: the inner algorithm (black-box or weight-sharing), or
        `outer -> algorithm`. A fresh copy (`clone(deep=True)`) runs each
        inner search, so outer trials never share an algorithm's state.
      evaluator: the inner evaluator, or `outer -> evaluator`.
      max_trials: inner trials per inner search, or `outer -> int`.
      reward: `(inner_result, outer) -> number | dict | Trial`; default
        `rewards.best_reward`. A `Trial` gives its reward and reports its
        metrics as `inner_<name>`; a dict is the outer metrics (name the outer
        objective in it).
      repeats: inner searches per outer trial, the algorithm's `seed` (when it
        has one) shifted by the repeat index; the outer metrics average the
        repeats' (an intermediate report after each lets early stopping cut an
        outer trial short).
      root_dir: the experiment directory whose store records the inner
        searches; None keeps them in memory (`results`), in this process only.
      **search_kwargs: more arguments of the inner `symbolic_automl.search`
        (`objective`, `direction`, `early_stopping`, `executor`, ...).
    """

    objective = "reward"
    direction = "max"

    def __init__(self, space: Any, algorithm: Any, evaluator: Any = None,
                 max_trials: Any = 10, reward: Callable[..., Any] = rewards.best_reward, *,
                 repeats: int = 1, root_dir: Optional[str] = None, **search_kwargs):
        if not callable(reward):
            raise TypeError(f"reward must be a function (inner_result, outer) -> number, "
                            f"dict or Trial, got {reward!r:.100}.")
        if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
            raise ValueError(f"repeats must be a positive int, got {repeats!r}.")
        if not (is_outer_function(max_trials) or (
                isinstance(max_trials, int) and not isinstance(max_trials, bool)
                and max_trials >= 1)):
            raise ValueError(f"max_trials must be a positive int or a function of the outer "
                             f"choice, got {max_trials!r}.")
        for name in ("root_dir", "study", "parent_id", "max_trials", "progress"):
            if name in search_kwargs:
                raise TypeError(f"InnerSearch sets the inner search's {name!r} itself; "
                                f"got {name}={search_kwargs[name]!r}.")
        self.space = space
        self.algorithm = algorithm
        self.evaluator = evaluator
        self.max_trials = max_trials
        self.reward = reward
        self.repeats = repeats
        self.root_dir = root_dir
        self.search_kwargs = search_kwargs
        # Outer trial id -> its inner results, when they are kept in memory.
        self.results: Dict[int, List[trial_lib.Result]] = {}

    def bind(self, root_dir: Optional[str]) -> "InnerSearch":
        """A copy recording its inner searches in `root_dir`'s store."""
        bound = copy.copy(self)
        bound.root_dir = root_dir
        bound.results = {}
        return bound

    def __call__(self, outer: Any, context: trial_lib.TrialContext) -> Dict[str, Any]:
        outer_id = context.trial_id
        space = self._for(self.space, outer)
        evaluator = self._for(self.evaluator, outer)
        if isinstance(evaluator, InnerSearch) and evaluator.root_dir is None:
            evaluator = evaluator.bind(self.root_dir)  # Three levels: one store still.
        max_trials = self._for(self.max_trials, outer)
        algorithm = self._for(self.algorithm, outer)
        values: List[Dict[str, Any]] = []
        results = []
        for repeat in range(self.repeats):
            result = experiment.search(
                space, _fresh(algorithm, repeat), evaluator, max_trials, self.root_dir,
                study=study_name(outer_id, repeat if self.repeats > 1 else None),
                parent_id=outer_id, progress=False, **self.search_kwargs)
            results.append(result)
            values.append(_metrics(self.reward(result, outer)))
            context.report(repeat + 1, _mean(values))
            if context.should_stop():
                break
        if self.root_dir is None:
            self.results[outer_id] = results
        metrics = _mean(values)
        metrics["inner_trials"] = sum(len(r.trials) for r in results)
        return metrics

    @staticmethod
    def _for(value: Any, outer: Any) -> Any:
        return value(outer) if is_outer_function(value) else value

    def __repr__(self):
        return (f"InnerSearch(space={self.space!r:.60}, algorithm={self.algorithm!r:.60}, "
                f"max_trials={self.max_trials!r}, reward={self.reward!r:.60}, "
                f"repeats={self.repeats})")


def _fresh(algorithm: Any, repeat: int) -> Any:
    """A copy of `algorithm` with no state, its seed shifted by `repeat`."""
    if not isinstance(algorithm, pg.Symbolic):
        raise TypeError(f"The inner algorithm must be a symbolic algorithm (a pg.DNAGenerator "
                        f"or a weight-sharing algorithm) or a function of the outer choice "
                        f"returning one, got {type(algorithm).__name__}: {algorithm!r:.100}")
    fresh = algorithm.clone(deep=True)
    seed = fresh.sym_init_args.get("seed") if hasattr(fresh, "sym_init_args") else None
    if repeat and isinstance(seed, int):
        fresh.rebind(seed=seed + repeat, skip_notification=True)
    return fresh


def _metrics(value: Any) -> Dict[str, Any]:
    """The outer metrics of one inner search, from what `reward` returned."""
    if isinstance(value, trial_lib.Trial):
        if not value.has_reward:
            raise errors.InfeasibleError(
                f"The reward function chose inner trial {value.id}, which has no reward "
                f"(status {value.status!r}).")
        reward = value.reward[0] if isinstance(value.reward, tuple) else value.reward
        metrics = {f"inner_{k}": v for k, v in value.metrics.items()
                   if trial_lib.is_finite_number(v)}
        metrics.update(reward=float(reward), inner_best_trial=value.id)
        return metrics
    if isinstance(value, dict):
        return dict(value)
    if trial_lib.is_finite_number(value) and not isinstance(value, bool):
        return {"reward": float(value)}
    raise TypeError(f"The reward function must return a number, a dict of metrics or an "
                    f"inner Trial, got {type(value).__name__}: {value!r:.100}")


def _mean(values: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Metric-wise mean over repeats (non-numbers: the first repeat's value)."""
    if len(values) == 1:
        return dict(values[0])
    out = {}
    for key in values[0]:
        column = [v.get(key) for v in values]
        if all(trial_lib.is_finite_number(c) and not isinstance(c, bool) for c in column):
            out[key] = math.fsum(float(c) for c in column) / len(column)
        else:
            out[key] = column[0]
    out.pop("inner_best_trial", None)  # One per repeat: not one number.
    return out
