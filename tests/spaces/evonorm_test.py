"""EvoNorm: reference values, modes, the graph space, formulas, checks, mutation, selection."""

import json
import os
import random
import subprocess
import sys
import textwrap

import numpy as np
import pyglove as pg
import pytest

import keras
from symbolic_automl.spaces import evonorm
from symbolic_automl.spaces.evonorm import checks
from symbolic_automl.spaces.evonorm.graph import LayerGraph, Node
from symbolic_automl.keras.norm_activation import NormActivation

X = (((np.arange(256).reshape(2, 4, 4, 8) % 7) - 3.0) / 2.0).astype("float32")
MOVING_VAR_B0 = [0.997559, 0.99209, 0.99209, 0.997559, 1.005249, 1.007812, 1.005249, 0.997559]


def group_std(x, groups, eps=1e-5):
    b, h, w, c = x.shape
    g = x.reshape(b, h, w, groups, c // groups).astype("float64")
    std = np.sqrt(g.var(axis=(1, 2, 4), keepdims=True) + eps)
    return np.broadcast_to(std, g.shape).reshape(x.shape)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# ------------------------------------------------------------ reference layers


def test_s0_reference_values():
    out = np.asarray(evonorm.EvoNormS0(groups=4)(X))
    assert out.sum() == pytest.approx(54.926624, abs=1e-4)
    np.testing.assert_allclose(out, X * sigmoid(X) / group_std(X, 4), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        out[0, 0, 0], [-0.273637, -0.26894, -0.200025, 0, 0.311228, 0.731055, 1.163438, -0.259598],
        atol=1e-5)
    # groups=32 on C=8 falls back to 8 groups, as the reference's loop does.
    assert float(np.sum(evonorm.EvoNormS0()(X))) == pytest.approx(54.911396, abs=1e-4)
    assert evonorm.fallback_groups(32, 8) == 8 and evonorm.fallback_groups(32, 12) == 12
    assert evonorm.fallback_groups(5, 8) == 4 and evonorm.fallback_groups(3, 7) == 1


def test_b0_reference_values_and_modes():
    layer = evonorm.EvoNormB0()
    out = np.asarray(layer(X, training=True))
    assert out.sum() == pytest.approx(-59.580578, abs=1e-4)
    np.testing.assert_allclose(layer.moving_variance.numpy(), MOVING_VAR_B0, atol=1e-6)
    # Inference uses the moving variance, not this batch's.
    var = np.asarray(layer.moving_variance.numpy(), "float64")
    inst = np.sqrt(X.var(axis=(1, 2), keepdims=True) + 1e-5)
    expected = X / np.maximum(np.sqrt(var + 1e-5), X + inst)
    np.testing.assert_allclose(np.asarray(layer(X, training=False)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.numpy(), MOVING_VAR_B0, atol=1e-6)


def test_batch_independence():
    rng = np.random.RandomState(0)
    other = rng.normal(size=(5, 4, 4, 8)).astype("float32")
    mixed = np.concatenate([X[:1], other])
    s0 = evonorm.EvoNormS0(groups=4)
    b0 = evonorm.EvoNormB0()
    for training in (True, False):
        np.testing.assert_allclose(np.asarray(s0(X, training=training))[0],
                                   np.asarray(s0(mixed, training=training))[0], atol=1e-6)
    np.testing.assert_allclose(np.asarray(b0(X))[0], np.asarray(b0(mixed))[0], atol=1e-6)
    # ... while B0 in training depends on the batch, as it should.
    assert not np.allclose(np.asarray(b0(X, training=True))[0],
                           np.asarray(b0(mixed, training=True))[0], atol=1e-3)
    graph = evonorm.evonorm_s0(groups=4).keras_layer()
    np.testing.assert_allclose(np.asarray(graph(X, training=True))[0],
                               np.asarray(graph(mixed, training=True))[0], atol=1e-6)


def test_nonlinearity_false_is_the_affine_map():
    for layer in (evonorm.EvoNormB0(nonlinearity=False), evonorm.EvoNormS0(nonlinearity=False)):
        layer.build(X.shape)
        layer.gamma.assign(np.arange(8, dtype="float32"))
        layer.beta.assign(np.ones(8, "float32"))
        np.testing.assert_allclose(np.asarray(layer(X, training=True)), X * np.arange(8) + 1)
        assert "v" not in [w.name for w in layer.weights]
        assert len(layer.weights) == 2
    assert np.all(evonorm.EvoNormS0(init_zero=True)(X).numpy() == 0.0)


def test_layers_round_trip_through_config_and_saving(tmp_path):
    inputs = keras.Input((4, 4, 8))
    y = evonorm.EvoNormB0(name="b0")(inputs)
    y = evonorm.EvoNormS0(groups=4, name="s0")(y)
    y = evonorm.evonorm_b0()(y, name="graph_b0")
    model = keras.Model(inputs, y)
    model(X, training=True)  # Moves the moving statistics off their initial values.
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded(X).numpy(), model(X).numpy(), rtol=1e-6)
    assert loaded.get_layer("graph_b0").get_config()["nodes"] == evonorm.evonorm_b0().node_list()


# ----------------------------------------------------------------- graph forms


def _mode_pair(a, b, x, atol=1e-5):
    for training in (True, False, True, False):
        np.testing.assert_allclose(np.asarray(a(x, training=training)),
                                   np.asarray(b(x, training=training)), atol=atol, rtol=1e-5)


def test_graph_forms_match_the_standalone_layers_in_both_modes():
    rng = np.random.RandomState(1)
    x = rng.normal(size=(4, 5, 5, 8)).astype("float32") * 2 + 0.5
    for groups in (4, 32):
        _mode_pair(evonorm.evonorm_s0(groups=groups).keras_layer(),
                   evonorm.EvoNormS0(groups=groups), x)
    graph, layer = evonorm.evonorm_b0().keras_layer(), evonorm.EvoNormB0()
    _mode_pair(graph, layer, x)
    np.testing.assert_allclose(graph.moving[0].numpy(), layer.moving_variance.numpy(), atol=1e-6)
    # Padded with unused nodes (a point of the 10-node space): the same function.
    _mode_pair(evonorm.evonorm_b0(num_nodes=10).keras_layer(), evonorm.EvoNormB0(), x)


def test_bn_relu_graph_is_batch_norm_then_relu():
    rng = np.random.RandomState(2)
    x = rng.normal(size=(6, 3, 3, 4)).astype("float32") * 3 - 1
    inputs = keras.Input((3, 3, 4))
    bn = keras.Model(inputs, keras.layers.ReLU()(
        keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)(inputs)))
    _mode_pair(evonorm.bn_relu().keras_layer(), bn, x)


