"""Nested searches: counts and lineage, outer-dependent inner spaces, swaps, resume, CLI."""

import os
import sqlite3

import pyglove as pg
import pytest

from symbolic_automl import cli
from symbolic_automl import errors
from symbolic_automl import flows
from symbolic_automl import storage
from symbolic_automl.reporting import store_view
from symbolic_automl import algorithms as sa

OUTER_SPACE = pg.Dict(budget=pg.oneof([2, 3, 4]))


def inner_space(outer):
    """The outer budget prunes the inner space: x < budget."""
    return pg.Dict(x=pg.oneof(list(range(outer.budget))), y=pg.oneof([0, 1, 2]))


def evaluate(model, context):
    del context
    return {"score": model.x + 0.25 * model.y, "cost": model.x}


def mean_plus_best(inner, outer):
    """A user reward: uses every inner trial and the outer choice."""
    rewards = [t.reward for t in inner.trials]
    return {"reward": sum(rewards) / len(rewards) + max(rewards) - 0.01 * outer.budget,
            "spread": max(rewards) - min(rewards)}


def _inner(**overrides):
    kwargs = dict(space=inner_space, algorithm=sa.random(seed=3), evaluator=evaluate,
                  max_trials=5, reward=flows.best_reward, objective="score")
    kwargs.update(overrides)
    return flows.InnerSearch(**kwargs)


def _rows(root_dir):
    with sqlite3.connect(os.path.join(root_dir, storage.FILENAME)) as db:
        return db.execute("SELECT id, study, parent_id, status FROM trials ORDER BY id").fetchall()


def test_counts_lineage_and_user_reward_are_exact(tmp_path):
    root = str(tmp_path)
    result = flows.nested(OUTER_SPACE, sa.grid(), _inner(reward=mean_plus_best), max_trials=3,
                          root_dir=root, progress=False)
    assert [t.status for t in result.trials] == ["completed"] * 3
    assert [t.decisions["budget"] for t in result.trials] == [2, 3, 4]  # grid order
    rows = _rows(root)
    outer_ids = [r[0] for r in rows if r[1] is None]
    inner_rows = [r for r in rows if r[1] is not None]
    assert outer_ids == [t.id for t in result.trials]
    assert len(inner_rows) == 15 and len({r[0] for r in rows}) == 18  # ids unique in the file
    for outer in result.trials:
        inner = result.inner(outer)
        assert inner.study == flows.study_name(outer.id)
        assert len(inner.trials) == 5
        assert all(t.parent_id == outer.id for t in inner.trials)
        assert sorted(r[0] for r in inner_rows if r[2] == outer.id) == [t.id for t in inner.trials]
        assert outer.parent_id is None
        # The outer reward is the user's function of the inner results, exactly.
        rewards = [t.reward for t in inner.trials]
        assert rewards == [t.metrics["score"] for t in inner.trials]
        expected = sum(rewards) / 5 + max(rewards) - 0.01 * outer.decisions["budget"]
        assert outer.reward == pytest.approx(expected, abs=1e-12)
        assert outer.metrics["spread"] == pytest.approx(max(rewards) - min(rewards))
        assert outer.metrics["inner_trials"] == 5
    # Studies keep their own metadata beside the main search's.
    store = storage.TrialStore.in_dir(root, study=flows.study_name(result.trials[0].id))
    assert store.get_meta("objectives") == ["score"]
    store.close()
    store = storage.TrialStore.in_dir(root)
    assert store.get_meta("objectives") == ["reward"]
    assert [s.parent_id for s in store.studies()] == outer_ids
    assert len(store) == 3
    store.close()


def test_inner_space_depends_on_the_outer_choice():
    result = flows.nested(OUTER_SPACE, sa.grid(), _inner(max_trials=12), max_trials=3,
                          progress=False)
    for outer in result.trials:
        inner = result.inner(outer)
        budget = outer.decisions["budget"]
        xs = {t.decisions["x"] for t in inner.trials}
        assert xs <= set(range(budget))
        # Random sampling over 12 trials reaches the top of a pruned range.
        assert max(xs) == budget - 1
        assert len(inner.dna_spec.decision_points[0].candidates) == budget
        assert outer.reward == max(t.reward for t in inner.trials)
        assert outer.metrics["inner_best_trial"] == inner.best.id
        assert outer.metrics["inner_cost"] == budget - 1


