"""NAS-Bench-101 space: pruning and infeasible reasons, vertex channels, the paper's
parameter count, the isomorphism hash, samples that train, and search integration."""

import itertools
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pyglove as pg  # noqa: E402
import pytest  # noqa: E402

import symbolic_automl as sa  # noqa: E402
from symbolic_automl import errors  # noqa: E402
from symbolic_automl.keras import BatchNormActivation, NormActivation  # noqa: E402
from symbolic_automl.keras import replace_norm_activation  # noqa: E402
from symbolic_automl.spaces import nasbench101 as nb  # noqa: E402

C3, C1, MP = nb.CONV3X3, nb.CONV1X1, nb.MAXPOOL3X3

# The Inception-like module of the NAS-Bench-101 README.
INCEPTION_MATRIX = [[0, 1, 1, 1, 0, 1, 0],
                    [0, 0, 0, 0, 0, 0, 1],
                    [0, 0, 0, 0, 0, 0, 1],
                    [0, 0, 0, 0, 1, 0, 0],
                    [0, 0, 0, 0, 0, 0, 1],
                    [0, 0, 0, 0, 0, 0, 1],
                    [0, 0, 0, 0, 0, 0, 0]]
INCEPTION_OPS = ["input", C1, C3, C3, C3, MP, "output"]


def _cell(matrix, ops):
    return nb.NASBench101Cell.from_spec(matrix, ops)


def _trainable(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def _samples(n, seed=0):
    return list(pg.random_sample(nb.small_nasbench101_space(), num_examples=n, seed=seed))


def _feasible(network):
    try:
        network.check()
        return True
    except errors.InfeasibleError:
        return False


# ------------------------------------------------------------- the space


def test_space_has_21_edge_bits_and_5_ops():
    space = nb.nasbench101_space()
    spec = pg.dna_spec(space)
    assert len(spec.decision_points) == 26
    assert space.stem_channels == 128 and space.num_stacks == 3
    assert space.cells_per_stack == 3 and space.input_shape == (32, 32, 3)
    for sample in pg.random_sample(space, num_examples=5, seed=0):
        matrix = np.array(sample.cell.matrix)
        assert matrix.shape == (7, 7)
        assert not np.tril(matrix).any()
        assert set(sample.cell.ops) <= set(nb.OPS)


def test_space_is_an_ordinary_symbolic_object_users_can_restrict():
    space = nb.small_nasbench101_space()
    # Fix every op to a 3x3 conv: only the 21 edge bits remain to search.
    restricted = space.clone(deep=True).rebind({"cell.ops": [C3] * 5})
    assert len(pg.dna_spec(restricted).decision_points) == 21
    # Or search over fewer ops.
    two_ops = nb.small_nasbench101_space(ops=[C3, MP])
    for sample in pg.random_sample(two_ops, num_examples=10, seed=0):
        assert set(sample.cell.ops) <= {C3, MP}


def test_bad_space_arguments_are_named():
    with pytest.raises(errors.SearchSpaceError, match="conv5x5"):
        nb.nasbench101_space(ops=["conv5x5"])
    with pytest.raises(errors.SearchSpaceError, match="num_vertices"):
        nb.nasbench101_space(num_vertices=1)


# ------------------------------------------------- pruning and infeasibility


def test_vertices_off_every_path_are_pruned():
    # Vertex 2 has no input; vertex 4 does not reach the output.
    matrix = np.zeros((7, 7), int)
    for i, j in [(0, 1), (1, 6), (2, 3), (3, 6), (0, 3), (0, 4), (1, 4)]:
        matrix[i, j] = 1
    cell = _cell(matrix.tolist(), ["input", C3, C1, C3, MP, C1, "output"])
    pruned, labels = cell.pruned()
    assert labels == ["input", C3, C3, "output"]
    np.testing.assert_array_equal(pruned, [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1],
                                           [0, 0, 0, 0]])
    assert cell.num_edges() == 4


def test_no_path_is_infeasible_with_a_reason():
    matrix = np.zeros((7, 7), int)
    matrix[0, 1] = matrix[2, 6] = 1
    cell = _cell(matrix.tolist(), ["input"] + [C3] * 5 + ["output"])
    with pytest.raises(errors.InfeasibleError, match="no path from the input to the output"):
        cell.check()
    with pytest.raises(errors.InfeasibleError, match="no path"):
        nb.NASBench101Network(cell).to_keras()


