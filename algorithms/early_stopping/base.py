"""Base of the early-stopping policies: a metric read from `pg.tuning.Measurement`s.

Policies are `pg.tuning.EarlyStoppingPolicy`s (composable with `&`, `|`, `~` as
PyGlove's), so they plug into `symbolic_automl.search(early_stopping=...)`, which
calls `should_stop_early(trial)` after each `context.report(step, metrics)` (the
Keras evaluator reports once per epoch: step = epoch) and `recover(history)`
on resume. Policies remember each trial's curve from the calls they see.

Example::

    policy = sa.early_stopping.MedianStopping(metric="val_accuracy", grace_steps=2)
"""

from typing import Dict, List, Optional, Tuple

import pyglove as pg
from pyglove.ext.early_stopping import base as pg_early_stopping


@pg.members([
    ("metric", pg.typing.Str(default="reward"),
     "'reward' (the search objective, already signed to be maximized) or a metric name."),
    ("maximize", pg.typing.Bool(default=True),
     "Whether larger metric values are better (ignored for 'reward')."),
])
class EarlyStoppingPolicy(pg_early_stopping.EarlyStopingPolicyBase):
    """Base: reads one value per measurement; keeps every trial's (step, value) curve."""

    def _on_bound(self):
        super()._on_bound()
        self._curves: Dict[int, List[Tuple[int, float]]] = {}

    def value(self, measurement: pg.tuning.Measurement) -> Optional[float]:
        """The measurement's value, signed so that larger is better; None if absent."""
        if self.metric == "reward":
            v = measurement.reward
        else:
            v = (measurement.metrics or {}).get(self.metric)
            if v is not None and not self.maximize:
                v = -v
        return None if v is None else float(v)

    def curve(self, trial: pg.tuning.Trial) -> List[Tuple[int, float]]:
        """Records and returns the trial's (step, value) curve."""
        points = [(m.step, self.value(m)) for m in trial.measurements]
        points = [(s, v) for s, v in points if v is not None]
        self._curves[trial.id] = points
        return points

    def recover(self, history) -> None:
        """Rebuilds state from past trials (their curves and, for running ones, decisions)."""
        for trial in history:
            if trial.measurements:
                self.should_stop_early(trial)