def test_each_primitive_computes_its_formula():
    rng = np.random.RandomState(3)
    x = rng.normal(size=(3, 4, 4, 8)).astype("float32") + 0.3
    x64 = x.astype("float64")
    inst = x64.var(axis=(1, 2), keepdims=True)
    batch = x64.var(axis=(0, 1, 2), keepdims=True)
    expected = {
        "add": x64 + 1.0, "mul": x64 * 1.0, "div": x64 / 1.0, "max": np.maximum(x64, 1.0),
        "neg": -x64, "sigmoid": sigmoid(x64), "tanh": np.tanh(x64), "exp": np.exp(x64),
        "log": np.sign(x64) * np.log(np.abs(x64)), "abs": np.abs(x64), "square": x64 ** 2,
        "sqrt": np.sign(x64) * np.sqrt(np.abs(x64)),
        "batch_mean": np.broadcast_to(x64.mean(axis=(0, 1, 2), keepdims=True), x.shape),
        "batch_std": np.broadcast_to(np.sqrt(batch + 1e-5), x.shape),
        "instance_mean": np.broadcast_to(x64.mean(axis=(1, 2), keepdims=True), x.shape),
        "instance_std": np.broadcast_to(np.sqrt(inst + 1e-5), x.shape),
        "group_mean": np.broadcast_to(
            x64.reshape(3, 4, 4, 2, 4).mean(axis=(1, 2, 4), keepdims=True),
            (3, 4, 4, 2, 4)).reshape(x.shape),
        "group_std": group_std(x, 2),
    }
    assert set(expected) == set(evonorm.ALL_OPS)
    for op, value in expected.items():
        # Binary ops read (x, v1); v1 starts at 1.
        layer = LayerGraph(nodes=[Node(op=op, inputs=[0, 3])], groups=2).keras_layer()
        np.testing.assert_allclose(np.asarray(layer(x, training=True)), value, rtol=2e-5,
                                   atol=1e-5, err_msg=op)


