"""The weight-sharing run: train a supernet once, then record its derived architecture.

A weight-sharing algorithm (`symbolic_automl.oneshot.WeightSharingAlgorithm`)
searches by training the space's supernet and returns a `pg.DNA`. That DNA is
then one ordinary trial of the black-box loop, proposed by a `FixedDNA`
generator, so it is recorded by the same code as every other trial:

* `retrain=True`: the trial trains the derived model with the search's
  evaluator (and executor);
* `retrain=False`: the trial's metrics are the supernet's inherited-weight
  metrics (`SearchOutcome.metrics`); like any evaluation, metrics without the
  objective make the trial `failed`, naming what they held.

Resuming finds a trial with a reward and does not search again; an interrupted
retraining runs again under its own id without training the supernet again.
"""

import sys
from typing import Any, Callable

from absl import logging

from symbolic_automl import errors
from symbolic_automl import executors
from symbolic_automl import proposals
from symbolic_automl import trial as trial_lib

# (algorithm, evaluator, executor or None for the search's) -> a `TrialLoop`.
MakeLoop = Callable[[Any, Any, Any], Any]


def is_weight_sharing(algorithm: Any) -> bool:
    """Whether `algorithm` is a weight-sharing algorithm (trains a supernet)."""
    # An instance of a weight-sharing class means its module is imported; checking
    # sys.modules keeps Keras out of Keras-free searches.
    oneshot = sys.modules.get("symbolic_automl.oneshot")
    base = getattr(oneshot, "WeightSharingAlgorithm", None)
    return base is not None and isinstance(algorithm, base)


class InheritedMetrics:
    """An evaluator giving the supernet's metrics of the derived architecture."""

    def __init__(self, metrics):
        self.metrics = dict(metrics or {})

    def __call__(self, model, context) -> dict:
        del model, context
        return dict(self.metrics)


def run(algorithm: Any, space, evaluator: Any, recorder, make_loop: MakeLoop) -> None:
    """Searches with `algorithm`'s supernet, then records the derived trial.

    Raises:
      SearchSpaceError: a hyper-value is used in several places (a supernet
        relaxes each place on its own).
    """
    trials = recorder.trials
    if any(t.has_reward for t in trials):
        logging.info("A derived architecture is already recorded; not searching again.")
        return
    finished = sum(t.status not in (trial_lib.RUNNING, trial_lib.REJECTED) for t in trials)
    retrain = getattr(algorithm, "retrain", True)
    interrupted = [t for t in trials if t.status == trial_lib.RUNNING]
    if retrain and interrupted:
        # Retraining was interrupted: the derived DNA is recorded, run it again.
        fixed = proposals.FixedDNA(dna=interrupted[-1].dna)
        make_loop(fixed, evaluator, None).run(max_trials=finished + 1, show_progress=False)
        return
    if space.has_shared_decisions:
        # A supernet relaxes each place on its own and could derive two values
        # for what the space says is one decision.
        raise errors.SearchSpaceError(
            "Weight-sharing search does not support a hyper-value used in several "
            "places (one decision for all of them): give each place its own "
            "hyper-value, or use a black-box algorithm (random, evolution).")
    outcome = algorithm.search(space.value, evaluator)
    recorder.set_architecture_history(outcome.history)
    fixed = proposals.FixedDNA(dna=outcome.dna)
    if retrain:
        loop = make_loop(fixed, evaluator, None)
    else:
        loop = make_loop(fixed, InheritedMetrics(getattr(outcome, "metrics", None)),
                         executors.InProcess())
    loop.run(max_trials=finished + 1, show_progress=False)
