"""`tune_algorithm`: search a search algorithm's own settings, by how well it searches.

The outer space is a symbolic algorithm with hyper-values in its settings
(e.g. regularized evolution's population and tournament sizes); each outer
trial runs the chosen algorithm on a cheap benchmark (a tabular space such as
NAS-Bench-Graph) for `seeds` inner searches and scores it by `score` (e.g. the
negative regret of what it found), averaged over the seeds. Outer and inner
levels are both symbolic: the outer "model" *is* the inner algorithm.

Example::

    from symbolic_automl.spaces import nasbench_graph as nbg
    settings = sa.Evolution(population_size=pg.oneof([10, 20, 50]),
                            tournament_size=pg.oneof([2, 5, 10]), seed=0)
    result = flows.tune_algorithm(settings, sa.grid(), nbg.nasbench_graph_space("cora"),
                                  nbg.TabularEvaluator("cora"), inner_trials=100,
                                  max_trials=9, seeds=5, score=negative_regret)
    tuned = result.best.model          # the best settings, an algorithm
"""

from typing import Any, Callable, Optional

from symbolic_automl import trial as trial_lib
from symbolic_automl.flows import inner_search
from symbolic_automl.flows import nested as nested_lib
from symbolic_automl.flows import rewards


def chosen_algorithm(outer: Any) -> Any:
    """The inner algorithm of an algorithm-tuning flow: the outer choice itself."""
    return outer


def tune_algorithm(algorithm_space: Any, algorithm: Any, space: Any, evaluator: Any,
                   inner_trials: int, max_trials: int, *, seeds: int = 3,
                   score: Callable[..., Any] = rewards.best_reward,
                   root_dir: Optional[str] = None, **search_kwargs) -> trial_lib.Result:
    """Searches `algorithm_space` (algorithms) with `algorithm`, scoring each by its searches.

    Args:
      algorithm_space: a symbolic search algorithm whose settings hold
        hyper-values; its `seed` (if any) is the first inner seed.
      algorithm: the outer algorithm (e.g. `grid()` for a small space).
      space, evaluator: the benchmark each candidate algorithm searches.
      inner_trials: the budget of each inner search.
      max_trials: how many settings to try.
      seeds: inner searches per setting (seeds `seed .. seed + seeds - 1`).
      score: `(inner_result, algorithm) -> number` (higher is better), e.g. the
        negative regret of the best found; default the best inner reward.
      root_dir: one store for every level; None keeps them in memory.
      **search_kwargs: more arguments of the outer search.

    Returns:
      The outer `Result`: each trial's model is a setting (an algorithm), its
      reward the mean score over seeds; `result.inner_searches(trial)` gives
      the per-seed inner results.
    """
    inner = inner_search.InnerSearch(space, chosen_algorithm, evaluator, max_trials=inner_trials,
                                     reward=score, repeats=seeds)
    return nested_lib.nested(algorithm_space, algorithm, inner, max_trials, root_dir,
                             **search_kwargs)
