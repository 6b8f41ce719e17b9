"""The search loop with plain-Python evaluators: records, resume, failures, stopping."""

import math

import pyglove as pg
import pytest

import symbolic_automl as sa

SPACE = pg.Dict(x=pg.oneof(list(range(10))), y=pg.floatv(0.0, 1.0))


def score(model, context):
    del context
    return {"reward": model.x + model.y}


def _search(tmp_path, max_trials, evaluator=score, space=SPACE, algorithm=None, **kwargs):
    return sa.search(space, algorithm=algorithm or pg.geno.Random(seed=1),
                     evaluator=evaluator, max_trials=max_trials, root_dir=str(tmp_path),
                     progress=False, **kwargs)


def test_search_records_every_trial_and_ranks_them(tmp_path):
    result = _search(tmp_path, 12, algorithm=pg.evolution.regularized_evolution(
        population_size=4, tournament_size=2, seed=1))
    assert [t.id for t in result.trials] == list(range(1, 13))
    assert all(t.status == "completed" for t in result.trials)
    rewards = [t.reward for t in result.trials]
    assert result.best.reward == max(rewards)
    assert [t.reward for t in result.top(3)] == sorted(rewards, reverse=True)[:3]
    assert pg.eq(result.best.model, pg.materialize(SPACE, result.best.dna))
    assert all(t.finished >= t.started for t in result.trials)


def test_resume_keeps_trials_replays_history_and_continues_ids(tmp_path):
    first = _search(tmp_path, 5)
    seen = []

    class Recording(pg.geno.Random):
        def _replay(self, trial_id, dna, reward):
            seen.append((dna, reward))

    second = _search(tmp_path, 8, algorithm=Recording(seed=2))
    assert [t.id for t in second.trials] == list(range(1, 9))
    assert [(t.dna, t.reward) for t in first.trials] == [
        (t.dna, t.reward) for t in second.trials[:5]]
    assert seen == [(t.dna, t.reward) for t in first.trials]


def test_resume_with_another_space_is_refused(tmp_path):
    _search(tmp_path, 2)
    other = pg.Dict(x=pg.oneof([1, 2]), y=pg.floatv(0.0, 1.0))
    with pytest.raises(sa.StoreError, match="different search space"):
        _search(tmp_path, 3, space=other)
    assert len(sa.TrialStore(str(tmp_path / "trials.sqlite")).trials()) == 2


def test_failures_are_recorded_and_the_search_goes_on(tmp_path):
    infeasible_told = []

    class Algorithm(pg.geno.Random):
        def feedback_infeasible(self, dna):
            infeasible_told.append(dna)

    def flaky(model, context):
        if model.x == 0:
            raise sa.InfeasibleError("x=0 has no model")
        if model.x == 1:
            raise RuntimeError("training blew up")
        if model.x == 2:
            return {"reward": math.nan}
        return {"reward": float(model.x)}

    result = _search(tmp_path, 30, evaluator=flaky, algorithm=Algorithm(seed=3),
                     max_consecutive_failures=100)
    by_x = {}
    for t in result.trials:
        by_x.setdefault(t.model.x, set()).add(t.status)
    assert by_x[0] == {"infeasible"} and by_x[1] == {"failed"} and by_x[2] == {"failed"}
    assert all(s == {"completed"} for x, s in by_x.items() if x > 2)
    failed = [t for t in result.trials if t.status == "failed"]
    assert any("training blew up" in t.error for t in failed)
    assert any("is nan" in t.error for t in failed)
    assert len(infeasible_told) == sum(t.status != "completed" for t in result.trials)


def test_too_many_consecutive_failures_stops_with_the_last_errors(tmp_path):
    def broken(model, context):
        raise ValueError(f"bad model {model.x}")

    with pytest.raises(sa.TooManyFailuresError, match=r"3 trials in a row failed(.|\n)*bad model"):
        _search(tmp_path, 10, evaluator=broken, max_consecutive_failures=3)
    trials = sa.TrialStore(str(tmp_path / "trials.sqlite")).trials()
    assert [t.status for t in trials] == ["failed"] * 3