def test_best_under_a_limit_and_infeasible_outer_trials():
    inner = _inner(max_trials=12, reward=flows.best_under("cost", lambda outer: outer.budget - 3))
    result = flows.nested(OUTER_SPACE, sa.grid(), inner, max_trials=3, progress=False)
    by_budget = {t.decisions["budget"]: t for t in result.trials}
    # budget 2: no inner trial has cost <= -1: infeasible, not a reward.
    assert by_budget[2].status == "infeasible" and "cost <= -1" in by_budget[2].error
    for budget in (3, 4):
        trials = result.inner(by_budget[budget]).trials
        within = [t.reward for t in trials if t.metrics["cost"] <= budget - 3]
        assert by_budget[budget].reward == max(within)
        assert by_budget[budget].reward < max(t.reward for t in trials)  # the limit binds


@pytest.mark.parametrize("outer_algorithm, expected", [
    (sa.grid(), [2, 3, 4]),
    (pg.geno.Sweeping(), [2, 3, 4]),
    (sa.random(seed=5), None),
])
def test_outer_algorithm_swap_is_one_argument(outer_algorithm, expected):
    result = flows.nested(OUTER_SPACE, outer_algorithm, _inner(), max_trials=3, progress=False)
    budgets = [t.decisions["budget"] for t in result.trials]
    if expected is not None:
        assert budgets == expected
    else:  # What the same algorithm proposes on its own.
        alone = sa.random(seed=5)
        alone.setup(pg.dna_spec(OUTER_SPACE))
        assert budgets == [[2, 3, 4][alone.propose().value] for _ in range(3)]
    assert all(len(result.inner(t).trials) == 5 for t in result.trials)


@pytest.mark.parametrize("inner_algorithm", ["grid", "random", "evolution"])
def test_inner_algorithm_swap_is_one_argument(inner_algorithm):
    make = {"grid": sa.grid, "random": lambda: sa.random(seed=4),
            "evolution": lambda: sa.regularized_evolution(population_size=3, tournament_size=2,
                                                          seed=4)}[inner_algorithm]
    result = flows.nested(OUTER_SPACE, sa.grid(), _inner(algorithm=make(), max_trials=6),
                          max_trials=2, progress=False)
    for outer in result.trials:
        proposed = [t.dna for t in result.inner(outer).trials]
        alone = make()
        alone.setup(pg.dna_spec(inner_space(outer.model)))
        expected = []
        for _ in range(6):  # The algorithm on its own, fed the same rewards.
            dna = alone.propose()
            expected.append(dna)
            model = pg.materialize(inner_space(outer.model), dna)
            alone.feedback(dna, evaluate(model, None)["score"])
        assert proposed == expected


def test_result_inner_errors_name_the_trial(tmp_path):
    result = flows.nested(OUTER_SPACE, sa.grid(), _inner(), max_trials=1, root_dir=str(tmp_path),
                          progress=False)
    with pytest.raises(ValueError, match="Trial 2 ran no search"):
        result.inner(2)  # An inner trial: it ran none.
    repeated = flows.nested(OUTER_SPACE, sa.grid(), _inner(repeats=2), max_trials=1,
                            progress=False)
    with pytest.raises(ValueError, match="ran 2 searches"):
        repeated.inner(1)
    first, second = repeated.inner_searches(1)
    assert repeated.trials[0].reward == pytest.approx(
        (first.best.reward + second.best.reward) / 2)
    with pytest.raises(ValueError, match="repeats must be a positive int"):
        _inner(repeats=0)
    with pytest.raises(TypeError, match="sets the inner search's 'study'"):
        flows.InnerSearch(inner_space, sa.random(), evaluate, study="x")


class _Interrupt(BaseException):
    """Stands in for a kill: nothing in the loop catches it, records stay `running`."""


class _Counting:
    """The inner evaluator: logs starts/ends of evaluations, interrupts at evaluation `at`."""

    def __init__(self, log_path, at=None):
        self.log_path, self.at = log_path, at

    def __call__(self, model, context):
        with open(self.log_path, "a") as f:
            f.write(f"start {context.trial_id}\n")
        count = sum(1 for line in open(self.log_path) if line.startswith("start"))
        if self.at is not None and count == self.at:
            raise _Interrupt()
        with open(self.log_path, "a") as f:
            f.write(f"end {context.trial_id}\n")
        return evaluate(model, context)


