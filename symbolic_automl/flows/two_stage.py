"""`two_stage`: a cheap proxy search whose top-k seed a full-budget search.

Stage one searches with a cheap evaluator (fewer epochs, less data, a
zero-cost proxy); stage two starts from its `top_k` architectures (evaluated
first, with the full evaluator, and fed to its algorithm, so an evolution's
population starts from them) and searches on. Both stages live in one store:
the proxy search as the study "proxy", the full search as the main one.

Example::

    result = flows.two_stage(space, sa.regularized_evolution(population_size=5, seed=1),
                             proxy_evaluator=sa.KerasEvaluator(x, y, val, epochs=1),
                             evaluator=sa.KerasEvaluator(x, y, val, epochs=20),
                             proxy_trials=50, top_k=5, max_trials=15, root_dir="runs/2s")
    result.full.best, result.proxy.top(5)

The DNAs transfer from one stage to the other when both evaluators' training
recipes add the same hyper-values to the space (or none).
"""

import dataclasses
from typing import Any, Optional

import pyglove as pg

from symbolic_automl import experiment
from symbolic_automl import trial as trial_lib
from symbolic_automl.flows import seeded

PROXY_STUDY = "proxy"


@dataclasses.dataclass
class TwoStageResult:
    """Both stages' results; `best` is the full stage's best trial."""

    proxy: trial_lib.Result
    full: trial_lib.Result
    num_seeds: int = 0

    @property
    def best(self) -> Optional[trial_lib.Trial]:
        return self.full.best

    @property
    def seeds(self):
        """The full-stage trials that evaluated the proxy stage's top-k (its first ones)."""
        return self.full.trials[:self.num_seeds]


def two_stage(space: Any, algorithm: pg.DNAGenerator, proxy_evaluator: Any, evaluator: Any,
              proxy_trials: int, top_k: int, max_trials: int, root_dir: Optional[str] = None,
              *, proxy_algorithm: Optional[pg.DNAGenerator] = None,
              **search_kwargs) -> TwoStageResult:
    """Runs the proxy search, then the full search seeded with its `top_k`.

    Args:
      space: the search space of both stages.
      algorithm: the full stage's algorithm (it hears the seeds' results first).
      proxy_evaluator: the cheap evaluator of stage one.
      evaluator: the full evaluator of stage two.
      proxy_trials: stage one's trials.
      top_k: how many of stage one's best seed stage two (evaluated first).
      max_trials: stage two's trials, the seeds included.
      root_dir: one store for both stages; None keeps them in memory.
      proxy_algorithm: stage one's algorithm; default a fresh copy of `algorithm`.
      **search_kwargs: more arguments of both `symbolic_automl.search` calls.
    """
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
        raise ValueError(f"top_k must be a positive int, got {top_k!r}.")
    if not isinstance(max_trials, int) or max_trials < top_k:
        raise ValueError(f"max_trials ({max_trials!r}) must be an int of at least top_k "
                         f"({top_k}): the full stage evaluates the seeds first.")
    if not isinstance(algorithm, pg.DNAGenerator):
        raise TypeError(f"two_stage's algorithm must be a pg.DNAGenerator (it is seeded with "
                        f"DNAs), got {type(algorithm).__name__}: {algorithm!r:.100}")
    proxy = experiment.search(
        space, proxy_algorithm if proxy_algorithm is not None else algorithm.clone(deep=True),
        proxy_evaluator, proxy_trials, root_dir, study=PROXY_STUDY, **search_kwargs)
    seeds = [t.dna for t in proxy.top(top_k)]
    if not seeds:
        raise ValueError(f"The proxy stage has no trial with a reward ({len(proxy.trials)} "
                         "trials): nothing to seed the full stage with.")
    full = experiment.search(space, seeded.Seeded(algorithm=algorithm, seeds=seeds), evaluator,
                             max_trials, root_dir, **search_kwargs)
    return TwoStageResult(proxy, full, len(seeds))
