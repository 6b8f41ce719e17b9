"""Two-stage flow: the proxy search's top-k seed the full search; `Seeded` resumes exactly."""

import pyglove as pg
import pytest

from symbolic_automl import flows
from symbolic_automl import algorithms as sa

SPACE = pg.Dict(a=pg.oneof(list(range(6))), b=pg.oneof(list(range(6))), c=pg.oneof([0, 1]))


def proxy(model, context):
    """Cheap and roughly right: ranks by a + b."""
    del context
    return {"reward": float(model.a + model.b)}


def full(model, context):
    """The real objective also rewards c."""
    del context
    return {"reward": float(model.a + model.b + 3 * model.c)}


def _differences(x, y):
    return sum(x[k] != y[k] for k in ("a", "b", "c"))


def test_top_k_of_the_proxy_stage_are_evaluated_first_and_evolution_starts_from_them(tmp_path):
    evolution = sa.regularized_evolution(population_size=3, tournament_size=2, seed=2)
    result = flows.two_stage(SPACE, evolution, proxy, full, proxy_trials=12, top_k=3,
                             max_trials=8, root_dir=str(tmp_path), progress=False)
    assert result.proxy.study == "proxy" and len(result.proxy.trials) == 12
    assert len(result.full.trials) == 8 and result.full.study is None
    top = result.proxy.top(3)
    assert [t.dna for t in result.seeds] == [t.dna for t in top]
    assert [t.reward for t in result.seeds] == [full(t.model, None)["reward"] for t in top]
    # With a population of 3, the seeds are the population: every later proposal
    # mutates one decision of a member, so the first one is next to a seed.
    first_own = result.full.trials[3].decisions
    assert min(_differences(first_own, s.decisions) for s in result.seeds) == 1
    assert result.best.reward == max(t.reward for t in result.full.trials)
    ids = [t.id for t in result.proxy.trials + result.full.trials]
    assert ids == list(range(1, 21))  # One store, ids unique across both stages.


def test_seeded_resume_equals_an_uninterrupted_run():
    seeds = [pg.DNA([5, 5, 0]), pg.DNA([4, 5, 0])]

    def make():
        return flows.Seeded(algorithm=sa.regularized_evolution(
            population_size=2, tournament_size=2, seed=7), seeds=seeds)

    def drive(algorithm, history=(), steps=8):
        algorithm.setup(pg.dna_spec(SPACE))
        algorithm.recover(history)
        out = list(history)
        for _ in range(steps):
            dna = algorithm.propose()
            reward = full(pg.materialize(SPACE, dna), None)["reward"]
            algorithm.feedback(dna, reward)
            out.append((dna, reward))
        return out

    straight = drive(make())
    assert [d for d, _ in straight[:2]] == seeds
    for cut in (1, 2, 5):
        resumed = drive(make(), straight[:cut], steps=8 - cut)
        assert [d for d, _ in resumed] == [d for d, _ in straight], cut
    with pytest.raises(ValueError, match="Seed 0 .* does not fit"):
        bad = flows.Seeded(algorithm=sa.random(seed=1), seeds=[pg.DNA([9, 9, 9])])
        bad.setup(pg.dna_spec(SPACE))


def test_two_stage_checks_its_arguments():
    with pytest.raises(ValueError, match="top_k must be a positive int"):
        flows.two_stage(SPACE, sa.random(seed=1), proxy, full, 5, 0, 5)
    with pytest.raises(ValueError, match="at least top_k"):
        flows.two_stage(SPACE, sa.random(seed=1), proxy, full, 5, 3, 2)
