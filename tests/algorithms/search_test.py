"""Algorithms and early stopping inside `symbolic_automl.search` (no Keras: toy evaluators)."""

import pyglove as pg
import pytest

import symbolic_automl
from symbolic_automl import algorithms as sa


def _space():
    return pg.Dict(x=pg.oneof(list(range(10))), y=pg.oneof(list(range(6))))


def _evaluate(model, context):
    return {"reward": model.x + 0.1 * model.y, "size": float(model.y)}


@pytest.mark.parametrize("make_algorithm", [
    lambda: sa.random(seed=1),
    lambda: sa.grid(),
    lambda: sa.pyglove_algorithms.regularized_evolution(population_size=5, tournament_size=2, seed=1),
    lambda: sa.hill_climb(seed=1),
    lambda: sa.neat(population_size=5, seed=1),
    lambda: pg.evolution.regularized_evolution(population_size=5, tournament_size=2),
], ids=["random", "grid", "regularized_evolution", "hill_climb", "neat", "pg_unchanged"])
def test_pyglove_algorithms_run_unchanged_in_search(make_algorithm):
    result = symbolic_automl.search(_space(), make_algorithm(), _evaluate, max_trials=12,
                                    progress=False)
    assert len(result.trials) == 12
    assert all(t.status == "completed" for t in result.trials)


def test_nsga2_and_pareto_tournament_get_tuple_rewards():
    for algorithm in (sa.nsga2(population_size=3, seed=1),
                      sa.pareto_tournament_evolution(population_size=4, tournament_size=2,
                                                     seed=1)):
        result = symbolic_automl.search(_space(), algorithm, _evaluate, max_trials=15,
                                        objective=["reward", "size"], direction=["max", "min"],
                                        progress=False)
        assert all(t.status == "completed" for t in result.trials)
        assert result.pareto_front()


def test_pareto_tournament_parent_is_on_the_sample_front():
    algorithm = sa.pareto_tournament_evolution(population_size=4, tournament_size=4, seed=0)
    algorithm.setup(pg.dna_spec(_space()))
    sample = [({"x": 0}, (1.0, 0.0)), ({"x": 1}, (0.0, 1.0)), ({"x": 2}, (0.5, 0.5)),
              ({"x": 3}, (0.4, 0.4))]  # the last one is dominated by (0.5, 0.5)
    import random
    parents = {algorithm._select_parent(sample, random.Random(i))["x"] for i in range(50)}
    assert parents == {0, 1, 2}


def test_evolution_with_rejection_keeps_rejected_out_and_never_reproposes():
    algorithm = sa.evolution_with_rejection(population_size=5, tournament_size=2, seed=3)
    evaluator = sa.with_rejection(_evaluate, check=lambda model, context: model.x / 10,
                                  threshold=0.3)
    result = symbolic_automl.search(_space(), algorithm, evaluator, max_trials=30,
                                    progress=False)
    rejected = [t for t in result.trials if t.status == "rejected"]
    completed = [t for t in result.trials if t.status == "completed"]
    assert rejected and completed
    assert all("proxy score" in t.error and "< threshold 0.3" in t.error for t in rejected)
    assert all(t.metrics["proxy_score"] >= 0.3 for t in completed)
    assert algorithm.num_infeasible == len(rejected)
    keys = [tuple(t.dna.to_numbers()) for t in result.trials]
    assert len(keys) == len(set(keys))
    assert all(assignment["x"] >= 3 for assignment, _ in algorithm.population)


def test_rejection_rejects_nan_scores_and_names_the_threshold():
    evaluator = sa.with_rejection(_evaluate, check=lambda m, c: float("nan"), threshold=0.2)
    with pytest.raises(symbolic_automl.RejectedError, match="threshold 0.2"):
        evaluator(pg.Dict(x=1, y=1), None)


def test_early_stopping_in_search_stops_bad_trials():
    def evaluate(model, context):
        for epoch in range(1, 6):
            context.report(epoch, {"acc": model.x / 10 * epoch / 5})
            if context.should_stop():
                break
        return {"acc": model.x / 10}

    policy = sa.early_stopping.SuccessiveHalving(min_resource=1, eta=2, max_resource=5)
    result = symbolic_automl.search(_space(), sa.random(seed=0), evaluate, max_trials=12,
                                    objective="acc", early_stopping=policy, progress=False)
    stopped = [t for t in result.trials if t.status == "stopped"]
    assert stopped
    assert all(len(t.measurements) < 5 for t in stopped)
