"""Median stopping rule (Golovin et al. 2017, Google Vizier)."""

import statistics

import pyglove as pg

from .base import EarlyStoppingPolicy


@pg.members([
    ("grace_steps", pg.typing.Int(min_value=0, default=1),
     "Never stop a trial before this step."),
    ("min_trials", pg.typing.Int(min_value=1, default=3),
     "Other trials needed at a step before the rule applies."),
    ("use_mean", pg.typing.Bool(default=False),
     "Compare the running mean instead of the best value so far."),
])
class MedianStopping(EarlyStoppingPolicy):
    """Stops a trial whose best (or mean) value so far at step s is below the median
    of the other trials' values so far at step s.

    Example::

        MedianStopping(metric="val_accuracy", grace_steps=2, min_trials=3)
    """

    def _running(self, curve, step):
        values = [v for s, v in curve if s <= step]
        if not values:
            return None
        return sum(values) / len(values) if self.use_mean else max(values)

    def should_stop_early(self, trial: pg.tuning.Trial) -> bool:
        curve = self.curve(trial)
        if not curve:
            return False
        step = curve[-1][0]
        if step < self.grace_steps:
            return False
        others = [self._running(c, step) for tid, c in self._curves.items()
                  if tid != trial.id and c and c[-1][0] >= step]
        others = [v for v in others if v is not None]
        if len(others) < self.min_trials:
            return False
        return self._running(curve, step) < statistics.median(others)