def test_batch_aggregates_keep_moving_averages():
    layer = LayerGraph(nodes=[Node(op="batch_mean", inputs=[0, 0]),
                              Node(op="neg", inputs=[4, 0]), Node(op="add", inputs=[0, 5])]
                       ).keras_layer()
    y = np.asarray(layer(X, training=True))
    np.testing.assert_allclose(y, X - X.mean(axis=(0, 1, 2)), atol=1e-6)
    np.testing.assert_allclose(layer.moving[0].numpy(), 0.1 * X.mean(axis=(0, 1, 2)), atol=1e-6)
    np.testing.assert_allclose(np.asarray(layer(X, training=False)),
                               X - 0.1 * X.mean(axis=(0, 1, 2)), atol=1e-6)


def test_only_used_parameters_are_created():
    names = lambda g: sorted(w.path.split("/")[-1] for w in _built(g).weights)  # noqa: E731
    assert names(evonorm.evonorm_s0(num_nodes=10)) == ["beta", "gamma", "v1"]
    assert names(evonorm.evonorm_b0()) == ["beta", "gamma", "moving_variance_0", "v1"]
    assert names(evonorm.bn_relu()) == ["beta", "gamma", "moving_mean_0", "moving_variance_3",
                                        "v0", "v1"]


def _built(graph):
    layer = graph.keras_layer()
    layer.build(X.shape)
    return layer


# ------------------------------------------------------------------ the space


def test_space_holds_the_known_layers_as_points():
    space = evonorm.graph_space(num_nodes=10, groups=4)
    spec = pg.dna_spec(space)
    assert len(spec.decision_points) == 30
    assert [len(d.candidates) for d in spec.decision_points[:6]] == [18, 4, 4, 18, 5, 5]
    assert evonorm.DEFAULT_NUM_NODES == 10
    for make in (evonorm.bn_relu, evonorm.evonorm_b0, evonorm.evonorm_s0):
        graph = make(num_nodes=10, groups=4)
        dna = pg.template(space).encode(graph)
        assert pg.eq(pg.materialize(space, dna), graph)
        assert isinstance(graph, NormActivation)
    with pytest.raises(ValueError, match="needs 8 intermediate nodes"):
        evonorm.bn_relu(num_nodes=6)


def test_invalid_graphs_are_refused_with_the_bad_value():
    with pytest.raises(ValueError, match="Node 0 .* reads node 4"):
        LayerGraph(nodes=[Node(op="add", inputs=[0, 4])])
    with pytest.raises(ValueError, match="Unknown EvoNorm primitive 'relu'"):
        Node(op="relu", inputs=[0, 0])
    with pytest.raises(ValueError, match="num_nodes must be a positive int"):
        evonorm.graph_space(num_nodes=0)
    with pytest.raises(ValueError, match="hyper-values"):
        evonorm.graph_space(3).keras_layer()


def test_formulas():
    assert str(evonorm.evonorm_s0()) == "x·σ(v1·x) / s_{w,h,c/g}(x)"
    assert str(evonorm.evonorm_b0(num_nodes=10)) == "x / max(s_{b,w,h}(x), v1·x + s_{w,h}(x))"
    assert str(evonorm.bn_relu()) == "max((x + -μ_{b,w,h}(x)) / s_{b,w,h}(x)·v1 + v0, 0)"
    graph = LayerGraph(nodes=[Node(op="mul", inputs=[0, 3]), Node(op="add", inputs=[0, 2]),
                              Node(op="div", inputs=[5, 4]), Node(op="square", inputs=[6, 0]),
                              Node(op="neg", inputs=[7, 0])])
    assert graph.formula() == "-((x + v0) / (x·v1))²"


