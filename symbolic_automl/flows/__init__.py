"""Search flows: searches inside searches, and searches seeded by other searches.

* `nested(space, algorithm, InnerSearch(...), max_trials, root_dir)`: every
  outer trial (training or hardware-like settings, a budget, a search
  algorithm's settings) runs an inner search whose space, algorithm and
  evaluator may depend on the outer choice; the outer reward is a function of
  the inner result (`best_reward`, `best_under`). Either level takes any
  algorithm, black-box or weight-sharing.
* `tune_algorithm`: a nested search whose outer space is a search algorithm's
  own settings, scored over several seeds of the inner search.
* `two_stage`: a cheap proxy search whose top-k seed a full-budget search
  (`Seeded` proposes given DNAs first).

All levels record into one store (inner searches are studies of it, their
trials carry their outer trial's id as `parent_id`) and resume after a kill.

Example::

    from symbolic_automl import flows
    result = flows.nested(outer_space, sa.random(seed=0),
                          flows.InnerSearch(inner_space, sa.regularized_evolution(seed=1),
                                            evaluator, max_trials=10),
                          max_trials=4, root_dir="runs/nested")
    result.inner(result.best).best
"""

from symbolic_automl.flows.algorithm_tuning import tune_algorithm
from symbolic_automl.flows.inner_search import InnerSearch, study_name
from symbolic_automl.flows.nested import nested
from symbolic_automl.flows.rewards import best_reward, best_under
from symbolic_automl.flows.seeded import Seeded
from symbolic_automl.flows.two_stage import TwoStageResult, two_stage

__all__ = ["InnerSearch", "Seeded", "TwoStageResult", "best_reward", "best_under", "nested",
           "study_name", "tune_algorithm", "two_stage"]