def test_missing_objective_on_the_first_trial_stops_the_search(tmp_path):
    with pytest.raises(sa.errors.ObjectiveNotReturnedError,
                       match=r"trial 1(.|\n)*'val_accuracy'(.|\n)*\['accuracy'\]") as caught:
        _search(tmp_path, 10, evaluator=lambda m, c: {"accuracy": 1.0},
                objective="val_accuracy", max_consecutive_failures=5)
    assert caught.value.missing == ["val_accuracy"] and caught.value.returned == ["accuracy"]
    trials = sa.TrialStore(str(tmp_path / "trials.sqlite")).trials()
    assert [t.status for t in trials] == ["failed"]
    assert "val_accuracy" in trials[0].error and "accuracy" in trials[0].error
    # Fixed objective, same root_dir: no trial had a reward, so the store takes it.
    result = _search(tmp_path, 3, evaluator=lambda m, c: {"accuracy": 1.0},
                     objective="accuracy")
    assert [t.status for t in result.trials] == ["failed", "completed", "completed"]


def test_missing_objective_after_the_first_trial_fails_only_that_trial(tmp_path):
    def sometimes(model, context):
        return {"accuracy": 1.0} if context.trial_id == 2 else {"reward": 1.0}

    result = _search(tmp_path, 4, evaluator=sometimes)
    assert [t.status for t in result.trials] == ["completed", "failed", "completed", "completed"]
    assert "'reward'" in result.trials[1].error and "accuracy" in result.trials[1].error


def test_a_first_trial_that_raises_does_not_stop_the_search_for_its_objective(tmp_path):
    def first_raises(model, context):
        if context.trial_id == 1:
            raise KeyError("reward")  # Not a missing objective: the evaluator raised.
        return {"reward": 1.0}

    result = _search(tmp_path, 3, evaluator=first_raises)
    assert [t.status for t in result.trials] == ["failed", "completed", "completed"]
    # The check waits for the first metrics returned: here trial 2's.
    with pytest.raises(sa.errors.ObjectiveNotReturnedError, match="trial 2"):
        _search(tmp_path / "b", 5, evaluator=lambda m, c: (
            first_raises(m, c) if c.trial_id == 1 else {"loss": 0.5}))


class StopAfter(pg.tuning.EarlyStoppingPolicy):
    step: int

    def should_stop_early(self, trial):
        return trial.measurements[-1].step >= self.step


def test_early_stopping_policy_stops_trials(tmp_path):
    def curve(model, context):
        for step in range(1, 6):
            context.report(step, {"reward": step * model.y})
            if context.should_stop():
                break
        return {"reward": step * model.y}

    result = _search(tmp_path, 3, evaluator=curve, early_stopping=StopAfter(step=2))
    for t in result.trials:
        assert t.status == "stopped"
        assert [m.step for m in t.measurements] == [1, 2]


def test_multi_objective_rewards_and_pareto_front(tmp_path):
    def two(model, context):
        return {"acc": float(model.x), "cost": float(model.x) ** 2 * model.y}

    result = _search(tmp_path, 15, evaluator=two, objective=["acc", "cost"],
                     direction=["max", "min"])
    assert all(isinstance(t.reward, tuple) and t.reward[1] <= 0 for t in result.trials)
    front = result.pareto_front()
    assert front
    for f in front:
        assert not any(o.metrics["acc"] >= f.metrics["acc"] and o.metrics["cost"] < f.metrics["cost"]
                       for o in result.trials)