# ------------------------------------------------------------------ the checks


def test_structural_checks():
    probe = checks.Probe()
    no_x = LayerGraph(nodes=[Node(op="tanh", inputs=[3, 0])])
    assert probe.check(no_x)[0] == checks.NO_INPUT
    cancels = LayerGraph(nodes=[Node(op="neg", inputs=[0, 0]), Node(op="add", inputs=[0, 4])])
    assert cancels.depends_on_input() and probe.check(cancels)[0] == checks.NO_INPUT
    assert probe.check(LayerGraph(nodes=[Node(op="div", inputs=[0, 1])]))[0] == checks.NON_FINITE
    # Finite with random v0, but x / v0 is inf where networks start (v0 = 0).
    stage, reason, _ = probe.check(LayerGraph(nodes=[Node(op="div", inputs=[0, 2])]))
    assert stage == checks.NON_FINITE and "initial v0 = 0" in reason
    assert probe.check(LayerGraph(nodes=[Node(op="exp", inputs=[0, 0]),
                                         Node(op="exp", inputs=[4, 0]),
                                         Node(op="exp", inputs=[5, 0])]))[0] == checks.NON_FINITE
    for make in (evonorm.bn_relu, evonorm.evonorm_b0, evonorm.evonorm_s0):
        assert probe.check(make(groups=4))[0] is None


def test_functional_duplicates_are_found():
    probe, index = checks.Probe(), checks.SignatureIndex()
    _, _, s0 = probe.check(evonorm.evonorm_s0(groups=4))
    index.add(7, s0)
    # The same function with commuted products and unused nodes: a duplicate.
    swapped = LayerGraph(nodes=[Node(op="exp", inputs=[0, 0]), Node(op="mul", inputs=[0, 3]),
                                Node(op="sigmoid", inputs=[5, 0]), Node(op="mul", inputs=[6, 0]),
                                Node(op="group_std", inputs=[0, 0]),
                                Node(op="div", inputs=[7, 8])], groups=4)
    assert index.find(probe.check(swapped)[2]) == 7
    # x·σ(x) / s differs from x·σ(v1·x) / s once v1 is not 1: not a duplicate.
    no_v1 = LayerGraph(nodes=[Node(op="sigmoid", inputs=[0, 0]), Node(op="mul", inputs=[0, 4]),
                              Node(op="group_std", inputs=[0, 0]), Node(op="div", inputs=[5, 6])],
                       groups=4)
    assert index.find(probe.check(no_v1)[2]) is None
    # Another group count is another function.
    assert index.find(probe.check(evonorm.evonorm_s0(groups=2))[2]) is None


def _anchor_model(graph):
    keras.utils.set_random_seed(0)
    return evonorm.anchors.tiny_anchors()[0].build(graph)


def test_stability_check_rejects_an_unstable_layer_and_passes_known_ones():
    rng = np.random.RandomState(0)
    x = rng.normal(size=(32, 8, 8, 1)).astype("float32")
    y = rng.randint(0, 10, size=32)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    # x / v1 is harmless at v1 = 1, but a small perturbation drives some v1 to 0.
    unstable = LayerGraph(nodes=[Node(op="div", inputs=[0, 3])], groups=4)
    norms = {str(g): checks.adversarial_gradient_norm(_anchor_model(g), x, y, loss)
             for g in (unstable, evonorm.evonorm_s0(groups=4), evonorm.evonorm_b0(),
                       evonorm.bn_relu())}
    assert norms.pop("x / v1") > 1e3, norms
    assert all(n < 1e3 for n in norms.values()), norms
    # The model's variables are restored.
    model = _anchor_model(evonorm.evonorm_b0())
    before = [v.numpy().copy() for v in model.variables]
    checks.adversarial_gradient_norm(model, x, y, loss)
    for a, b in zip(before, model.variables):
        np.testing.assert_array_equal(a, b.numpy())


# --------------------------------------------------------- mutation, selection


