"""Observers of a search: told when it begins, as trials report and end, when it ends.

The search loop calls every callback it was given (`search(..., callbacks=[...])`).
A callback only observes: it cannot change a trial or the algorithm. An error in
a per-trial hook is logged and the search goes on (a full disk under a logger
must not end a long search); an error in `on_search_begin` stops it before any
trial runs.

Example::

    class PrintBest(Callback):
        def on_trial_end(self, trial):
            if trial.has_reward:
                print(trial.id, trial.reward, trial.describe_decisions())

    search(..., callbacks=[PrintBest()])
"""

import dataclasses
import traceback
from typing import Any, List, Optional, Sequence

from absl import logging


@dataclasses.dataclass
class SearchInfo:
    """What a callback learns when a search begins (or resumes).

    Attributes:
      space: the `Space` searched (its `dna_spec` gives the decisions' domains).
      objectives: metric names whose values are the reward.
      directions: "max" or "min", one per objective.
      trials: the trials already recorded (non-empty when resuming).
      root_dir: the experiment directory, or None.
    """

    space: Any
    objectives: List[str]
    directions: List[str]
    trials: Sequence[Any]
    root_dir: Optional[str] = None


class Callback:
    """Base class of search observers; override the hooks you need."""

    def on_search_begin(self, info: SearchInfo) -> None:
        """Called once before the first trial of this run (also on resume)."""

    def on_measurement(self, trial, measurement) -> None:
        """Called on each intermediate report of a running trial (e.g. per epoch)."""

    def on_trial_end(self, trial) -> None:
        """Called once a trial has its final status (completed, stopped, failed, ...)."""

    def on_search_end(self, result) -> None:
        """Called once the search stops, with its `Result` (also after an error: then None)."""


def check(callbacks: Optional[Sequence[Any]]) -> List[Any]:
    """The callbacks as a list, refusing objects with none of the hooks."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback) or not isinstance(callbacks, (list, tuple)):
        callbacks = [callbacks]
    hooks = ("on_search_begin", "on_measurement", "on_trial_end", "on_search_end")
    for callback in callbacks:
        if not any(callable(getattr(callback, h, None)) for h in hooks):
            raise TypeError(f"A search callback needs at least one of the methods {hooks} "
                            f"(subclass symbolic_automl.callbacks.Callback); got "
                            f"{type(callback).__name__}: {callback!r:.100}")
    return list(callbacks)


def notify(callbacks: Sequence[Any], hook: str, *args, raise_errors: bool = False) -> None:
    """Calls `hook(*args)` on each callback that has it."""
    for callback in callbacks:
        method = getattr(callback, hook, None)
        if method is None:
            continue
        try:
            method(*args)
        except Exception:  # pylint: disable=broad-except
            if raise_errors:
                raise
            logging.warning("Search callback %s.%s raised; the search goes on:\n%s",
                            type(callback).__name__, hook, traceback.format_exc(limit=6))