def test_resume_after_an_interruption_in_the_inner_level_repeats_nothing_finished(tmp_path):
    root, log = str(tmp_path / "run"), str(tmp_path / "log")

    def run(at=None):
        return flows.nested(OUTER_SPACE, sa.grid(),
                            _inner(evaluator=_Counting(log, at), max_trials=4),
                            max_trials=3, root_dir=root, progress=False)

    with pytest.raises(_Interrupt):
        run(at=7)  # The 3rd inner trial of the 2nd outer trial.
    rows = _rows(root)
    assert [r[3] for r in rows if r[1] is None] == ["completed", "running"]
    assert sum(r[3] == "running" for r in rows) == 2  # One per level.
    result = run()
    lines = open(log).read().split()
    starts = [int(i) for kind, i in zip(lines[::2], lines[1::2]) if kind == "start"]
    ends = [int(i) for kind, i in zip(lines[::2], lines[1::2]) if kind == "end"]
    assert len(ends) == len(set(ends)) == 12  # Each inner trial finished exactly once.
    assert len(starts) == 13 and starts.count(starts[6]) == 2  # Only the interrupted one re-ran.
    assert [len(result.inner(t).trials) for t in result.trials] == [4, 4, 4]
    assert [r[3] for r in _rows(root)] == ["completed"] * 15
    # A third call finds everything done: no evaluation at all.
    run()
    assert len(open(log).read().split()) == len(lines)


def test_cli_show_lists_inner_searches_by_outer_trial(tmp_path):
    root = str(tmp_path)
    result = flows.nested(OUTER_SPACE, sa.grid(), _inner(), max_trials=2, root_dir=root,
                          progress=False)
    store = storage.TrialStore.in_dir(root)
    text = cli.show(store, top=5)
    store.close()
    for outer in result.trials:
        best = result.inner(outer).best
        assert (f"trial #{outer.id} -> study {flows.study_name(outer.id)}: 5 trials, "
                f"best #{best.id}") in text
    store = storage.TrialStore.in_dir(root, study=flows.study_name(result.trials[0].id))
    text = cli.show(store, top=5)
    store.close()
    assert f"(inner search of trial #{result.trials[0].id})" in text
    assert "5 trials" in text
    # Read-only views (dashboard, report, TensorBoard) show the main search.
    view = store_view.StoreView.in_dir(root)
    assert view.count() == 2
    assert [r["id"] for r in view.rows()] == [t.id for t in view.trials()] == [
        t.id for t in result.trials]
    view.close()


def test_a_store_without_study_columns_gets_them(tmp_path):
    path = str(tmp_path / storage.FILENAME)
    store = storage.TrialStore(path)
    store.close()
    with sqlite3.connect(path) as db:  # A store as written before studies existed.
        db.execute("DROP INDEX trials_by_study")
        db.execute("ALTER TABLE trials DROP COLUMN study")
        db.execute("ALTER TABLE trials DROP COLUMN parent_id")
    result = flows.nested(OUTER_SPACE, sa.grid(), _inner(), max_trials=1, root_dir=str(tmp_path),
                          progress=False)
    assert len(result.inner(1).trials) == 5
    with pytest.raises(ValueError, match="study must be a non-empty name"):
        storage.TrialStore(path, study="")
    with pytest.raises(ValueError, match="parent_id must be a positive trial id"):
        storage.TrialStore(path, study="x", parent_id=0)
    with pytest.raises(errors.StoreError, match="parent_id is 'x'"):
        with sqlite3.connect(path) as db:
            db.execute("UPDATE trials SET parent_id='x' WHERE id=2")
        storage.TrialStore(path, study=flows.study_name(1)).trials()


def test_three_levels_share_one_store(tmp_path):
    innermost = _inner(max_trials=2)
    middle = flows.InnerSearch(pg.Dict(budget=pg.oneof([2, 3])), sa.grid(), innermost,
                               max_trials=2)
    result = flows.nested(pg.Dict(level=pg.oneof([0])), sa.grid(), middle, max_trials=1,
                          root_dir=str(tmp_path), progress=False)
    top = result.trials[0]
    second = result.inner(top)
    assert [t.parent_id for t in second.trials] == [top.id, top.id]
    for trial in second.trials:
        third = second.inner(trial)
        assert len(third.trials) == 2 and all(t.parent_id == trial.id for t in third.trials)
        assert trial.reward == third.best.reward
    assert top.reward == second.best.reward
    assert len(_rows(str(tmp_path))) == 1 + 2 + 4