def test_node_mutation_keeps_graphs_valid_and_changes_one_live_node():
    space = evonorm.graph_space(num_nodes=6, groups=4)
    algo = evonorm.GraphEvolution(seed=0, population_size=4, tournament_size=2)
    algo.setup(pg.dna_spec(space))
    genome, rng = algo.genome, random.Random(0)
    changed_kinds = set()
    for _ in range(60):
        parent = genome.sample(rng)
        child = algo.mutate(parent, rng)
        graph = pg.materialize(space, genome.to_dna(child))   # Valid: _on_bound checks.
        assert isinstance(graph, LayerGraph)
        diff = {k for k in child if child[k] != parent[k]}
        nodes = {k.split("]")[0] for k in diff}
        assert len(nodes) == 1, diff
        node = int(next(iter(nodes)).split("[")[1])
        assert node in algo.live_nodes(parent)
        changed_kinds.add(tuple(sorted(k.split(".")[1][:2] for k in diff)))
    assert ("op",) in changed_kinds and ("in",) in changed_kinds
    # PyGlove's own mutator works on the same space.
    dna = pg.evolution.mutators.Uniform(seed=1).mutate(
        genome.to_dna(genome.sample(rng)))
    assert isinstance(pg.materialize(space, dna.use_spec(pg.dna_spec(space))), LayerGraph)


def _selections(algo_class, rewards, draws=300):
    space = evonorm.graph_space(num_nodes=4)
    algo = algo_class(seed=3, population_size=len(rewards), tournament_size=4)
    algo.setup(pg.dna_spec(space))
    seen = []
    original = algo._select_parent

    def record(sample, rng):
        parent = original(sample, rng)
        seen.append((parent, sample))
        return parent

    algo._select_parent = record
    for reward in rewards:
        algo.feedback(algo.propose_assignment(), reward)
    for _ in range(draws):
        algo.propose_assignment()
    return seen


def _dominated_choices(seen):
    from symbolic_automl.algorithms import dominates  # pylint: disable=g-import-not-at-top

    count = 0
    for parent, sample in seen:
        parent_reward = next(r for a, r in sample if a is parent)
        count += any(dominates(r, parent_reward) for _, r in sample)
    return count


def test_pareto_tournament_picks_only_non_dominated_parents():
    rng = np.random.RandomState(0)
    rewards = [tuple(float(v) for v in rng.uniform(size=3)) for _ in range(12)]
    seen = _selections(evonorm.GraphEvolution, rewards)
    assert len(seen) >= 300 and _dominated_choices(seen) == 0
    # Parents spread over the fronts' members, not only a single best one.
    assert len({id(p) for p, _ in seen}) > 3

    class PicksAny(evonorm.GraphEvolution):
        def _select_parent(self, sample, rng):
            return rng.choice(sample)[0]

    assert _dominated_choices(_selections(PicksAny, rewards)) > 50


# ------------------------------------------------------------------ the search


def test_result_shows_formulas_and_per_anchor_accuracies():
    from symbolic_automl import trial as trial_lib  # pylint: disable=g-import-not-at-top

    def trial(i, status, metrics, reward=None):
        return trial_lib.Trial(id=i, dna=pg.DNA(0), status=status, metrics=metrics, reward=reward)

    trials = [
        trial(1, "completed", {"acc_a": 0.9, "acc_b": 0.5, "formula": "x·σ(x)"}, (0.9, 0.5)),
        trial(2, "completed", {"acc_a": 0.8, "acc_b": 0.4, "formula": "tanh(x)"}, (0.8, 0.4)),
        trial(3, "completed", {"acc_a": 0.3, "acc_b": 0.7, "formula": "|x|"}, (0.3, 0.7)),
        trial(4, "rejected", {"stage": "quality"}), trial(5, "rejected", {"stage": "duplicate"}),
        trial(6, "rejected", {"stage": "quality"}),
    ]
    result = evonorm.searching.EvoNormResult(trials, ["acc_a", "acc_b"])
    assert [t.id for t in result.pareto_front()] == [1, 3]
    table = result.pareto_table()
    assert "x·σ(x)" in table and "|x|" in table and "tanh(x)" not in table
    assert "0.900" in table and "0.700" in table
    assert result.rejections() == {"no_input": 0, "non_finite": 0, "duplicate": 1,
                                   "stability": 0, "quality": 2}


