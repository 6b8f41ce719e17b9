"""DARTS cell space and evaluation network: ops, parameter count, training, infeasible
samples, genotype import/export."""

import os
import random

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pyglove as pg  # noqa: E402
import pytest  # noqa: E402

import symbolic_automl as sa  # noqa: E402
from symbolic_automl import errors  # noqa: E402
from symbolic_automl.spaces import darts  # noqa: E402
from symbolic_automl.spaces.darts import ops  # noqa: E402


def _trainable(layer):
    return int(sum(np.prod(w.shape) for w in layer.trainable_weights))


def _sce():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


# ---------------------------------------------------------------- ops


def test_ops_dict_has_reference_names_and_none():
    assert set(darts.PRIMITIVES) == {
        "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
        "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"}
    assert darts.SEARCH_PRIMITIVES[0] == "none"
    assert set(darts.SEARCH_PRIMITIVES) <= set(darts.OPS)


@pytest.mark.parametrize("size", [8, 7])
def test_every_op_keeps_or_halves_the_resolution(size):
    x = np.random.RandomState(0).randn(2, size, size, 6).astype("float32")
    for name, make in ops.OPS.items():
        for stride in (1, 2):
            y = make(6, stride, True)(x)
            expected = size if stride == 1 else (size + 1) // 2
            assert tuple(y.shape) == (2, expected, expected, 6), (name, stride)


def test_op_weights_match_the_reference_modules():
    x = np.zeros((1, 8, 8, 6), "float32")
    counts = {}
    for affine in (True, False):
        for name in ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "skip_connect"):
            layer = ops.OPS[name](6, 2, affine)
            layer(x)
            counts[name, affine] = _trainable(layer)
    bn = 2 * 6  # gamma and beta of BatchNorm2d(6, affine=True)
    # SepConv: twice (depthwise k*k*C + pointwise C*C + BN), no biases.
    assert counts["sep_conv_3x3", True] == 2 * (9 * 6 + 36 + bn)
    assert counts["sep_conv_5x5", True] == 2 * (25 * 6 + 36 + bn)
    assert counts["dil_conv_3x3", True] == 9 * 6 + 36 + bn
    # FactorizedReduce: two 1x1 convs to C/2 each + BN.
    assert counts["skip_connect", True] == 2 * 6 * 3 + bn
    # affine=False (the supernet's ops): batch norms learn nothing.
    assert counts["sep_conv_3x3", False] == 2 * (9 * 6 + 36)
    assert counts["skip_connect", False] == 2 * 6 * 3


def test_average_pool_ignores_padding_and_max_pool_never_picks_it():
    x = -1.0 - np.random.RandomState(1).rand(2, 6, 6, 3).astype("float32")  # all < 0
    padded = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)])
    mask = np.pad(np.ones_like(x), [(0, 0), (1, 1), (1, 1), (0, 0)])
    for stride in (1, 2):
        avg = np.asarray(ops.OPS["avg_pool_3x3"](3, stride, True)(x))
        mx = np.asarray(ops.OPS["max_pool_3x3"](3, stride, True)(x))
        n = avg.shape[1]
        for i in range(n):
            for j in range(n):
                window = (slice(None), slice(stride * i, stride * i + 3),
                          slice(stride * j, stride * j + 3))
                expected = padded[window].sum((1, 2)) / mask[window].sum((1, 2))
                np.testing.assert_allclose(avg[:, i, j], expected, rtol=1e-5)
                real = np.where(mask[window] > 0, padded[window], -np.inf)
                np.testing.assert_allclose(mx[:, i, j], real.max((1, 2)), rtol=1e-6)


def test_strided_ops_pad_symmetrically_like_pytorch():
    # PyTorch's stride-2 conv with padding p reads the same pixels as the stride-1
    # conv subsampled at even positions; Keras 'same' would be shifted by one.
    x = np.random.RandomState(2).randn(2, 8, 8, 4).astype("float32")
    for name in ("dil_conv_5x5", "sep_conv_3x3"):
        strided, dense = ops.OPS[name](4, 2, True), ops.OPS[name](4, 1, True)
        strided(x), dense(x)
        dense.set_weights(strided.get_weights())
        if name.startswith("sep"):
            continue  # the second half of SepConv is not strided; only shapes align
        np.testing.assert_allclose(np.asarray(strided(x)),
                                   np.asarray(dense(x))[:, ::2, ::2], atol=1e-5)