def test_too_many_edges_after_pruning_is_infeasible_with_the_count():
    matrix = np.triu(np.ones((7, 7), int), 1)  # 21 edges, none pruned
    cell = _cell(matrix.tolist(), ["input"] + [C3] * 5 + ["output"])
    with pytest.raises(errors.InfeasibleError, match="21 edges after pruning, at most 9"):
        cell.check()
    # Edges of pruned vertices do not count: 12 edges, 3 of them on a dead vertex.
    matrix = np.zeros((7, 7), int)
    for i, j in [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (0, 6), (0, 2), (1, 3)]:
        matrix[i, j] = 1
    dead_ops = ["input"] + [C3] * 5 + ["output"]
    assert _cell(matrix.tolist(), dead_ops).num_edges() == 9
    cell_with_cap = nb.NASBench101Cell.from_spec(matrix.tolist(), dead_ops, max_edges=8)
    with pytest.raises(errors.InfeasibleError, match="9 edges after pruning, at most 8"):
        cell_with_cap.check()


def test_malformed_cells_name_the_problem():
    lower = np.zeros((7, 7), int)
    lower[0, 6] = lower[3, 1] = 1
    with pytest.raises(errors.InfeasibleError, match=r"upper-triangular.*\(3, 1\)"):
        _cell(lower.tolist(), ["input"] + [C3] * 5 + ["output"]).check()
    with pytest.raises(errors.InfeasibleError, match="unknown ops"):
        _cell(INCEPTION_MATRIX, ["input", C1, C3, "conv5x5", C3, MP, "output"]).check()
    with pytest.raises(errors.InfeasibleError, match="7x7 adjacency matrix"):
        nb.NASBench101Cell(matrix=[[0, 1], [0, 0]], ops=[C3] * 5).check()
    with pytest.raises(errors.SearchSpaceError, match="hyper-values"):
        nb.small_nasbench101_space().cell.check()


def test_random_samples_mix_feasible_and_infeasible_with_specific_reasons():
    reasons = []
    for network in _samples(60):
        try:
            network.check()
        except errors.InfeasibleError as e:
            reasons.append(str(e))
    assert 0 < len(reasons) < 60
    for reason in reasons:
        assert ("no path from the input to the output" in reason
                or "edges after pruning, at most 9" in reason), reason


# ----------------------------------------------------------- the network


def test_vertex_channels_follow_the_reference_rules():
    # Vertices 2, 3, 4 feed the output: 128 = 43 + 43 + 42 (the remainder goes to the
    # first ones); vertex 1 feeds only vertex 2, so it takes vertex 2's channels.
    matrix = np.zeros((6, 6), int)
    for i, j in [(0, 1), (1, 2), (2, 5), (0, 3), (3, 5), (0, 4), (4, 5)]:
        matrix[i, j] = 1
    assert nb.compute_vertex_channels(64, 128, matrix) == [64, 43, 43, 43, 42, 128]
    assert nb.compute_vertex_channels(64, 128, np.array([[0, 1], [0, 0]])) == [64, 128]


def test_paper_network_parameter_count_for_the_inception_module():
    network = nb.NASBench101Network(_cell(INCEPTION_MATRIX, INCEPTION_OPS))
    model = network.to_keras()
    # By hand, with C the stack's channels and I its first cell's input channels; the
    # 4 vertices into the output get C/4 channels; vertex 3 (feeding vertex 4) too.
    # A 1x1 projection per input edge (4), a 1x1 conv, three 3x3 convs; BN adds 2*c.
    def cell(i, c):
        v = c // 4
        return 4 * (i * v + 2 * v) + (v * v + 2 * v) + 3 * (9 * v * v + 2 * v)
    stem = 3 * 3 * 3 * 128 + 2 * 128
    stacks = sum(cell(i, c) + 2 * cell(c, c)
                 for i, c in [(128, 128), (128, 256), (256, 512)])
    head = 512 * 10 + 10
    assert _trainable(model) == stem + stacks + head == 2_694_282
    assert model.output_shape == (None, 10)
    assert model.layers[-1].get_config()["activation"] == "softmax"


