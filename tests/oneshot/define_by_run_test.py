"""Supernets of define-by-run functions: exactness, the traced DNA, DARTS end to end, errors."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pyglove as pg  # noqa: E402
import pytest  # noqa: E402

from symbolic_automl import errors  # noqa: E402
from symbolic_automl import keras as sk  # noqa: E402
from symbolic_automl.algorithms.weight_sharing import DARTS  # noqa: E402
from symbolic_automl.oneshot import (  # noqa: E402
    ChoiceSpec, DefineByRunSupernet, MixedOp, build_supernet, supernet_mode)
from symbolic_automl.space import Space  # noqa: E402


def _copy_weights(net, model):
    source, target = net.trainable_variables, model.trainable_variables
    assert [tuple(v.shape) for v in source] == [tuple(v.shape) for v in target]
    for t, s in zip(target, source):
        t.assign(s)


def _decision_points(spec):
    return [(str(p.id), p.name, len(p.candidates)) for p in spec.decision_points]


# -- one candidate per choice: the supernet is the plain model ------------------

def plain_keras_single():
    x = keras.Input((6,))
    h = pg.oneof([keras.layers.Dense(5, activation="tanh")], name="first")(x)
    h = keras.layers.Dense(4, activation="relu")(h)
    y = pg.oneof([lambda t: keras.layers.Dense(3)(t)], name="last")(h)
    return keras.Model(x, y)


def symbolic_functional_single():
    x = sk.Input(shape=(6,))
    h = pg.oneof([sk.layers.Dense(5, activation="tanh")], name="first")(x)
    h = sk.layers.Dense(4, activation="relu")(h)
    return sk.Model(x, pg.oneof([sk.layers.Dense(3)], name="last")(h))


def symbolic_sequential_single():
    return sk.Sequential([sk.Input(shape=(6,)),
                          pg.oneof([sk.layers.Dense(5, activation="tanh")], name="first"),
                          sk.layers.Dense(4, activation="relu"),
                          pg.oneof([sk.layers.Dense(3)], name="last")])


@pytest.mark.parametrize("fn", [plain_keras_single, symbolic_functional_single,
                                symbolic_sequential_single])
def test_one_candidate_per_choice_computes_the_plain_model(fn):
    net = build_supernet(fn)
    assert isinstance(net, DefineByRunSupernet)
    assert [c.key for c in net.choice_points] == ["first", "last"]
    net.build_weights()
    space = Space(fn)
    model = space.materialize(pg.DNA([0, 0]))
    plain = model.to_keras() if hasattr(model, "to_keras") else model
    _copy_weights(net, plain)
    x = np.random.default_rng(0).standard_normal((7, 6)).astype("float32")
    got = net(x, [keras.ops.ones((1,)), keras.ops.ones((1,))])
    np.testing.assert_allclose(np.asarray(got), np.asarray(plain(x)), rtol=1e-6, atol=1e-6)


# -- the traced DNA spec ----------------------------------------------------------

def two_choices():
    x = keras.Input((8, 8, 1))
    op = pg.oneof([keras.layers.Conv2D(4, 3, padding="same"),
                   keras.layers.Conv2D(4, 5, padding="same"),
                   lambda t: keras.layers.Conv2D(4, 1)(t)], name="op1")
    pool = pg.oneof([keras.layers.GlobalMaxPooling2D(), keras.layers.GlobalAveragePooling2D()],
                    name="cell.pool")  # a dotted name: its decision id is '[cell.pool]'
    return keras.Model(x, keras.layers.Dense(3)(pool(op(x))))


def test_derived_dna_fits_the_traced_space_with_the_same_ids_and_order():
    net = build_supernet(two_choices)
    space = Space(two_choices)
    assert _decision_points(net.dna_spec) == _decision_points(space.dna_spec) == [
        ("op1", "op1", 3), ("[cell.pool]", "cell.pool", 2)]
    assert [c.candidates for c in net.choice_points] == [
        ["Conv2D(4, (3, 3), 'linear')", "Conv2D(4, (5, 5), 'linear')", "<lambda>"],
        ["GlobalMaxPooling2D()", "GlobalAveragePooling2D()"]]
    dna = net.derive([np.array([0.1, 0.2, 0.9]), np.array([0.0, 1.0])])
    assert dna == pg.DNA([2, 1])
    space.check_dna(dna)  # raises if it does not fit
    assert space.decisions(dna)["cell.pool"] == "GlobalAveragePooling2D()"
    for candidate in (pg.DNA([0, 0]), pg.DNA([1, 1]), pg.DNA([2, 0])):
        assert net.derive(net.dna_to_mixing(candidate)) == candidate


def test_one_hot_mixing_runs_only_the_chosen_candidate():
    net = build_supernet(two_choices)
    net.build_weights()
    mixing = net.dna_to_mixing(pg.DNA([2, 0]))
    x = np.random.default_rng(1).standard_normal((3, 8, 8, 1)).astype("float32")
    before = np.asarray(net(x, mixing))
    # Perturbing an unchosen candidate's weights changes nothing; the chosen one's does.
    op1 = net.inner.get_layer("choice_op1")
    assert isinstance(op1, MixedOp) and op1.decision == "op1" and op1.choice_index == 0
    op1.candidates[0].kernel.assign(op1.candidates[0].kernel + 1.0)
    np.testing.assert_allclose(np.asarray(net(x, mixing)), before, atol=1e-6)
    chosen = op1.candidates[2].trainable_variables[0]
    chosen.assign(chosen + 1.0)
    assert not np.allclose(np.asarray(net(x, mixing)), before)


def test_a_decision_used_twice_shares_its_mixing_vector():
    def build():
        x = h = sk.Input(shape=(4,))
        for _ in range(2):  # one decision, two layers (each its own weights)
            h = pg.oneof([sk.layers.Dense(4, activation="relu"),
                          sk.layers.Dense(4, activation="tanh")], name="act")(h)
        return sk.Model(x, sk.layers.Dense(1)(h))

    with supernet_mode() as context:
        result = build()
    assert [c.key for c in context.choice_points] == ["act"]
    choices = [n.layer for n in result.nodes if isinstance(n.layer, ChoiceSpec)]
    assert [(c.choice_index, c.layer_name) for c in choices] == [
        (0, "choice_act"), (0, "choice_act_1")]
    net = build_supernet(build)
    net.build_weights()
    assert len(net.trainable_variables) == 2 * 2 * 2 + 2
    assert net.derive([np.array([0.0, 1.0])]) == pg.DNA(1)


# -- DARTS on a define-by-run space -------------------------------------------------

PLANTED = pg.DNA([1, 0])  # read the second half of the sequence, then max pooling


def planted_fn():
    """Which half of a 16-step sequence to read; max or average pooling (plain Keras)."""
    x = keras.Input((16, 1))
    half = pg.oneof([keras.layers.Cropping1D((0, 8)), keras.layers.Cropping1D((8, 0))],
                    name="half")
    h = keras.layers.Conv1D(8, 3, activation="relu")(half(x))
    pool = pg.oneof([keras.layers.GlobalMaxPooling1D(), keras.layers.GlobalAveragePooling1D()],
                    name="pool")
    return keras.Model(x, keras.layers.Dense(1)(pool(h)))


@pytest.fixture(scope="module")
def teacher_data():
    keras.utils.set_random_seed(1)
    teacher = Space(planted_fn).materialize(PLANTED)
    x = np.random.default_rng(1).standard_normal((2048, 16, 1)).astype("float32")
    y = teacher.predict(x, verbose=0)
    return x, ((y - y.mean()) / y.std()).astype("float32")


def test_darts_recovers_the_planted_choices_of_a_define_by_run_space(teacher_data):
    # The paper's α learning rate (3e-4) needs hundreds of epochs; 3e-3 moves α in 30.
    outcome = DARTS(epochs=30, batch_size=64, loss="mse", a_learning_rate=3e-3).search(
        planted_fn, teacher_data)
    arch = outcome.history[-1]["architecture"]
    assert outcome.dna == PLANTED, arch
    assert arch["half"]["weights"][1] > 0.6 and arch["pool"]["weights"][0] > 0.55


def test_search_entry_point_runs_darts_on_the_function_unchanged(teacher_data, tmp_path):
    import symbolic_automl  # pylint: disable=g-import-not-at-top
    from symbolic_automl.evaluators import KerasEvaluator, Training  # pylint: disable=g-import-not-at-top

    x, y = teacher_data
    evaluator = KerasEvaluator(x, y, validation_data=(x[1536:], y[1536:]),
                               training=Training(loss="mse", epochs=1, batch_size=64),
                               objective="val_loss")
    result = symbolic_automl.search(
        planted_fn, algorithm=DARTS(epochs=30, a_learning_rate=3e-3, retrain=True),
        evaluator=evaluator, max_trials=1, root_dir=str(tmp_path), objective="val_loss",
        direction="min")
    [trial] = result.trials
    assert trial.status == "completed" and trial.dna == PLANTED
    assert "val_loss" in trial.metrics
    decisions = trial.model.decisions
    assert set(decisions) == {"half", "pool"}
    assert decisions["pool"] == "GlobalMaxPooling1D()"
    assert result.architecture_history[-1]["architecture"]["pool"]["candidates"] == [
        "GlobalMaxPooling1D()", "GlobalAveragePooling1D()"]


def sequential_fn():
    """A plain keras.Sequential with a choice of activation layer and a callable."""
    return keras.Sequential([
        keras.Input((16, 1)),
        keras.layers.Conv1D(4, 3),
        pg.oneof([keras.layers.ReLU(), keras.layers.Activation("tanh"),
                  lambda t: keras.layers.BatchNormalization()(t)], name="act"),
        keras.layers.GlobalAveragePooling1D(),
        keras.layers.Dense(1),
    ])


@pytest.mark.parametrize("algorithm", ["GDAS", "REINFORCE", "SPOS"])
def test_every_weight_sharing_algorithm_takes_the_function(algorithm, teacher_data):
    from symbolic_automl.algorithms import weight_sharing  # pylint: disable=g-import-not-at-top

    x, y = teacher_data
    kwargs = dict(epochs=1, batch_size=64, loss="mse", steps_per_epoch=4)
    if algorithm == "SPOS":
        kwargs.update(search_trials=3, bn_recalibration_batches=2)
    outcome = getattr(weight_sharing, algorithm)(**kwargs).search(sequential_fn, (x[:512], y[:512]))
    Space(sequential_fn).check_dna(outcome.dna)
    assert list(outcome.history[0]["architecture"]) == ["act"]
    assert np.isfinite(outcome.metrics["val_loss"])


# -- what cannot be relaxed ---------------------------------------------------------

def _int_in_if():
    x = keras.Input((4,))
    if pg.oneof([1, 2], name="depth") == 2:
        x = keras.layers.Dense(4)(x)
    return keras.Model(x, keras.layers.Dense(1)(x))


def _numeric_argument():
    x = sk.Input(shape=(4,))
    return sk.Model(x, sk.layers.Dense(pg.oneof([8, 16], name="units"))(x))


def _floatv():
    x = keras.Input((4,))
    return keras.Model(x, keras.layers.Dropout(pg.floatv(0.0, 0.5, name="rate"))(x))


def _manyof():
    x = keras.Input((4,))
    for layer in pg.manyof(2, [keras.layers.Dense(4), keras.layers.Dense(4, activation="relu"),
                               keras.layers.Dense(4, activation="tanh")], name="stack"):
        x = layer(x)
    return keras.Model(x, x)


def _unnamed():
    x = keras.Input((4,))
    return keras.Model(x, pg.oneof([keras.layers.Dense(2), keras.layers.Dense(2)])(x))


def _nested():
    x = keras.Input((4,))
    op = pg.oneof([lambda: keras.layers.Dense(pg.oneof([2, 4], name="inner")),
                   lambda: keras.layers.Dense(2)], name="outer")
    return keras.Model(x, op(x))


def _class_candidate():
    x = keras.Input((4,))
    return keras.Model(x, pg.oneof([keras.layers.ReLU, keras.layers.Softmax], name="act")(x))


def _not_a_model():
    return {"op": pg.oneof([keras.layers.Dense(2), keras.layers.Dense(3)], name="op")}


@pytest.mark.parametrize("fn, pattern", [
    (_int_in_if, r"pg.oneof named 'depth' chooses among 1 \(int\).*not layers.*Keras layers"),
    (_numeric_argument, r"'units' chooses among 8 \(int\).*symbolic layers"),
    (_floatv, r"pg.floatv named 'rate' .*not a choice among layers.*named pg.oneof"),
    (_manyof, r"pg.manyof named 'stack' picks 2 of 3.*one pg.oneof per pick"),
    (_unnamed, r"unnamed pg.oneof .*has no name.*name='op1'"),
    (_nested, r"pg.oneof named 'inner' is created inside a candidate of the pg.oneof "
              r"named 'outer'"),
    (_class_candidate, r"'act' chooses among <class .*ReLU.*not layers"),
    (_not_a_model, r"must return a Keras model.*returned dict"),
])
def test_what_cannot_be_relaxed_is_a_clear_error(fn, pattern):
    with pytest.raises(errors.SearchSpaceError, match=pattern):
        build_supernet(fn)


def test_candidates_of_different_shapes_fail_while_the_function_wires_them():
    def build():
        x = keras.Input((4,))
        return keras.Model(x, pg.oneof([keras.layers.Dense(2), keras.layers.Dense(3)],
                                       name="head")(x))

    with pytest.raises(ValueError, match="choice 'head' give outputs of different shapes"):
        build_supernet(build)


def test_repeated_labels_are_numbered():
    def build():
        x = keras.Input((4,))
        op = pg.oneof([lambda t: keras.layers.Dense(2)(t), lambda t: keras.layers.Dense(2)(t),
                       keras.layers.Dense(2, activation="relu")], name="head")
        return keras.Model(x, op(x))

    assert build_supernet(build).choice_points[0].candidates == [
        "<lambda> #0", "<lambda> #1", "Dense(2, 'relu')"]