def test_factorized_reduce_reads_odd_and_even_pixels_and_zero_is_zero():
    x = np.random.RandomState(3).randn(1, 4, 4, 2).astype("float32")
    layer = ops.FactorizedReduce(4, affine=False)
    layer(x)
    w1, w2 = np.ones((1, 1, 2, 2), "float32"), np.ones((1, 1, 2, 2), "float32")
    layer.conv_1.set_weights([w1])
    layer.conv_2.set_weights([w2])
    y = np.asarray(layer(x, training=False))
    relu = np.maximum(x, 0).sum(-1)
    scale = 1.0 / np.sqrt(1.0 + ops.BN_EPSILON)  # fresh BN: mean 0, variance 1
    np.testing.assert_allclose(y[0, :, :, 0], relu[0, ::2, ::2] * scale, rtol=1e-5)
    np.testing.assert_allclose(y[0, :, :, 2], relu[0, 1::2, 1::2] * scale, rtol=1e-5)
    with pytest.raises(ValueError, match="even number of output channels, got 5"):
        ops.FactorizedReduce(5)
    assert not np.any(np.asarray(ops.OPS["none"](2, 2, True)(x)))


# ---------------------------------------------------------------- network


def test_darts_v2_has_the_reference_parameter_count():
    model = darts.DartsNetwork.from_genotype(
        darts.DARTS_V2, channels=36, num_cells=20, num_classes=10,
        input_shape=(32, 32, 3), auxiliary=True).to_keras()
    # utils.count_parameters_in_MB of the reference: 3.349342M without "auxiliary".
    assert model.count_trainable_params() == 3_349_342
    # AuxiliaryHeadCIFAR(576, 10): 576*128 + 2*128 + 128*768*4 + 2*768 + 768*10 + 10.
    assert model.count_trainable_params(include_auxiliary=True) == 3_349_342 + 476_426
    assert [cell.name for cell in model.layers if "reduction" in cell.name] == [
        "reduction_cell_6", "reduction_cell_13"]
    assert len(model.outputs) == 2


def _tiny_space(**kwargs):
    config = dict(channels=4, num_cells=3, num_classes=5, input_shape=(16, 16, 3),
                  drop_path_prob=0.2)
    config.update(kwargs)
    return darts.darts_space(**config)


@pytest.mark.slow  # ~37 s on 2 cores; the search test below trains a sample by default.
def test_random_samples_materialize_and_train_one_step(tmp_path):
    space = _tiny_space()
    rng = np.random.RandomState(0)
    x = rng.rand(4, 16, 16, 3).astype("float32")
    y = rng.randint(0, 5, 4)
    genotypes = set()
    for seed in (0, 1):
        dna = pg.random_dna(pg.dna_spec(space), random_generator=random.Random(seed))
        sample = pg.materialize(space, dna)
        genotypes.add(str(sample.to_genotype()))
        model = sample.to_keras()
        assert len(model.drop_path_layers) > 0
        model.compile(keras.optimizers.SGD(0.1), _sce(), metrics=["accuracy"])
        before = [np.array(w) for w in model.trainable_weights]
        history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        changed = [not np.allclose(a, np.asarray(b))
                   for a, b in zip(before, model.trainable_weights)]
        assert sum(changed) > len(changed) // 2
    assert len(genotypes) == 2
    # A trained model saves and loads (the evaluator keeps models this way).
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-5)


def test_auxiliary_loss_is_weighted_and_used_in_training_only():
    net = darts.DartsNetwork.from_genotype(
        darts.DARTS_V2, channels=4, num_cells=3, num_classes=5, input_shape=(32, 32, 3),
        auxiliary=True, auxiliary_weight=0.4, drop_path_prob=0.0)
    model = net.to_keras()
    model.compile(keras.optimizers.SGD(0.01), _sce(), metrics=["accuracy"])
    rng = np.random.RandomState(1)
    x, y = rng.rand(4, 32, 32, 3).astype("float32"), rng.randint(0, 5, 4)
    logits, aux = model(x, training=False)
    main, aux_loss = float(_sce()(y, logits)), float(_sce()(y, aux))
    train = float(model.compute_loss(x, y, [logits, aux], training=True))
    evaluation = float(model.compute_loss(x, y, [logits, aux], training=False))
    np.testing.assert_allclose(train, main + 0.4 * aux_loss, rtol=1e-5)
    np.testing.assert_allclose(evaluation, main, rtol=1e-5)
    # One label array fits the two-output model, as KerasEvaluator passes it.
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    # Without the head: same main network, one output.
    assert net.to_keras(auxiliary=False).count_trainable_params() == \
        model.count_trainable_params()


