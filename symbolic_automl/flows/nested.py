"""`nested`: a search whose every trial runs an inner search, in one store.

Example (an input resolution and a parameter budget around an architecture
search; swapping either level's algorithm changes one argument)::

    from symbolic_automl import flows

    outer_space = pg.Dict(resolution=pg.oneof([8, 16]), max_params=pg.oneof([2e3, 2e4]))
    inner = flows.InnerSearch(
        space=lambda outer: cnn(outer.resolution, outer.max_params),
        algorithm=sa.regularized_evolution(population_size=4, tournament_size=2, seed=1),
        evaluator=lambda outer: sa.KerasEvaluator(*digits_at(outer.resolution)),
        max_trials=10, reward=flows.best_under("params", lambda o: o.max_params))
    result = flows.nested(outer_space, sa.grid(), inner, max_trials=4, root_dir="runs/n")
    for trial in result.trials:
        print(trial.id, trial.reward, result.inner(trial).best)

Killing the process at any point and calling `nested` again resumes both
levels: finished outer trials keep their inner searches, an interrupted outer
trial resumes its inner search where it stopped.
"""

from typing import Any, Optional

from symbolic_automl import experiment
from symbolic_automl import trial as trial_lib
from symbolic_automl.flows import inner_search as inner_lib


def nested(space: Any, algorithm: Any, inner: inner_lib.InnerSearch, max_trials: int,
           root_dir: Optional[str] = None, **search_kwargs) -> trial_lib.Result:
    """Searches `space` with `algorithm`, scoring each choice by the search `inner` runs.

    Args:
      space: the outer search space (any `symbolic_automl.search` space).
      algorithm: the outer algorithm (any `pg.DNAGenerator`).
      inner: the `InnerSearch` each outer trial runs on its choice.
      max_trials: outer trials.
      root_dir: the experiment directory: one store holds the outer trials and
        every inner search (study `trial/<outer id>`); None keeps it in memory.
      **search_kwargs: more arguments of the outer `symbolic_automl.search`
        (`executor`, `parallelism`, `early_stopping`, `objective`, ...).

    Returns:
      The outer search's `Result`; `result.inner(outer_trial)` is the inner
      search's `Result` and each inner trial's `parent_id` is its outer trial's id.
    """
    if not isinstance(inner, inner_lib.InnerSearch):
        raise TypeError(f"inner must be a flows.InnerSearch, got {type(inner).__name__}: "
                        f"{inner!r:.100}")
    bound = inner.bind(root_dir)
    result = experiment.search(space, algorithm, bound, max_trials, root_dir, **search_kwargs)
    if root_dir is None:
        result.inner_results = bound.results
    return result
