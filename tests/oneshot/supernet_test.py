"""Supernets built from symbolic spaces: structure, exactness, derivation, errors."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pyglove as pg  # noqa: E402
import pytest  # noqa: E402

from symbolic_automl import errors  # noqa: E402
from symbolic_automl import keras as sk  # noqa: E402
from symbolic_automl.oneshot import (  # noqa: E402
    FunctionalSupernet, SequentialSupernet, build_supernet)
from symbolic_automl.spaces.darts import network as darts_network  # noqa: E402
from symbolic_automl.spaces.darts.supernet import DartsSupernet  # noqa: E402


def _copy_weights(source_variables, model):
    model_vars = model.trainable_variables
    assert [tuple(v.shape) for v in source_variables] == [tuple(v.shape) for v in model_vars]
    for target, source in zip(model_vars, source_variables):
        target.assign(source)


def test_one_candidate_per_choice_computes_the_plain_model():
    space = sk.Sequential([
        sk.Input(shape=(6,)),
        pg.oneof([sk.layers.Dense(5, activation="tanh")]),
        sk.layers.Dense(4, activation="relu"),
        pg.oneof([sk.layers.Dense(3)]),
    ])
    net = build_supernet(space)
    net.build_weights()
    assert len(net.choice_points) == 2
    plain = pg.materialize(space, pg.DNA([0, 0])).to_keras()
    _copy_weights(net.trainable_variables, plain)
    x = np.random.default_rng(0).standard_normal((7, 6)).astype("float32")
    expected = plain(x)
    got = net(x, [keras.ops.ones((1,)), keras.ops.ones((1,))])
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-6, atol=1e-6)


def test_one_hot_mixing_runs_exactly_the_chosen_path(planted):
    space = planted.space()
    net = build_supernet(space)
    assert isinstance(net, SequentialSupernet)
    net.build_weights()
    mixing = net.dna_to_mixing(planted.dna)
    assert [m.tolist() for m in mixing] == [[0.0, 1.0], [1.0, 0.0]]
    plain = pg.materialize(space, planted.dna).to_keras()
    plain.build((None, 16, 1))
    # The plain model's only weights are the conv and dense ones; the supernet's
    # are the same variables (croppings and poolings have none).
    _copy_weights(net.trainable_variables, plain)
    x = np.random.default_rng(1).standard_normal((5, 16, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(net(x, mixing)), np.asarray(plain(x)),
                               rtol=1e-5, atol=1e-6)
    # A uniform mixture is the mean of the two candidates' outputs, so it differs.
    assert not np.allclose(np.asarray(net(x, net.uniform_mixing())), np.asarray(plain(x)))


def test_derive_picks_the_argmax_and_round_trips_with_dna_to_mixing(planted):
    net = build_supernet(planted.space())
    dna = net.derive([np.array([0.2, 0.9]), np.array([3.0, -1.0])])
    assert dna == pg.DNA([1, 0])
    for candidate in (pg.DNA([0, 0]), pg.DNA([0, 1]), pg.DNA([1, 1])):
        assert net.derive(net.dna_to_mixing(candidate)) == candidate


def test_functional_space_with_a_choice_among_layers():
    inputs = sk.Input(shape=(6,))
    hidden = pg.oneof([sk.layers.Dense(4, activation="relu"),
                       sk.layers.Dense(4, activation="tanh")])
    h = sk.layers.Dense(4)(inputs)
    space = sk.Model(inputs, sk.layers.Dense(2)(sk.layers.Concatenate()([inputs, h])))
    space.nodes[1].rebind(layer=hidden)  # make the first Dense a choice point
    net = build_supernet(space)
    assert isinstance(net, FunctionalSupernet)
    assert len(net.choice_points) == 1
    assert net.choice_points[0].num_candidates == 2
    net.build_weights()
    out = net(np.ones((3, 6), "float32"), net.dna_to_mixing(pg.DNA(1)))
    assert tuple(out.shape) == (3, 2)
    assert net.derive([np.array([0.0, 1.0])]) == pg.DNA(1)


def test_numeric_choice_is_a_clear_error():
    space = sk.Sequential([sk.Input(shape=(4,)),
                           sk.layers.Dense(pg.oneof([8, 16])), sk.layers.Dense(1)])
    with pytest.raises(errors.SearchSpaceError, match=r"layers\[1\]\.units.*not a choice among"):
        build_supernet(space)


def test_numeric_choice_inside_a_candidate_is_a_clear_error():
    space = sk.Sequential([sk.Input(shape=(4,)),
                           pg.oneof([sk.layers.Dense(pg.oneof([8, 16])), sk.layers.Dense(8)]),
                           sk.layers.Dense(1)])
    with pytest.raises(errors.SearchSpaceError, match="units"):
        build_supernet(space)


def test_define_by_run_function_gets_a_supernet_and_numeric_choices_a_clear_error():
    # More in define_by_run_test.py.
    def build():
        x = keras.Input((4,))
        return keras.Model(x, pg.oneof([keras.layers.Dense(2), keras.layers.Dense(2, "relu")],
                                       name="head")(x))

    assert [c.key for c in build_supernet(build).choice_points] == ["head"]

    def numeric():
        return pg.oneof([1, 2], name="x")

    with pytest.raises(errors.SearchSpaceError, match="pg.oneof named 'x' chooses among 1"):
        build_supernet(numeric)


def test_candidates_of_different_shapes_are_a_clear_error():
    space = sk.Sequential([sk.Input(shape=(4,)),
                           pg.oneof([sk.layers.Dense(8), sk.layers.Dense(3)]),
                           sk.layers.Dense(1)])
    net = build_supernet(space)
    with pytest.raises(ValueError, match="different shapes"):
        net.build_weights()


def _tiny_darts_space():
    return darts_network.darts_space(channels=4, num_cells=3, num_classes=3,
                                     input_shape=(8, 8, 3))


def test_darts_supernet_structure_and_derivation_rule():
    space = _tiny_darts_space()
    net = build_supernet(space)  # found through spaces/darts/supernet.py
    assert isinstance(net, DartsSupernet)
    assert len(net.choice_points) == 2 * 14
    assert {c.num_candidates for c in net.choice_points} == {8}
    assert net.candidates[0] == "none"
    # A sampled architecture's one-hot mixing derives back to itself.
    for seed in range(3):
        dna = pg.random_dna(net.dna_spec, random_generator=__import__("random").Random(seed))
        assert net.derive(net.dna_to_mixing(dna)) == dna
    # The paper's rule: 'none' never wins, 2 strongest edges per node.
    scores = [np.zeros(8, "float32") for _ in net.choice_points]
    for s in scores:
        s[0] = 10.0  # 'none' strongest everywhere: ignored
    scores[0][4] = 0.9   # normal node 0, edge from state 0: sep_conv_3x3
    scores[1][1] = 0.5   # normal node 0, edge from state 1: max_pool_3x3
    scores[4][3] = 0.8   # normal node 1, edge from state 2 (node 0): skip_connect
    scores[2][7] = 0.7   # normal node 1, edge from state 0: dil_conv_5x5
    pairs = net.genotype_pairs(scores)
    assert pairs["normal"][0] == [("sep_conv_3x3", 0), ("max_pool_3x3", 1)]
    assert pairs["normal"][1] == [("dil_conv_5x5", 0), ("skip_connect", 2)]
    value = pg.materialize(space, net.derive(scores))
    assert [(e.op, e.input) for e in value.normal.nodes[1].edges] == [
        ("dil_conv_5x5", 0), ("skip_connect", 2)]


def test_darts_supernet_forward_is_a_mixture_with_none_as_zero():
    net = build_supernet(_tiny_darts_space())
    net.build_weights()
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype("float32")
    logits = net(x, net.uniform_mixing(), training=False)
    assert tuple(logits.shape) == (2, 3)
    # With every edge on 'none' the cells output zeros: logits are the bias alone.
    none_only = [np.eye(8, dtype="float32")[0] for _ in net.choice_points]
    np.testing.assert_allclose(np.asarray(net(x, none_only, training=False)),
                               np.broadcast_to(np.asarray(net.classifier.bias), (2, 3)),
                               atol=1e-6)


@pytest.mark.slow
def test_darts_search_network_has_the_reference_counts():
    net = build_supernet(darts_network.darts_space(channels=16, num_cells=8))
    net.build_weights()
    assert sum(int(np.prod(v.shape)) for v in net.trainable_variables) == 1_930_618
    assert sum(c.num_candidates for c in net.choice_points) == 2 * 14 * 8