def test_drop_path_drops_whole_examples_in_training_only():
    layer = darts.DropPath(0.5, seed=0)
    x = np.ones((64, 2, 2, 3), "float32")
    np.testing.assert_array_equal(np.asarray(layer(x)), x)
    y = np.asarray(layer(x, training=True))
    per_example = y.reshape(64, -1)
    assert set(np.unique(per_example)) <= {0.0, 2.0}
    assert np.all(per_example.min(1) == per_example.max(1))  # all or nothing
    assert 10 < (per_example[:, 0] == 0).sum() < 54
    layer.rate.assign(0.0)
    np.testing.assert_array_equal(np.asarray(layer(x, training=True)), x)
    with pytest.raises(ValueError, match=r"\[0, 1\), got 1.5"):
        darts.DropPath(1.5)


def test_drop_path_schedule_ramps_the_rate():
    net = darts.DartsNetwork.from_genotype(
        darts.DARTS_V2, channels=4, num_cells=3, input_shape=(8, 8, 3),
        auxiliary=False, drop_path_prob=0.2)
    model = net.to_keras()
    # DARTS_V2's normal cell has 6 non-identity ops, its reduction cell 5 (its skips
    # read node 0 at stride 1); 1 normal + 2 reduction cells. The reference skips
    # identities only.
    assert len(model.drop_path_layers) == 6 + 2 * 5
    schedule = darts.DropPathSchedule(0.2, epochs=4)
    schedule.set_model(model)
    schedule.on_epoch_begin(2)
    assert all(abs(float(layer.rate) - 0.1) < 1e-7 for layer in model.drop_path_layers)


# ---------------------------------------------------------------- infeasible samples


def test_infeasible_samples_raise_with_a_reason():
    base = darts.DartsNetwork.from_genotype(
        darts.DARTS_V2, channels=4, num_cells=3, input_shape=(16, 16, 3), auxiliary=False)
    cases = {
        "normal.nodes[1].edges[0].op": ("none", r"normal cell: node 1 has op 'none'.*supernet"),
        "reduce.nodes[0].edges[1].input": (2, r"reduction cell: node 0 reads state 2.*0\.\.1"),
        "normal.nodes[2].edges[0].op": ("conv_9x9", r"unknown op 'conv_9x9'"),
        "normal.concat": ([2, 7], r"concat index 7 .* 0\.\.5"),
        "auxiliary": (True, r"auxiliary head needs .* 8x8 .* gives 4x4"),
    }
    for path, (value, reason) in cases.items():
        net = base.clone(deep=True).rebind({path: value})
        with pytest.raises(errors.InfeasibleError, match=reason):
            net.to_keras()
    with pytest.raises(errors.SearchSpaceError, match="hyper-values"):
        _tiny_space().to_keras()


def test_search_records_infeasible_samples_with_their_reason():
    # 'none' is allowed into this space on purpose: most samples cannot be built.
    space = darts.darts_space(channels=2, num_cells=1, input_shape=(4, 4, 3), num_nodes=1,
                              primitives=["none", "skip_connect"])

    def evaluator(model, context):
        return {"reward": float(model.to_keras().count_trainable_params())}

    result = sa.search(space, algorithm=pg.geno.Random(seed=3), evaluator=evaluator,
                       max_trials=12, progress=False)
    statuses = [t.status for t in result.trials]
    assert "infeasible" in statuses and "completed" in statuses
    for trial in result.trials:
        genotype = trial.model.to_genotype()
        has_none = any(op == "none" for op, _ in genotype.normal + genotype.reduce)
        assert (trial.status == "infeasible") == has_none
        if has_none:
            assert "'none' exists only in the weight-sharing supernet" in str(trial.error)


