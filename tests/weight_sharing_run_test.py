"""The weight-sharing run records its derived architecture through the black-box loop."""

import pyglove as pg
import pytest

import symbolic_automl as sa
from symbolic_automl import oneshot

SPACE = pg.Dict(x=pg.oneof([1, 2, 3]), y=pg.oneof(["a", "b"]))
DERIVED = pg.DNA([2, 1])  # x=3, y="b"
SEARCHES = []


class Derives(oneshot.WeightSharingAlgorithm):
    """Stands in for a supernet search: derives `DERIVED` with the given inherited metrics."""

    inherited: pg.typing.Dict([(pg.typing.StrKey(), pg.typing.Float())]) = {}

    def search(self, space, evaluator):
        SEARCHES.append(space)
        return oneshot.SearchOutcome(dna=DERIVED.clone(), history=[{"epoch": 1, "loss": 0.5}],
                                     metrics=dict(self.inherited))


@pytest.fixture(autouse=True)
def _count_searches():
    SEARCHES.clear()


def _search(tmp_path, algorithm, evaluator=None, **kwargs):
    return sa.search(SPACE, algorithm=algorithm,
                     evaluator=evaluator or (lambda model, context: {"reward": model.x}),
                     max_trials=1, root_dir=str(tmp_path), progress=False, **kwargs)


def test_inherited_metrics_with_the_objective_complete_the_trial(tmp_path):
    result = _search(tmp_path, Derives(inherited={"val_loss": 0.25}), objective="val_loss",
                     direction="min")
    [trial] = result.trials
    assert (trial.status, trial.reward, trial.dna) == ("completed", -0.25, DERIVED)
    assert trial.model == pg.Dict(x=3, y="b")
    assert result.architecture_history == [{"epoch": 1, "loss": 0.5}]
    assert sa.TrialStore.in_dir(str(tmp_path)).trials()[0].status == "completed"


def test_inherited_metrics_without_the_objective_fail_like_a_black_box_trial(tmp_path):
    shared = _search(tmp_path / "shared", Derives(inherited={"val_loss": 0.25}),
                     objective="val_accuracy")
    # A black-box search stops after such a first trial (every trial would fail);
    # the one derived trial is recorded the same way.
    with pytest.raises(sa.errors.ObjectiveNotReturnedError, match="Stopping the search"):
        _search(tmp_path / "black_box", pg.geno.Random(seed=1),
                evaluator=lambda model, context: {"val_loss": 0.25}, objective="val_accuracy")
    [trial], [other] = shared.trials, sa.TrialStore.in_dir(str(tmp_path / "black_box")).trials()
    assert trial.status == other.status == "failed"
    assert trial.reward is None and trial.metrics == other.metrics
    first_line = ("ObjectiveNotReturnedError: The evaluator returned no 'val_accuracy' (the "
                  "objective); it returned ['val_loss'].")
    assert trial.error.splitlines()[0] == other.error.splitlines()[0] == first_line
    stored = sa.TrialStore.in_dir(str(tmp_path / "shared")).trials()
    assert [t.status for t in stored] == ["failed"]


def test_retrain_evaluates_the_derived_model_with_the_evaluator(tmp_path):
    seen = []

    def evaluate(model, context):
        seen.append((model, context.trial_id, context.dna))
        return {"reward": 10.0 * model.x}

    result = _search(tmp_path, Derives(retrain=True, inherited={"reward": 1.0}),
                     evaluator=evaluate)
    [trial] = result.trials
    assert seen == [(pg.Dict(x=3, y="b"), 1, DERIVED)]
    assert (trial.status, trial.reward) == ("completed", 30.0)


def test_resume_searches_again_only_without_a_rewarded_trial(tmp_path):
    _search(tmp_path, Derives(inherited={}), objective="val_loss")
    assert len(SEARCHES) == 1
    # The derived trial failed (no objective): a resume searches and records it again.
    again = _search(tmp_path, Derives(inherited={"val_loss": 0.5}), objective="val_loss")
    assert len(SEARCHES) == 2
    assert [(t.id, t.status) for t in again.trials] == [(1, "failed"), (2, "completed")]
    # Now one trial has a reward: nothing is searched or recorded.
    last = _search(tmp_path, Derives(inherited={"val_loss": 0.5}), objective="val_loss")
    assert len(SEARCHES) == 2
    assert [(t.id, t.status) for t in last.trials] == [(1, "failed"), (2, "completed")]


class Killed(BaseException):
    """Stands in for the process being killed mid-retraining."""


def test_an_interrupted_retraining_runs_again_without_a_new_supernet_search(tmp_path):
    def killed(model, context):
        raise Killed()

    with pytest.raises(Killed):
        _search(tmp_path, Derives(retrain=True), evaluator=killed)
    assert [t.status for t in sa.TrialStore.in_dir(str(tmp_path)).trials()] == ["running"]
    result = _search(tmp_path, Derives(retrain=True),
                     evaluator=lambda model, context: {"reward": 10.0 * model.x})
    assert len(SEARCHES) == 1
    [trial] = result.trials
    assert (trial.id, trial.status, trial.attempts, trial.dna) == (1, "completed", 2, DERIVED)
    assert trial.reward == 30.0