def test_evaluator_restores_signatures_on_resume():
    from symbolic_automl import export, trial as trial_lib  # pylint: disable=g-import-not-at-top

    data = evonorm.searching.load_data("digits", 8, limit=64)
    evaluator = evonorm.EvoNormEvaluator(evonorm.anchors.tiny_anchors(), data)
    old = trial_lib.Trial(id=4, dna=pg.DNA(0), status="rejected",
                          model_json=export.dumps(evonorm.evonorm_s0(groups=4)),
                          metrics={"stage": "quality"})
    structural = trial_lib.Trial(id=5, dna=pg.DNA(0), status="rejected",
                                 model_json=export.dumps(evonorm.bn_relu()),
                                 metrics={"stage": "non_finite"})
    assert evaluator.restore([old, structural]) == 1
    with pytest.raises(evonorm.searching.symbolic_automl.RejectedError,
                       match="duplicate: computes the same function as trial 4") as e:
        evaluator(evonorm.evonorm_s0(num_nodes=7, groups=4), None)
    assert e.value.metrics["stage"] == "duplicate"


def test_evaluator_rejects_an_unstable_layer_at_the_stability_stage(monkeypatch):
    data = evonorm.searching.load_data("digits", 8, limit=64)
    mobilenet = [a for a in evonorm.anchors.tiny_anchors() if a.name == "mobilenet"]
    evaluator = evonorm.EvoNormEvaluator(mobilenet, data)
    clears = []
    real_clear = keras.backend.clear_session
    monkeypatch.setattr(keras.backend, "clear_session",
                        lambda **kw: clears.append(kw) or real_clear(**kw))
    # A structural rejection builds no model: no session to clear (a clear_session
    # with its garbage collection per candidate took 40% of a search's time).
    for _ in range(3):
        with pytest.raises(evonorm.searching.symbolic_automl.RejectedError, match="no_input"):
            evaluator(LayerGraph(nodes=[Node(op="tanh", inputs=[3, 0])], groups=4), None)
    assert clears == []
    # x / v1: finite at v1 = 1, but a small perturbation of v1 blows the gradient up.
    unstable = LayerGraph(nodes=[Node(op="div", inputs=[0, 3])], groups=4)
    with pytest.raises(evonorm.searching.symbolic_automl.RejectedError,
                       match=r"stability: adversarial gradient norm \S+ > 1000 in anchor "
                             "mobilenet") as e:
        evaluator(unstable, None)
    metrics = e.value.metrics
    assert metrics["stage"] == "stability" and metrics["grad_norm_mobilenet"] > 1e3
    assert "quality_acc_mobilenet" not in metrics and metrics["formula"] == "x / v1"
    assert metrics["build_seconds"] > 0 and metrics["stability_seconds"] > 0
    assert metrics["train_seconds"] == 0.0
    assert len(clears) == 1  # before this first build
    # The next candidate that builds models clears the session of this one.
    with pytest.raises(evonorm.searching.symbolic_automl.RejectedError, match="stability"):
        evaluator(LayerGraph(nodes=[Node(op="div", inputs=[0, 3]), Node(op="neg", inputs=[4, 0])],
                             groups=4), None)
    assert len(clears) == 2


@pytest.mark.slow
def test_quality_check_rejects_a_layer_that_cannot_learn_and_passes_known_ones():
    data = evonorm.searching.load_data("digits", 8)
    evaluator = evonorm.EvoNormEvaluator(evonorm.anchors.tiny_anchors(), data, train_steps=100)
    constant = LayerGraph(nodes=[Node(op="batch_mean", inputs=[0, 0])], groups=4)
    with pytest.raises(evonorm.searching.symbolic_automl.RejectedError, match="quality") as e:
        evaluator(constant, None)
    assert e.value.metrics["quality_acc_resnet"] < 0.2
    for graph in (evonorm.evonorm_s0(groups=4), evonorm.evonorm_b0(), evonorm.bn_relu()):
        metrics = evaluator(graph, None)
        assert all(metrics[f"acc_{a}"] >= 0.2 for a in ("resnet", "mobilenet", "efficientnet"))