def test_keras_evaluator_trains_samples_on_digits_through_search():
    from symbolic_automl import data
    (x, y), validation = data.load("digits", limit=128)
    space = darts.darts_space(channels=4, num_cells=3, num_classes=10,
                              input_shape=(8, 8, 1), drop_path_prob=0.1)
    evaluator = sa.KerasEvaluator(
        x, y, validation_data=validation, steps_per_epoch=2,
        training=sa.Training(epochs=1, batch_size=32, loss=keras.losses.
                             SparseCategoricalCrossentropy(from_logits=True)))
    result = sa.search(space, algorithm=pg.geno.Random(seed=0), evaluator=evaluator,
                       max_trials=1, progress=False)
    assert [t.status for t in result.trials] == ["completed"], [
        t.error for t in result.trials]
    assert all(0.0 <= t.metrics["val_accuracy"] <= 1.0 for t in result.trials)


# ---------------------------------------------------------------- space and genotypes


def test_space_has_a_manyof_of_edges_with_op_choices_per_node():
    space = darts.darts_space()
    spec = pg.dna_spec(space)
    # One manyof(2) per node and cell; each chosen edge has its own op choice.
    assert [e.location.keys for e in spec.elements] == [
        [cell, "nodes", i, "edges"] for cell in ("normal", "reduce") for i in range(4)]
    assert all(e.num_choices == 2 for e in spec.elements)
    for i, node in enumerate(space.normal.nodes):
        choice = node.sym_getattr("edges")
        assert isinstance(choice, pg.hyper.ManyOf)
        assert choice.num_choices == 2 and choice.choices_sorted and choice.choices_distinct
        assert [e.input for e in choice.candidates] == list(range(i + 2))
    restricted = darts.darts_space(primitives=["skip_connect", "sep_conv_3x3"], num_nodes=2)
    sample = next(pg.random_sample(restricted, seed=0))
    assert {op for op, _ in sample.to_genotype().normal} <= {"skip_connect", "sep_conv_3x3"}
    assert pg.eq(pg.from_json_str(sample.to_json_str()), sample)
    with pytest.raises(errors.SearchSpaceError, match="unknown: \\['conv_9x9'\\]"):
        darts.darts_space(primitives=["conv_9x9"])


def test_genotype_round_trips():
    text = str(darts.DARTS_V2)
    assert text.startswith("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1),")
    assert darts.parse_genotype(text) == darts.DARTS_V2
    assert darts.DartsNetwork.from_genotype(text).to_genotype() == darts.DARTS_V2
    # The reference writes concats as range(2, 6).
    ranged = text.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 6)")
    assert darts.parse_genotype(ranged) == darts.DARTS_V2

    space = _tiny_space()
    for sample in pg.random_sample(space, num_examples=3, seed=5):
        genotype = darts.parse_genotype(str(sample.to_genotype()))
        rebuilt = darts.DartsNetwork.from_genotype(genotype, **{
            k: v for k, v in sample.sym_init_args.items() if k not in ("normal", "reduce")})
        assert pg.eq(rebuilt, sample)
        dna = darts.genotype_to_dna(genotype, space)
        assert pg.eq(pg.materialize(space, dna), sample)

    # DARTS_V2 lies in the space (edges sorted per node, same cells).
    v2 = pg.materialize(space, darts.genotype_to_dna(darts.DARTS_V2, space)).to_genotype()
    for field in ("normal", "reduce"):
        for k in range(0, 8, 2):
            assert sorted(getattr(v2, field)[k:k + 2], key=lambda p: p[1]) == sorted(
                getattr(darts.DARTS_V2, field)[k:k + 2], key=lambda p: p[1])


def test_genotype_parsing_rejects_code_and_bad_shapes():
    bad = {
        "__import__('os').system('echo hacked')": "not a call of Genotype",
        "Genotype(normal=open('/etc/passwd'), normal_concat=[2], reduce=[], "
        "reduce_concat=[2])": "is not a literal",
        "Genotype(normal=[('sep_conv_3x3', 0)], normal_concat=[2], "
        "reduce=[('skip_connect', 0), ('skip_connect', 1)], reduce_concat=[2])":
            "1 pairs; expected a positive even number",
        "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 'x')], normal_concat=[2], "
        "reduce=[], reduce_concat=[2])": r"\('skip_connect', 'x'\)",
        "Genotype(normal=[])": "missing field",
    }
    for text, reason in bad.items():
        with pytest.raises(errors.SearchSpaceError, match=reason):
            darts.parse_genotype(text)
    with pytest.raises(errors.DNAMismatchError, match="not in the given DARTS space"):
        darts.genotype_to_dna(darts.DARTS_V2, darts.darts_space(primitives=["skip_connect"]))


