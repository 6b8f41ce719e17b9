"""Progress of a search: a tqdm bar (trials, best so far, failed/rejected, ETA) and absl logs."""

from typing import Optional

from absl import logging

from symbolic_automl.reporting import readable

# Statuses counted on the bar; a rejected trial does not advance it (it does not
# count towards max_trials) but shows in its counts.
_COUNTED = ("failed", "infeasible", "rejected")


class Progress:
    """Shows trial count, best reward so far, failed/rejected counts and ETA."""

    def __init__(self, total: int, initial: int, enabled: bool = True,
                 counts: Optional[dict] = None):
        self._bar = None
        self.counts = {status: 0 for status in _COUNTED}
        self.counts.update({k: v for k, v in (counts or {}).items() if k in self.counts})
        self._best = None
        if enabled:
            import tqdm  # pylint: disable=g-import-not-at-top

            self._bar = tqdm.tqdm(total=total, initial=initial, unit="trial",
                                  desc="search", dynamic_ncols=True)
            self._set_postfix()

    def update(self, trial, best) -> None:
        """Records a finished trial: advances the bar unless it was rejected."""
        if logging.level_debug():  # Formatting costs more than a fast trial's loop.
            logging.debug("Trial %d %s: reward=%s metrics=%s decisions=(%s)%s", trial.id,
                          trial.status, trial.reward, _short_metrics(trial.metrics),
                          readable.format_decisions(trial.decisions, 300),
                          f" error={trial.error.splitlines()[-1]}" if trial.error else "")
        if trial.status in self.counts:
            self.counts[trial.status] += 1
        self._best = best
        if self._bar is None:
            return
        # Drawn with the count, at most every `mininterval`, not on each trial.
        self._set_postfix()
        if trial.status != "rejected":
            self._bar.update(1)

    def postfix(self) -> dict:
        """What the bar shows after the count: best reward and trial, non-zero counts."""
        shown = {}
        if self._best is not None:
            shown.update(best=_format(self._best.reward), best_trial=self._best.id)
        shown.update({k: v for k, v in self.counts.items() if v})
        return shown

    def _set_postfix(self):
        self._bar.set_postfix(self.postfix(), refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _short_metrics(metrics) -> str:
    return "{" + ", ".join(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}"
                           for k, v in list(metrics.items())[:6]) + "}"


def _format(reward) -> Optional[str]:
    if isinstance(reward, tuple):
        return "(" + ", ".join(f"{r:.4g}" for r in reward) + ")"
    return None if reward is None else f"{reward:.4g}"