@pytest.mark.parametrize("kwargs, match", [
    (dict(max_trials=0), "max_trials"),
    (dict(max_trials=2, direction="up"), "direction"),
    (dict(max_trials=2, objective=""), "objective"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sa.search(SPACE, algorithm=pg.geno.Random(seed=1), evaluator=score, progress=False,
                  **kwargs)


def test_in_memory_search_without_root_dir():
    result = sa.search(SPACE, algorithm=pg.geno.Random(seed=1), evaluator=score,
                       max_trials=3, progress=False)
    assert len(result.trials) == 3 and result.root_dir is None


def test_rejected_trials_do_not_count_and_are_capped(tmp_path):
    told = []

    class Algorithm(pg.geno.Random):
        def feedback_infeasible(self, dna):
            told.append(dna)

    def picky(model, context):
        if model.x < 5:
            raise sa.RejectedError(f"proxy score {model.x} < threshold 5")
        return {"reward": float(model.x)}

    result = _search(tmp_path, 6, evaluator=picky, algorithm=Algorithm(seed=4))
    counted = [t for t in result.trials if t.status != "rejected"]
    assert len(counted) == 6 and all(t.status == "completed" for t in counted)
    assert result.count("rejected") > 0
    assert len(told) == result.count("rejected")
    # On resume the algorithm hears about the recorded rejections again.
    told.clear()
    resumed = _search(tmp_path, 6, evaluator=picky, algorithm=Algorithm(seed=4))
    assert len(resumed.trials) == len(result.trials)
    assert len(told) == result.count("rejected")


def test_a_rejection_records_what_its_check_measured(tmp_path):
    def picky(model, context):
        raise sa.RejectedError("quality: 0.10 < 0.2", metrics={"stage": "quality", "acc": 0.1})

    _search(tmp_path, 1, evaluator=picky, max_rejections=2)
    stored = sa.TrialStore.in_dir(str(tmp_path)).trials()
    assert [t.status for t in stored] == ["rejected"] * 2
    assert stored[0].metrics == {"stage": "quality", "acc": 0.1}
    assert stored[0].error == "quality: 0.10 < 0.2"


def test_too_many_rejections_stop_the_search(tmp_path):
    def never(model, context):
        raise sa.RejectedError("rejected")

    result = _search(tmp_path / "a", 3, evaluator=never, max_rejections=7)
    assert [t.status for t in result.trials] == ["rejected"] * 7


def test_wrong_algorithm_or_evaluator_is_named():
    with pytest.raises(TypeError, match="algorithm must be a pg.DNAGenerator.*'evolution'"):
        sa.search(SPACE, algorithm="evolution", evaluator=score, max_trials=2)
    with pytest.raises(TypeError, match="evaluator must be callable"):
        sa.search(SPACE, algorithm=pg.geno.Random(seed=1), evaluator=42, max_trials=2)


# The fast path: algorithms that speak assignments build no pg.DNA in the loop.

CONDITIONAL = pg.Dict(a=pg.oneof([1, pg.Dict(b=pg.oneof([2, 3]), c=pg.floatv(0.0, 1.0))]),
                      d=pg.manyof(2, [4, 5, 6]), e=pg.floatv(1e-3, 1.0, scale="log"))


def _sum_leaves(model, context):
    del context
    total = 0.0
    for value in pg.query(model, where=lambda v: isinstance(v, (int, float))).values():
        total += value
    return {"reward": total}


@pytest.mark.parametrize("space", [SPACE, CONDITIONAL], ids=["flat", "conditional"])
def test_assignment_path_records_what_the_dna_path_records(tmp_path, space, dna_only):
    from symbolic_automl import algorithms

    def run(algorithm, directory):
        return _search(tmp_path / directory, 30, evaluator=_sum_leaves, space=space,
                       algorithm=algorithm)

    fast = run(algorithms.Evolution(population_size=6, tournament_size=3, seed=3), "fast")
    slow = run(dna_only(algorithms.Evolution(population_size=6, tournament_size=3, seed=3)),
               "slow")
    assert [t.dna for t in fast.trials] == [t.dna for t in slow.trials]
    assert [t.reward for t in fast.trials] == [t.reward for t in slow.trials]
    assert [t.model_json for t in fast.trials] == [t.model_json for t in slow.trials]
    stored = sa.TrialStore(str(tmp_path / "fast" / "trials.sqlite")).trials()
    assert [t.dna for t in stored] == [t.dna for t in slow.trials]
    assert len({pg.to_json_str(t.dna) for t in fast.trials}) == 30  # Evolution never repeats.


def test_assignment_path_resumes_like_an_uninterrupted_run(tmp_path):
    from symbolic_automl import algorithms

    def run(directory, max_trials):
        return _search(tmp_path / directory, max_trials, evaluator=_sum_leaves, space=CONDITIONAL,
                       algorithm=algorithms.Evolution(population_size=5, tournament_size=2,
                                                      seed=7))

    whole = run("whole", 25)
    run("parts", 9)
    resumed = run("parts", 25)
    assert [t.dna for t in resumed.trials] == [t.dna for t in whole.trials]


def test_an_assignment_that_does_not_fit_the_space_is_named(tmp_path):
    from symbolic_automl import algorithms

    class OutOfRange(algorithms.Algorithm):
        def _propose_assignment(self, rng):
            return {"x": 12, "y": 0.5}

    with pytest.raises(sa.DNAMismatchError, match=r"'x' takes a candidate index in \[0, 10\), got 12"):
        _search(tmp_path, 3, algorithm=OutOfRange(seed=1))
