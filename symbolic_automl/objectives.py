"""`Objectives`: which metrics a search scores, in which direction, as one reward.

A reward is what the algorithm maximizes (PyGlove's convention): a metric to
minimize enters it negated; several objectives make a tuple.

Example::

    objectives = Objectives.resolve(["acc", "cost"], ["max", "min"], evaluator=None)
    objectives.reward({"acc": 0.9, "cost": 3.0})   # (0.9, -3.0)
"""

import math
from typing import Any, Optional, Sequence, Union

import pyglove as pg

from symbolic_automl import arguments
from symbolic_automl import trial as trial_lib

Objective = Union[str, Sequence[str]]


class Objectives:
    """Metric names and their directions ("max"/"min"), one per objective."""

    def __init__(self, names: Sequence[str], directions: Sequence[str]):
        self.names = list(names)
        self.directions = list(directions)

    @classmethod
    def resolve(cls, objective: Optional[Objective], direction: Any,
                evaluator: Any) -> "Objectives":
        """The objectives of `search(objective=..., direction=...)`, checked.

        Unset ones come from the evaluator's `objective` / `direction`, else
        "reward" and "max".

        Raises:
          ValueError: an empty name, or a direction other than "max"/"min", or
            not one direction per objective.
        """
        if objective is None:
            objective = getattr(evaluator, "objective", None) or "reward"
        names = [objective] if isinstance(objective, str) else list(objective)
        if not names or not all(isinstance(n, str) and n for n in names):
            raise ValueError(
                f"objective must be a metric name or a list of names, got {objective!r}.")
        if direction is None:
            direction = getattr(evaluator, "direction", None) or "max"
        directions = [direction] * len(names) if isinstance(direction, str) else list(direction)
        if len(directions) != len(names) or any(d not in ("max", "min") for d in directions):
            raise ValueError(f"direction must be 'max' or 'min' (one per objective, "
                             f"{len(names)} here), got {direction!r}.")
        return cls(names, directions)

    def reward(self, metrics: dict) -> trial_lib.Reward:
        """The reward of final metrics (higher is better).

        Raises:
          ObjectiveNotReturnedError: an objective is missing (a KeyError; the
            metrics there are named).
          FloatingPointError: an objective is NaN or infinite.
        """
        arguments.check_objectives_returned(self.names, metrics)
        values = []
        for name, direction in zip(self.names, self.directions):
            value = float(metrics[name])
            if not math.isfinite(value):
                raise FloatingPointError(f"Objective {name!r} is {value}.")
            values.append(value if direction == "max" else -value)
        return values[0] if len(values) == 1 else tuple(values)

    def pg_trial(self, trial: trial_lib.Trial) -> pg.tuning.Trial:
        """`trial` as PyGlove's early-stopping policies see it (rewards maximized)."""
        measurements = []
        for m in trial.measurements:
            reward = m.metrics.get(self.names[0])
            if reward is not None and self.directions[0] == "min":
                reward = -reward
            measurements.append(pg.tuning.Measurement(
                step=m.step, elapse_secs=m.elapsed, reward=reward, metrics=m.metrics))
        final = None
        if trial.has_reward and not isinstance(trial.reward, tuple):
            final = pg.tuning.Measurement(
                step=measurements[-1].step if measurements else 0,
                elapse_secs=trial.duration or 0.0, reward=trial.reward,
                metrics={k: v for k, v in trial.metrics.items() if trial_lib.is_finite_number(v)})
        return pg.tuning.Trial(
            id=trial.id, dna=trial.dna,
            status="COMPLETED" if trial.status != trial_lib.RUNNING else "PENDING",
            infeasible=trial.status in (trial_lib.INFEASIBLE, trial_lib.REJECTED,
                                        trial_lib.FAILED),
            measurements=measurements, final_measurement=final,
            created_time=int(trial.created))


def first(reward: trial_lib.Reward) -> float:
    """The first objective's reward (the one `Result.best` ranks by)."""
    return reward[0] if isinstance(reward, tuple) else reward


def check_metrics(metrics: Any) -> dict:
    """An evaluator's return value as a dict of metrics, or a `TypeError` naming it."""
    if not isinstance(metrics, dict):
        raise TypeError(f"The evaluator must return a dict of metrics, got "
                        f"{type(metrics).__name__}: {metrics!r:.200}")
    return dict(metrics)