_JAX_SCRIPT = """
import numpy as np, keras
from symbolic_automl.spaces import darts
assert keras.backend.backend() == "jax"
net = darts.DartsNetwork.from_genotype(
    darts.DARTS_V2, channels=4, num_cells=3, num_classes=5, input_shape=(32, 32, 3))
model = net.to_keras()
model.compile(keras.optimizers.SGD(0.01),
              keras.losses.SparseCategoricalCrossentropy(from_logits=True))
rng = np.random.RandomState(0)
loss = model.fit(rng.rand(4, 32, 32, 3).astype("float32"), rng.randint(0, 5, 4),
                 verbose=0).history["loss"][0]
assert np.isfinite(loss), loss
print("PARAMS", darts.DartsNetwork.from_genotype(darts.DARTS_V2).to_keras()
      .count_trainable_params())
"""


@pytest.mark.slow
def test_network_trains_and_counts_the_same_on_the_jax_backend():
    import subprocess
    import sys
    pytest.importorskip("jax")
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, "-c", _JAX_SCRIPT], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "PARAMS 3349342" in done.stdout


# ------------------------------------------- published cells and the norm-act slot

# NetworkCIFAR(C, 10, layers, auxiliary=True, genotype) of the reference code, counted
# by benchmarks/darts_reference_params.py (the reference's model.py run against a
# parameter-counting torch.nn): (without the auxiliary head, with it).
_REFERENCE_COUNTS = {
    (36, 20): {"NASNet": (3_830_950, 4_288_944), "AmoebaNet": (3_145_078, 3_603_072),
               "DARTS_V1": (3_169_414, 3_645_840), "DARTS_V2": (3_349_342, 3_825_768)},
    (8, 5): {"NASNet": (67_282, 482_268), "AmoebaNet": (69_698, 484_684),
             "DARTS_V1": (35_058, 454_140), "DARTS_V2": (37_018, 456_100)},
}


def _published(name, channels, cells, **kwargs):
    return darts.DartsNetwork.from_genotype(
        darts.PUBLISHED[name], channels=channels, num_cells=cells, num_classes=10,
        input_shape=(32, 32, 3), auxiliary=True, **kwargs)


@pytest.mark.parametrize("name", sorted(darts.PUBLISHED))
def test_published_cells_have_the_reference_parameter_counts_small(name):
    model = _published(name, 8, 5).to_keras()
    without, with_auxiliary = _REFERENCE_COUNTS[8, 5][name]
    assert model.count_trainable_params() == without
    assert model.count_trainable_params(include_auxiliary=True) == with_auxiliary


@pytest.mark.slow
@pytest.mark.parametrize("name", ["NASNet", "AmoebaNet", "DARTS_V1"])
def test_published_cells_have_the_reference_parameter_counts(name):
    model = _published(name, 36, 20).to_keras()
    without, with_auxiliary = _REFERENCE_COUNTS[36, 20][name]
    assert model.count_trainable_params() == without
    assert model.count_trainable_params(include_auxiliary=True) == with_auxiliary


def test_conv_7x1_1x7_is_the_reference_factorized_convolution():
    rng = np.random.RandomState(0)
    x = rng.randn(2, 7, 7, 4).astype("float32")
    layer = ops.OPS["conv_7x1_1x7"](4, 2, True)
    y = keras.ops.convert_to_numpy(layer(x))
    assert y.shape == (2, 4, 4, 4)
    assert _trainable(layer) == 2 * 7 * 4 * 4 + 2 * 4  # two convs, no bias, and BN
    # In inference the BN is the identity (fresh statistics, epsilon aside): compare
    # with ReLU, pad 3 along width, 1x7 stride (1, 2), pad 3 along height, 7x1 stride
    # (2, 1), computed with numpy.
    k1, k2 = (keras.ops.convert_to_numpy(w) for w in (layer.conv_1x7.kernel,
                                                     layer.conv_7x1.kernel))
    h = np.pad(np.maximum(x, 0), ((0, 0), (0, 0), (3, 3), (0, 0)))
    h = np.stack([np.einsum("nhkc,kcd->nhd", h[:, :, j:j + 7], k1[0])
                  for j in range(0, h.shape[2] - 6, 2)], axis=2)
    h = np.pad(h, ((0, 0), (3, 3), (0, 0), (0, 0)))
    h = np.stack([np.einsum("nkwc,kcd->nwd", h[:, i:i + 7], k2[:, 0])
                  for i in range(0, h.shape[1] - 6, 2)], axis=1)
    y = keras.ops.convert_to_numpy(layer(x, training=False))
    np.testing.assert_allclose(y, h / np.sqrt(1 + ops.BN_EPSILON), atol=1e-4)


