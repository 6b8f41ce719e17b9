"""`search()` refuses bad arguments up front: before any trial, before the store file."""

import os

import pyglove as pg
import pytest

import symbolic_automl as sa
from symbolic_automl import executors

SPACE = pg.Dict(x=pg.oneof([1, 2, 3]))


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(max_trials=True), TypeError, r"max_trials=True\): expected a positive int.*got a bool"),
    (dict(max_trials=2.0), TypeError, r"max_trials=2.0\): expected a positive int"),
    (dict(max_trials=0), ValueError, r"max_trials=0\): expected a positive int"),
    (dict(keep_models=-1), ValueError, r"keep_models=-1\): expected a non-negative int"),
    (dict(max_consecutive_failures=0), ValueError,
     r"max_consecutive_failures=0\): expected a positive int"),
    (dict(max_rejections=-5), ValueError,
     r"max_rejections=-5\): expected None \(10 x max_trials\) or a positive int"),
    (dict(progress="no"), TypeError, r"progress='no'\): expected True or False.*got a str"),
    (dict(root_dir=""), ValueError, r"root_dir=''\): expected None or a non-empty directory"),
    (dict(tensorboard_dir="  "), ValueError, r"tensorboard_dir='  '\): expected None or a non"),
    (dict(executor="process"), TypeError,
     r"executor='process'\): expected None \(run in this process\) or a symbolic_automl"
     r".executors.Executor, got a str\. .*executors\.WorkerProcess\(\)"),
    (dict(executor=executors.InProcess), TypeError, r"executors\.InProcess\(\), not the class"),
    (dict(early_stopping="median"), TypeError,
     r"early_stopping='median'\): expected None or a pg.tuning.EarlyStoppingPolicy, got a str"
     r"\. .*algorithms.early_stopping, e.g. MedianStopping\(metric="),
    (dict(early_stopping="hyperband"), TypeError, r"e\.g\. Hyperband\("),
])
def test_a_bad_argument_is_named_before_any_trial_or_store_file(tmp_path, kwargs, error, match):
    calls = []

    def evaluator(model, context):
        calls.append(context.trial_id)
        return {"reward": float(model.x)}

    root = tmp_path / "run"
    arguments = dict(max_trials=3, root_dir=str(root), progress=False)
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        sa.search(SPACE, algorithm=pg.geno.Random(seed=1), evaluator=evaluator, **arguments)
    assert calls == []
    assert not os.path.exists(root)


def test_a_root_dir_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("mine")
    with pytest.raises(ValueError, match=r"root_dir=.*notes.txt.*existing file"):
        sa.search(SPACE, algorithm=pg.geno.Random(seed=1), evaluator=lambda m, c: {"reward": 1.0},
                  max_trials=2, root_dir=str(path), progress=False)
    assert path.read_text() == "mine"


def test_good_arguments_still_search(tmp_path):
    from symbolic_automl.algorithms import early_stopping  # pylint: disable=g-import-not-at-top

    result = sa.search(SPACE, algorithm=pg.geno.Random(seed=1),
                       evaluator=lambda m, c: {"reward": float(m.x)}, max_trials=3,
                       root_dir=tmp_path, keep_models=0, max_consecutive_failures=1,
                       max_rejections=1, progress=False, executor=executors.InProcess(),
                       early_stopping=early_stopping.MedianStopping())
    assert [t.status for t in result.trials] == ["completed"] * 3
    assert os.path.exists(tmp_path / "trials.sqlite")