def test_odd_channel_split_truncates_and_trains():
    # 3 vertices into a 16-channel output: 6, 5, 5 channels; vertex 1 (6 channels)
    # also feeds vertex 2 (5 channels) and must be truncated by one channel.
    matrix = np.zeros((7, 7), int)
    for i, j in [(0, 1), (1, 2), (1, 6), (2, 6), (0, 3), (3, 6)]:
        matrix[i, j] = 1
    cell = _cell(matrix.tolist(), ["input", C3, MP, C1, C3, C3, "output"])
    network = nb.small_nasbench101_space().sym_clone(deep=True).rebind(cell=cell)
    model = network.to_keras()
    truncations = [l for l in model.layers if isinstance(l, nb.ChannelTruncation)]
    assert [l.channels for l in truncations] == [5]
    x = np.random.RandomState(0).rand(8, 8, 8, 1).astype("float32")
    model.compile("adam", "sparse_categorical_crossentropy")
    loss = model.train_on_batch(x, np.arange(8) % 10)
    assert np.isfinite(loss)


def test_feasible_random_samples_build_and_train_one_step_on_tf(tmp_path):
    x = np.random.RandomState(0).rand(16, 8, 8, 1).astype("float32")
    y = np.arange(16) % 10
    trained = 0
    for network in _samples(12, seed=3):
        if not _feasible(network):
            continue
        model = network.to_keras()
        model.compile("adam", "sparse_categorical_crossentropy")
        before = [w.copy() for w in model.get_weights()]
        loss = model.train_on_batch(x, y)
        assert np.isfinite(loss)
        assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
        trained += 1
        if trained == 3:
            break
    assert trained == 3
    # Models with a truncation layer save and load (the layer is registered).
    path = str(tmp_path / "m.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------- the hash


def _permute(matrix, ops, perm):
    """Renumbers vertices: new vertex k is old vertex perm[k]."""
    matrix = np.asarray(matrix)
    return matrix[np.ix_(perm, perm)], [ops[p] for p in perm]


def test_graph_hash_is_invariant_to_any_vertex_renumbering():
    matrix = np.array(INCEPTION_MATRIX)
    labels = [-1, 1, 0, 0, 0, 2, -2]
    reference = nb.graph_hash(matrix, labels)
    rng = np.random.RandomState(0)
    for _ in range(20):
        perm = rng.permutation(7)
        permuted, permuted_labels = _permute(matrix, labels, perm)
        assert nb.graph_hash(permuted, permuted_labels) == reference


def test_isomorphic_cells_hash_equal():
    reference = _cell(INCEPTION_MATRIX, INCEPTION_OPS).fingerprint()
    renumbered = 0
    for middle in itertools.permutations(range(1, 6)):
        perm = [0] + list(middle) + [6]
        matrix, ops = _permute(INCEPTION_MATRIX, INCEPTION_OPS, perm)
        if np.tril(matrix).any():
            continue  # Not a valid (upper-triangular) numbering of the same DAG.
        assert _cell(matrix.tolist(), ops).fingerprint() == reference
        renumbered += 1
    assert renumbered > 10


def test_different_cells_hash_differently():
    base = _cell(INCEPTION_MATRIX, INCEPTION_OPS)
    other_op = _cell(INCEPTION_MATRIX, ["input", C3, C3, C3, C3, MP, "output"])
    other_edge = np.array(INCEPTION_MATRIX)
    other_edge[0, 3], other_edge[1, 3] = 0, 1
    assert len({base.fingerprint(), other_op.fingerprint(),
                _cell(other_edge.tolist(), INCEPTION_OPS).fingerprint()}) == 3


def _canonical(matrix, labels):
    """Brute-force canonical form: the smallest encoding over all renumberings."""
    n = len(labels)
    best = None
    for middle in itertools.permutations(range(1, n - 1)):
        perm = [0] + list(middle) + [n - 1]
        m, l = _permute(matrix, labels, perm)
        key = (tuple(l), m.tobytes())
        best = key if best is None or key < best else best
    return best


def test_hash_classes_are_exactly_isomorphism_classes_on_random_samples():
    by_hash, by_form = {}, {}
    for network in _samples(100, seed=7):
        if not _feasible(network):
            continue
        matrix, labels = network.cell.pruned()
        fingerprint = network.fingerprint()
        form = _canonical(matrix, labels)
        by_hash.setdefault(fingerprint, set()).add(form)
        by_form.setdefault(form, set()).add(fingerprint)
    assert len(by_hash) > 25
    assert all(len(forms) == 1 for forms in by_hash.values())
    assert all(len(hashes) == 1 for hashes in by_form.values())


def test_dangling_vertices_do_not_change_the_hash():
    matrix = np.array(INCEPTION_MATRIX)
    base = _cell(matrix.tolist(), INCEPTION_OPS).fingerprint()
    # Vertex 5 (max-pool) loses its output edge: pruned, so the hash must equal the
    # hash of the same cell with vertex 5 disconnected entirely.
    a, b = matrix.copy(), matrix.copy()
    a[5, 6] = 0
    b[5, 6] = 0
    b[0, 5] = 0
    assert _cell(a.tolist(), INCEPTION_OPS).fingerprint() == \
        _cell(b.tolist(), INCEPTION_OPS).fingerprint() != base


# ----------------------------------------------------------- in a search


def test_infeasible_samples_are_recorded_with_reasons_in_a_search():
    def build_only(model, context):
        del context
        keras_model = model.to_keras()
        return {"params": float(keras_model.count_params())}

    result = sa.search(nb.small_nasbench101_space(stem_channels=4),
                       algorithm=pg.geno.Random(seed=2), evaluator=build_only,
                       max_trials=12, objective="params", progress=False)
    statuses = {t.status for t in result.trials}
    assert statuses <= {"completed", "infeasible"}
    assert "infeasible" in statuses and "completed" in statuses
    for trial in result.trials:
        if trial.status == "infeasible":
            assert "no path" in trial.error or "edges after pruning" in trial.error
        else:
            assert trial.metrics["params"] > 0


def test_dedupe_isomorphic_evaluates_each_graph_once():
    calls = []

    def evaluator(model, context):
        calls.append(model.fingerprint())
        return {"reward": float(len(calls))}

    evaluator.training = None
    dedupe = nb.DedupeIsomorphic(evaluator)
    assert dedupe.training is None  # other attributes are the wrapped evaluator's
    base = nb.NASBench101Network(_cell(INCEPTION_MATRIX, INCEPTION_OPS))
    renumbered_matrix, renumbered_ops = _permute(INCEPTION_MATRIX, INCEPTION_OPS,
                                                 [0, 2, 1, 3, 4, 5, 6])
    renumbered = nb.NASBench101Network(_cell(renumbered_matrix.tolist(), renumbered_ops))
    context = sa.TrialContext(7, pg.DNA(0))
    assert dedupe(base, context) == {"reward": 1.0}
    assert dedupe(renumbered, sa.TrialContext(8, pg.DNA(0))) == {
        "reward": 1.0, "duplicate_of_trial": 7.0}
    assert len(calls) == 1


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    import subprocess
    import sys
    demo = os.path.join(os.path.dirname(__file__), "..", "..", "demos",
                        "nasbench101_evolution.py")
    out = subprocess.run(
        [sys.executable, demo, "--max_trials=5", "--epochs=1", "--stem_channels=4",
         "--population_size=3", "--tournament_size=2", f"--root_dir={tmp_path}"],
        capture_output=True, text=True, timeout=600, check=True).stdout
    assert "regularized evolution:" in out and "random search:" in out
    assert "Best validation accuracy so far" in out
    assert os.path.exists(tmp_path / "best_so_far.png")


@pg.members([("groups", pg.typing.Int(default=2))])
class _GroupNormSwish(NormActivation):
    """A slot value unlike batch norm, so that its places can be counted."""

    def __call__(self, x, name):
        x = keras.layers.GroupNormalization(self.groups, name=f"{name}_gn")(x)
        return keras.layers.Activation("swish", name=f"{name}_swish")(x)


def test_norm_act_slot_defaults_to_todays_layers_and_rebinds_every_place():
    network = nb.NASBench101Network(_cell(INCEPTION_MATRIX, INCEPTION_OPS),
                                    input_shape=(8, 8, 1), stem_channels=16, num_stacks=2,
                                    cells_per_stack=1)
    default = network.to_keras()
    explicit = network.clone(deep=True).rebind(norm_act=BatchNormActivation(
        "relu", momentum=0.997, epsilon=1e-5, activation_layer="relu")).to_keras()
    assert [layer.name for layer in default.layers[1:]] == [
        layer.name for layer in explicit.layers[1:]]
    assert default.count_params() == explicit.count_params()
    assert {"stem_bn", "stem_relu"} <= {layer.name for layer in default.layers}
    batch_norms = sum(isinstance(layer, keras.layers.BatchNormalization)
                      for layer in default.layers)
    # Stem + per cell: 4 input projections, one 1x1 and three 3x3 conv vertices.
    assert batch_norms == 1 + 2 * 8
    swapped = replace_norm_activation(network, _GroupNormSwish()).to_keras()
    layers = swapped.layers
    assert sum(isinstance(layer, keras.layers.GroupNormalization) for layer in layers) \
        == batch_norms
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in layers)
    assert swapped.output_shape == default.output_shape
