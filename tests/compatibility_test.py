"""Resuming refuses what would mix incomparable trials, and carries the failure count."""

import types

import numpy as np
import pyglove as pg
import pytest

import symbolic_automl as sa
from symbolic_automl import compatibility
from symbolic_automl import trial as trial_lib

SPACE = pg.Dict(x=pg.oneof(list(range(5))))


def score(model, context):
    del context
    return {"reward": float(model.x)}


def _search(root, max_trials, evaluator=score, space=SPACE, **kwargs):
    return sa.search(space, algorithm=pg.geno.Random(seed=1), evaluator=evaluator,
                     max_trials=max_trials, root_dir=str(root), progress=False, **kwargs)


def _stored(root):
    return sa.TrialStore(str(root / "trials.sqlite")).trials()


def test_another_direction_is_refused(tmp_path):
    _search(tmp_path, 2, direction="max")
    with pytest.raises(sa.StoreError, match=r"direction \['max'\]; this search has \['min'\]"
                                            r"(.|\n)*new root_dir"):
        _search(tmp_path, 4, direction="min")
    assert len(_stored(tmp_path)) == 2
    assert len(_search(tmp_path, 3, direction="max").trials) == 3  # Same one resumes.


def test_another_objective_is_refused_once_a_trial_has_a_reward(tmp_path):
    def two(model, context):
        return {"reward": float(model.x), "other": 1.0}

    _search(tmp_path, 2, evaluator=two)
    with pytest.raises(sa.StoreError, match=r"objective \['reward'\]; this search has \['other'\]"):
        _search(tmp_path, 4, evaluator=two, objective="other")


def _body(source):
    """A function named `build` from `source` (same name, so only its code differs)."""
    namespace = {"pg": pg}
    exec(compile(source, "<spaces>", "exec"), namespace)  # pylint: disable=exec-used
    return namespace["build"]


BUILD = """
def build():
    x = pg.oneof([1, 2, 3], name="x")
    return {"x": x, "scale": 2}
"""


def _scaled(model, context):
    del context
    return {"reward": float(model["x"] * model["scale"])}


def test_a_changed_define_by_run_body_is_refused(tmp_path):
    _search(tmp_path, 2, evaluator=_scaled, space=_body(BUILD))
    other = _body(BUILD.replace('"scale": 2', '"scale": 3'))
    assert sa.Space(other).fingerprint() == sa.Space(_body(BUILD)).fingerprint()
    with pytest.raises(sa.StoreError, match=r"another body of the define-by-run function "
                                            r".*build \(code \w+; this search's is \w+\)"):
        _search(tmp_path, 4, evaluator=_scaled, space=other)
    assert len(_stored(tmp_path)) == 2
    # Comments and blank lines are not code: the same body resumes.
    commented = _body(BUILD.replace("    x =", "    # The only decision.\n\n    x ="))
    assert len(_search(tmp_path, 3, evaluator=_scaled, space=commented).trials) == 3


def test_an_evaluator_without_a_recipe_may_change(tmp_path):
    _search(tmp_path, 2, evaluator=score)

    def fixed(model, context):  # E.g. a bug fixed before resuming.
        del context
        return {"reward": float(model.x) + 0.5}

    result = _search(tmp_path, 3, evaluator=fixed)
    assert [t.reward % 1 for t in result.trials] == [0.0, 0.0, 0.5]


def test_failure_count_survives_a_resume(tmp_path):
    def broken(model, context):
        raise ValueError(f"broken {context.trial_id}")

    _search(tmp_path, 2, evaluator=broken, max_consecutive_failures=3)
    with pytest.raises(sa.TooManyFailuresError, match="3 trials in a row"):
        _search(tmp_path, 10, evaluator=broken, max_consecutive_failures=3)
    assert [t.status for t in _stored(tmp_path)] == ["failed"] * 3


def _trial(trial_id, status, finished):
    return trial_lib.Trial(id=trial_id, dna=pg.DNA(0), status=status, created=0.0, started=0.0,
                           finished=finished)


def test_trailing_failures_follow_finish_order_skipping_rejected_and_running():
    trials = [_trial(1, "failed", 1.0), _trial(2, "completed", 5.0), _trial(3, "failed", 2.0),
              _trial(4, "failed", 6.0), _trial(5, "rejected", 7.0), _trial(6, "running", None),
              _trial(7, "failed", 8.0)]
    assert [t.id for t in compatibility.trailing_failures(trials)] == [4, 7]
    assert compatibility.trailing_failures(trials + [_trial(8, "infeasible", 9.0)]) == []


class _Untrained(sa.KerasEvaluator):
    """The Keras evaluator's settings and recipe, without training (fast)."""

    def __call__(self, model, context):
        return {"val_accuracy": 0.5}


def _keras_search(root, data, max_trials=1, evaluator_options=None, **training):
    x, y = data
    evaluator = _Untrained(x, y, validation_data=(x[:16], y[:16]),
                           training=sa.Training(batch_size=16, **training),
                           **(evaluator_options or {}))
    return _search(root, max_trials, evaluator=evaluator)


def test_a_changed_training_recipe_is_refused_but_new_data_objects_resume(tmp_path):
    data = (np.zeros((48, 4), "float32"), np.zeros(48, "int64"))
    _keras_search(tmp_path, data, epochs=3)
    with pytest.raises(sa.StoreError, match=r"training.epochs = 3, this search has 5"
                                            r"(.|\n)*new root_dir"):
        _keras_search(tmp_path, data, epochs=5)
    with pytest.raises(sa.StoreError, match=r"training.learning_rate = \(not set\), this "
                                            r"search has 0.01"):
        _keras_search(tmp_path, data, epochs=3, learning_rate=0.01)
    with pytest.raises(sa.StoreError, match=r"steps_per_epoch = None, this search has 2"):
        _keras_search(tmp_path, data, epochs=3, evaluator_options=dict(steps_per_epoch=2))
    # Where and how verbosely it trains, and which array objects hold the data, do not
    # change what the numbers mean.
    copies = tuple(np.array(a, copy=True) for a in data)
    result = _keras_search(tmp_path, copies, max_trials=2, epochs=3,
                           evaluator_options=dict(verbose=1, jit_compile=False))
    assert [t.status for t in result.trials] == ["completed"] * 2


def test_stable_text_has_no_addresses():
    import keras  # pylint: disable=g-import-not-at-top

    values = {"loss": keras.losses.SparseCategoricalCrossentropy(), "fn": test_stable_text_has_no_addresses,
              "weights": np.ones((3, 2)), "obj": types.SimpleNamespace(), "training": sa.Training()}
    first = compatibility.stable_text(values)
    assert " at 0x" not in first and first == compatibility.stable_text(dict(values))
    assert "array(shape=(3, 2), dtype=float64)" in first and "from_logits" in first
