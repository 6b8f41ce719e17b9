"""Tuning a search algorithm's settings with a nested search: outer and inner both symbolic."""

import pyglove as pg
import pytest

from symbolic_automl import flows
from symbolic_automl import algorithms as sa

# A synthetic "benchmark": 4 decisions of 5 values, reward = how many equal 4.
BENCHMARK = pg.Dict(**{f"d{i}": pg.oneof(list(range(5))) for i in range(4)})


def needle(model, context):
    del context
    return {"reward": float(sum(model[f"d{i}"] == 4 for i in range(4)))}


def best_found(inner, algorithm):
    del algorithm
    return inner.best.reward


def test_tune_algorithm_scores_each_setting_by_its_inner_searches_over_seeds(tmp_path):
    settings = sa.Evolution(population_size=pg.oneof([2, 3]), tournament_size=pg.oneof([1, 2]),
                            seed=10)
    result = flows.tune_algorithm(settings, sa.grid(), BENCHMARK, needle, inner_trials=6,
                                  max_trials=2, seeds=2, score=best_found,
                                  root_dir=str(tmp_path), progress=False)
    assert [t.status for t in result.trials] == ["completed"] * 2
    chosen = [(t.model.population_size, t.model.tournament_size) for t in result.trials]
    assert chosen == [(2, 1), (2, 2)]
    for outer in result.trials:
        assert isinstance(outer.model, sa.Evolution)  # The outer "model" is an algorithm.
        searches = result.inner_searches(outer)
        assert [s.study for s in searches] == [flows.study_name(outer.id, r) for r in range(2)]
        assert [len(s.trials) for s in searches] == [6, 6]
        assert all(t.parent_id == outer.id for s in searches for t in s.trials)
        # Seeds 10 and 11: the two inner searches propose differently.
        assert [t.dna for t in searches[0].trials] != [t.dna for t in searches[1].trials]
        assert outer.reward == pytest.approx(sum(s.best.reward for s in searches) / 2)
        # Each repeat ran the outer trial's own settings.
        alone = outer.model.clone(deep=True)
        alone.setup(pg.dna_spec(BENCHMARK))
        first = []
        for _ in range(6):
            dna = alone.propose()
            first.append(dna)
            alone.feedback(dna, needle(pg.materialize(BENCHMARK, dna), None)["reward"])
        assert [t.dna for t in searches[0].trials] == first
    assert result.best.reward == max(t.reward for t in result.trials)


def test_an_invalid_setting_fails_its_outer_trial_and_the_tuning_goes_on():
    settings = sa.Evolution(population_size=pg.oneof([2, 4]), tournament_size=pg.oneof([3]),
                            seed=0)
    result = flows.tune_algorithm(settings, sa.grid(), BENCHMARK, needle, inner_trials=4,
                                  max_trials=2, seeds=1, score=best_found, progress=False)
    assert [t.status for t in result.trials] == ["failed", "completed"]
    assert "tournament_size (3) must be at most population_size (2)" in result.trials[0].error
