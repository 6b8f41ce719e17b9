"""Progress of a search: a tqdm bar (trials, best so far, ETA) and absl logs."""

from typing import Optional

from absl import logging


class Progress:
    """Shows trial count, best reward so far and ETA while a search runs."""

    def __init__(self, total: int, initial: int, enabled: bool = True):
        self._bar = None
        if enabled:
            import tqdm  # pylint: disable=g-import-not-at-top

            self._bar = tqdm.tqdm(total=total, initial=initial, unit="trial",
                                  desc="search", dynamic_ncols=True)

    def update(self, trial, best) -> None:
        if logging.level_debug():  # Formatting costs more than a fast trial's loop.
            logging.debug("Trial %d %s: reward=%s metrics=%s%s", trial.id, trial.status,
                          trial.reward, _short_metrics(trial.metrics),
                          f" error={trial.error.splitlines()[-1]}" if trial.error else "")
        if self._bar is None:
            return
        if best is not None:
            # Drawn with the count, at most every `mininterval`, not on each trial.
            self._bar.set_postfix(best=_format(best.reward), best_trial=best.id, refresh=False)
        self._bar.update(1)

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
