"""Asynchronous successive halving (ASHA, Li et al. 2020) and Hyperband as ASHA brackets."""

import math
from typing import Dict, List, Tuple

import pyglove as pg

from .base import EarlyStoppingPolicy


@pg.members([
    ("min_resource", pg.typing.Int(min_value=1, default=1),
     "Step of the first rung."),
    ("eta", pg.typing.Int(min_value=2, default=3),
     "Reduction factor: rungs at min_resource * eta**k, the top 1/eta go on."),
    ("max_resource", pg.typing.Int(min_value=1).noneable(),
     "No rung at or beyond this step (a trial reaching it finishes); None: unbounded."),
])
class SuccessiveHalving(EarlyStoppingPolicy):
    """Asynchronous successive halving.

    When a trial first reports at or past rung k (step `min_resource * eta**k`),
    its value there is recorded; it goes on only if it ranks in the top
    `1/eta` of all values recorded at that rung so far (the first trial at a
    rung always goes on). The decision is kept for later calls at that rung.

    Example::

        SuccessiveHalving(min_resource=1, eta=3, max_resource=9, metric="val_accuracy")
    """

    def _on_bound(self):
        super()._on_bound()
        self._rungs: Dict[int, List[float]] = {}
        self._decisions: Dict[Tuple[int, int], bool] = {}

    def rung_steps(self, up_to: int) -> List[int]:
        steps, k = [], 0
        while True:
            step = self.min_resource * self.eta ** k
            if step > up_to or (self.max_resource is not None and step >= self.max_resource):
                return steps
            steps.append(step)
            k += 1

    def should_stop_early(self, trial: pg.tuning.Trial) -> bool:
        curve = self.curve(trial)
        if not curve:
            return False
        for rung, rung_step in enumerate(self.rung_steps(curve[-1][0])):
            key = (trial.id, rung)
            if key not in self._decisions:
                # The value at the first report at or after the rung's step.
                value = next(v for s, v in curve if s >= rung_step)
                competitors = self._rungs.setdefault(rung, [])
                competitors.append(value)
                num_promoted = max(1, len(competitors) // self.eta)
                cutoff = sorted(competitors, reverse=True)[num_promoted - 1]
                self._decisions[key] = value < cutoff
            if self._decisions[key]:
                return True
        return False


@pg.members([
    ("min_resource", pg.typing.Int(min_value=1, default=1), "Smallest first rung."),
    ("max_resource", pg.typing.Int(min_value=1, default=27), "Full training budget (steps)."),
    ("eta", pg.typing.Int(min_value=2, default=3), "Reduction factor."),
])
class Hyperband(EarlyStoppingPolicy):
    """Hyperband (Li et al. 2018) as brackets of asynchronous successive halving.

    Bracket s starts its rungs at `min_resource * eta**s`; trials are dealt to
    brackets by id in proportion to Hyperband's bracket sizes, so aggressive
    brackets get more, cheaper trials.

    Example::

        Hyperband(min_resource=1, max_resource=9, eta=3, metric="val_accuracy")
    """

    def _on_bound(self):
        super()._on_bound()
        s_max = int(math.floor(math.log(self.max_resource / self.min_resource, self.eta) + 1e-9))
        self._brackets = [
            SuccessiveHalving(min_resource=self.min_resource * self.eta ** s, eta=self.eta,
                              max_resource=self.max_resource, metric=self.metric,
                              maximize=self.maximize)
            for s in range(s_max + 1)]
        # Hyperband's n_s = ceil((s_max + 1) / (s + 1) * eta**(s_max - s)) for bracket
        # with s_max - s halvings; bracket index here counts up from the most aggressive.
        sizes = [int(math.ceil((s_max + 1) / (s_max - s + 1) * self.eta ** (s_max - s)))
                 for s in range(s_max + 1)]
        self._slots = [b for b, n in enumerate(sizes) for _ in range(n)]

    def bracket_of(self, trial_id: int) -> int:
        return self._slots[trial_id % len(self._slots)]

    def should_stop_early(self, trial: pg.tuning.Trial) -> bool:
        return self._brackets[self.bracket_of(trial.id)].should_stop_early(trial)