@pg.members([("groups", pg.typing.Int(default=2))])
class _GroupNormSwish(sa.keras.NormActivation):
    """A fused slot value, unlike batch norm, so that its places can be counted."""

    def __call__(self, x, name):
        x = keras.layers.GroupNormalization(self.groups, name=f"{name}_gn")(x)
        return keras.layers.Activation("swish", name=f"{name}_swish")(x)


def _all_layers(model):
    return list(model._flatten_layers(include_self=False, recursive=True))


def _count(model, layer_type):
    return sum(isinstance(layer, layer_type) for layer in _all_layers(model))


def test_default_slot_keeps_the_reference_network():
    network = _published("AmoebaNet", 8, 5)
    assert network.norm_act == ops.DEFAULT_NORM_ACT
    explicit = network.clone(deep=True).rebind(norm_act=sa.keras.BatchNormActivation(
        "relu", momentum=0.9, epsilon=1e-5))
    default, same = network.to_keras(), explicit.to_keras()
    assert same.count_trainable_params(include_auxiliary=True) == 484_684
    assert [w.shape for w in default.weights] == [w.shape for w in same.weights]
    x = np.random.RandomState(0).rand(2, 32, 32, 3).astype("float32")
    same.set_weights(default.get_weights())
    logits = keras.ops.convert_to_numpy(default(x, training=False)[0])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(same(x, training=False)[0]),
                               logits, atol=1e-5)
    assert _count(default, sa.keras.NormActivationLayer) == 0
    # A batch norm slot with another activation keeps the order: swish opens each op.
    swish = network.clone(deep=True).rebind(norm_act=sa.keras.BatchNormActivation(
        "swish", momentum=0.9, epsilon=1e-5)).to_keras()
    swish.set_weights(default.get_weights())
    assert not np.allclose(keras.ops.convert_to_numpy(swish(x, training=False)[0]), logits)


def test_rebinding_the_slot_replaces_every_batch_norm():
    network = _published("AmoebaNet", 4, 5)  # every op kind, conv_7x1_1x7 too
    default = network.to_keras()
    batch_norms = _count(default, keras.layers.BatchNormalization)
    fused = sa.keras.replace_norm_activation(network, _GroupNormSwish()).to_keras()
    # Every BN (stem, preprocessing, ops, the auxiliary head) is now the layer ...
    assert _count(fused, sa.keras.NormActivationLayer) == batch_norms
    assert _count(fused, keras.layers.GroupNormalization) == batch_norms
    assert _count(fused, keras.layers.BatchNormalization) == 0
    # ... and it trains.
    fused.compile(keras.optimizers.SGD(0.05), _sce(), run_eagerly=True)
    rng = np.random.RandomState(0)
    loss = fused.train_on_batch(rng.rand(4, 32, 32, 3).astype("float32"),
                                rng.randint(0, 10, 4))
    assert np.isfinite(loss)


def test_fused_slot_drops_the_opening_relu_and_survives_a_config_round_trip():
    x = np.random.RandomState(0).randn(2, 8, 8, 4).astype("float32")
    fused = ops.OPS["sep_conv_3x3"](4, 1, True, _GroupNormSwish())
    y = fused(x)
    assert _count(fused, sa.keras.NormActivationLayer) == 2
    # Conv -> layer: negative inputs reach the first convolution (no ReLU first).
    shifted = fused(x - 10.0)
    assert not np.allclose(keras.ops.convert_to_numpy(shifted), keras.ops.convert_to_numpy(y))
    config = fused.get_config()
    assert isinstance(config["norm_act"], str)  # PyGlove JSON, data only
    again = ops.SepConv.from_config(config)
    again(x)
    assert pg.eq(again.norm_act, _GroupNormSwish())
    assert _trainable(again) == _trainable(fused)
    # The default writes no slot into configs: they stay as they were.
    assert "norm_act" not in ops.OPS["sep_conv_3x3"](4, 1, True).get_config()
