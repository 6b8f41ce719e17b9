"""Outer rewards from an inner search's result: the best, or the best under a limit.

An `InnerSearch`'s `reward` is any function `(inner_result, outer_choice)`
returning a number, a dict of metrics, or the inner `Trial` it chose (its
reward becomes the outer reward and its metrics are reported as `inner_*`).

Example::

    flows.InnerSearch(space, algorithm, evaluator, max_trials=20,
                      reward=flows.best_under("params", lambda outer: outer.max_params))
"""

from typing import Any, Callable, Union

from symbolic_automl import errors
from symbolic_automl import trial as trial_lib

Limit = Union[float, Callable[[Any], float]]


def best_reward(inner: trial_lib.Result, outer: Any = None) -> trial_lib.Trial:
    """The inner search's best trial (highest reward, first objective).

    Raises:
      ValueError: no inner trial has a reward (the outer trial then fails).
    """
    del outer
    best = inner.best
    if best is None:
        raise ValueError(f"The inner search ({inner.study or 'in memory'}) has no trial "
                         f"with a reward: {len(inner.trials)} trials, "
                         f"{inner.count(trial_lib.FAILED)} failed.")
    return best


class best_under:  # pylint: disable=invalid-name  (used like a function)
    """The best inner trial whose `metric` is at most `maximum` (a number or `outer -> number`).

    No inner trial within the limit makes the outer trial infeasible: the
    outer algorithm hears it as such (`feedback_infeasible`), not as a reward.
    A class rather than a closure, so that it travels to worker processes.

    Example::

        reward=flows.best_under("latency", lambda outer: outer.latency_budget)
    """

    def __init__(self, metric: str, maximum: Limit):
        if not isinstance(metric, str) or not metric:
            raise ValueError(f"metric must be a metric name, got {metric!r}.")
        if not (callable(maximum) or trial_lib.is_finite_number(maximum)):
            raise ValueError(f"maximum must be a number or a function of the outer choice, "
                             f"got {maximum!r}.")
        self.metric = metric
        self.maximum = maximum

    def __call__(self, inner: trial_lib.Result, outer: Any = None) -> trial_lib.Trial:
        limit = float(self.maximum(outer) if callable(self.maximum) else self.maximum)
        within = [t for t in inner.top(len(inner.trials))
                  if trial_lib.is_finite_number(t.metrics.get(self.metric))
                  and float(t.metrics[self.metric]) <= limit]
        if not within:
            raise errors.InfeasibleError(
                f"No inner trial has {self.metric} <= {limit:g} (of {len(inner.rewarded)} "
                f"with a reward in {inner.study or 'the inner search'}).")
        return within[0]

    def __repr__(self):
        return f"best_under({self.metric!r}, {self.maximum!r})"