@pytest.mark.slow
def test_search_records_candidates_and_resumes(tmp_path):
    data = evonorm.searching.load_data("digits", 8, limit=256)
    anchors = evonorm.anchors.tiny_anchors()[:2]
    options = dict(population_size=2, tournament_size=2, num_nodes=4, groups=4,
                   quality_steps=20, train_steps=20, quality_threshold=0.0, seed=1)
    first = evonorm.search(anchors, data, max_trials=2, root_dir=str(tmp_path), **options)
    assert first.count("completed") == 2
    resumed = evonorm.search(anchors, data, max_trials=3, root_dir=str(tmp_path), **options)
    assert resumed.count("completed") == 3
    assert [t.id for t in resumed.trials[:len(first.trials)]] == [t.id for t in first.trials]
    for t in resumed.trials:
        assert isinstance(t.model, LayerGraph) and t.metrics["formula"] == t.model.formula()
        if t.status == "completed":
            assert set(t.reward) <= {t.metrics["acc_resnet"], t.metrics["acc_mobilenet"]}
        else:
            assert t.status == "rejected" and t.metrics["stage"] in checks.STAGES


@pytest.mark.slow
def test_layers_under_jax():
    code = textwrap.dedent("""
        import json, numpy as np
        from symbolic_automl.spaces import evonorm
        X = (((np.arange(256).reshape(2, 4, 4, 8) % 7) - 3.0) / 2.0).astype("float32")
        b0 = evonorm.EvoNormB0(); b0_sum = float(np.sum(b0(X, training=True)))
        g = evonorm.evonorm_b0().keras_layer(); g_sum = float(np.sum(g(X, training=True)))
        s0 = float(np.sum(evonorm.EvoNormS0(groups=4)(X)))
        s0g = float(np.sum(evonorm.evonorm_s0(groups=4).keras_layer()(X)))
        print(json.dumps([b0_sum, g_sum, s0, s0g, b0.moving_variance.numpy().tolist(),
                          np.asarray(g.moving[0].value).tolist()]))
    """)
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    b0_sum, g_sum, s0, s0g, var, gvar = json.loads(out.stdout.strip().splitlines()[-1])
    assert b0_sum == pytest.approx(-59.580578, abs=1e-4) and g_sum == pytest.approx(b0_sum, abs=1e-4)
    assert s0 == pytest.approx(54.926624, abs=1e-4) and s0g == pytest.approx(s0, abs=1e-4)
    np.testing.assert_allclose(var, MOVING_VAR_B0, atol=1e-6)
    np.testing.assert_allclose(gvar, MOVING_VAR_B0, atol=1e-6)


def test_paper_anchor_families_take_a_layer_graph():
    anchors = evonorm.anchors.paper_anchors(input_shape=(16, 16, 1), names=("preact_resnet",))
    model = anchors[0].build(evonorm.evonorm_s0(groups=4))
    graph_layers = [l for l in model.layers if isinstance(l, evonorm.EvoNormGraph)]
    assert graph_layers and not any(
        isinstance(l, keras.layers.BatchNormalization) for l in model.layers)
    assert model(np.zeros((2, 16, 16, 1), "float32")).shape == (2, 10)


def test_held_out_network_takes_the_layer_at_every_conv():
    from symbolic_automl.keras import replace_norm_activation  # pylint: disable=g-import-not-at-top

    network = evonorm.anchors.held_out_network()
    default = network.to_keras()
    batch_norms = sum(isinstance(l, keras.layers.BatchNormalization) for l in default.layers)
    # Stem + per cell: the 1x1 and three 3x3 conv vertices and the input projections.
    assert batch_norms > 8
    swapped = replace_norm_activation(network, evonorm.evonorm_s0(groups=4)).to_keras()
    graphs = [l for l in swapped.layers if isinstance(l, evonorm.EvoNormGraph)]
    assert len(graphs) == batch_norms
    assert not any(isinstance(l, keras.layers.BatchNormalization) for l in swapped.layers)
    assert swapped.output_shape == default.output_shape == (None, 10)
    # Not one of the search's anchors.
    assert swapped.name not in {a.name for a in evonorm.anchors.tiny_anchors()}
