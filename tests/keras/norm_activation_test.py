"""The normalization-activation slot: BatchNormActivation's layers, NormActivationLayer
(same function as inline, modes, config), replace_norm_activation on hand-written
mirror models, and the held-out comparison's statistics."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pyglove as pg  # noqa: E402
import pytest  # noqa: E402

from symbolic_automl import keras as sk  # noqa: E402
from symbolic_automl.keras import transfer  # noqa: E402

L = sk.layers


@pg.members([("groups", pg.typing.Int(default=2))])
class GroupNormSwish(sk.NormActivation):
    """A slot value unlike batch norm, so that its places can be counted."""

    def __call__(self, x, name):
        x = keras.layers.GroupNormalization(self.groups, name=f"{name}_gn")(x)
        return keras.layers.Activation("swish", name=f"{name}_swish")(x)


def _count(model, layer_type):
    return sum(isinstance(layer, layer_type)
               for layer in model._flatten_layers(include_self=False, recursive=True))


def test_batch_norm_activation_builds_the_named_layers():
    x = keras.Input((4, 4, 3))
    y = sk.BatchNormActivation("relu6", momentum=0.9)(x, "block")
    model = keras.Model(x, y)
    bn, act = model.layers[1:]
    assert (bn.name, act.name) == ("block_bn", "block_act")
    assert bn.momentum == 0.9 and isinstance(act, keras.layers.ReLU) and act.max_value == 6
    y = sk.BatchNormActivation("relu", activation_layer="relu")(x, "b", bn_name="b_norm",
                                                                act_name="b_relu")
    assert [layer.name for layer in keras.Model(x, y).layers[1:]] == ["b_norm", "b_relu"]
    y = sk.BatchNormActivation(None)(x, "linear")
    assert [type(layer) for layer in keras.Model(x, y).layers[1:]] == [
        keras.layers.BatchNormalization]


def test_norm_activation_layer_computes_the_inline_layers_in_both_modes():
    rng = np.random.RandomState(0)
    x = rng.randn(4, 5, 5, 6).astype("float32") * 3 + 1
    inputs = keras.Input((5, 5, 6))
    inline = keras.Model(inputs, sk.BatchNormActivation("swish", momentum=0.5)(inputs, "i"))
    layer = sk.NormActivationLayer(sk.BatchNormActivation("swish", momentum=0.5))
    wrapped = keras.Sequential([keras.Input((5, 5, 6)), layer])
    assert wrapped.count_params() == inline.count_params() == 4 * 6
    for training in (True, False):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(wrapped(x, training=training)),
                                   keras.ops.convert_to_numpy(inline(x, training=training)),
                                   atol=1e-5)
    # Training moved the moving mean toward the batch mean (momentum 0.5).
    moving_mean = [w for w in layer.weights if "moving_mean" in w.path][0]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(moving_mean),
                               0.5 * x.mean(axis=(0, 1, 2)), atol=1e-4)
    # Any image size: only the channels are fixed.
    assert tuple(layer(np.ones((1, 9, 7, 6), "float32")).shape) == (1, 9, 7, 6)
    again = sk.NormActivationLayer.from_config(layer.get_config())
    assert pg.eq(again.norm_act, layer.norm_act)
    with pytest.raises(TypeError, match="Expected a NormActivation"):
        sk.NormActivationLayer("relu")


def test_mirror_holds_the_slot_as_one_searchable_layer():
    space = sk.Sequential([
        sk.Input(shape=(8, 8, 1)), L.Conv2D(4, 3),
        L.NormActivationLayer(norm_act=pg.oneof([sk.BatchNormActivation("relu"),
                                                 GroupNormSwish()])),
        L.GlobalAveragePooling2D(), L.Dense(3)])
    assert len(pg.dna_spec(space).decision_points) == 1
    model = pg.materialize(space, pg.DNA(1)).to_keras()
    assert _count(model, keras.layers.GroupNormalization) == 1
    assert model.output_shape == (None, 3)


def _sequential():
    return sk.Sequential([
        sk.Input(shape=(8, 8, 1)),
        L.Conv2D(8, 3, use_bias=False), L.BatchNormalization(name="bn1"), L.ReLU(),
        L.Conv2D(8, 3, use_bias=False), L.BatchNormalization(), L.Activation("relu"),
        L.Conv2D(8, 1), L.BatchNormalization(),  # followed by pooling: stays
        L.GlobalAveragePooling2D(),
        L.Dense(16), L.BatchNormalization(), L.Activation("swish"),  # not ReLU: stays
        L.Dense(16), L.BatchNormalization(), L.ReLU(max_value=6.0),  # capped: stays
        L.Dense(3, activation="softmax")])


def test_replaces_bn_relu_pairs_in_a_sequential_model_and_nothing_else():
    model = _sequential()
    swapped = transfer.replace_norm_activation(model, GroupNormSwish())
    kinds = [type(layer).__name__ for layer in swapped.layers]
    assert kinds.count("NormActivationLayer") == 2
    assert kinds.count("BatchNormalization") == 3
    assert kinds.count("ReLU") == 1 and kinds.count("Activation") == 1
    assert swapped.layers[2].sym_init_args["name"] == "bn1"  # the BN's name is kept
    assert len(model.layers) == 17  # the input is unchanged
    built = swapped.to_keras()
    assert _count(built, keras.layers.GroupNormalization) == 2
    assert built.output_shape == (None, 3)
    wider = transfer.replace_norm_activation(model, GroupNormSwish(),
                                             activations=("relu", "swish"))
    assert [type(x).__name__ for x in wider.layers].count("NormActivationLayer") == 3


def test_replaces_pairs_in_a_functional_graph_where_the_bn_feeds_only_the_relu():
    inputs = sk.Input(shape=(8, 8, 4))
    x = L.Conv2D(4, 3, padding="same")(inputs)
    x = L.ReLU()(L.BatchNormalization()(x))                        # a pair
    branch = L.BatchNormalization()(L.Conv2D(4, 3, padding="same")(x))
    y = L.Add()([L.ReLU()(branch), branch])                        # BN read twice: stays
    z = L.Activation("relu")(L.BatchNormalization()(y))           # a pair, into outputs
    outputs = L.Dense(2)(L.GlobalAveragePooling2D()(z))
    model = sk.Model(inputs, [outputs, z])
    swapped = transfer.replace_norm_activation(model, GroupNormSwish())
    layers = [type(n.layer).__name__ for n in swapped.nodes]
    assert layers.count("NormActivationLayer") == 2
    assert layers.count("BatchNormalization") == 1 and layers.count("ReLU") == 1
    assert len(swapped.nodes) == len(model.nodes) - 2
    built = swapped.to_keras()
    assert _count(built, keras.layers.GroupNormalization) == 2
    assert [tuple(o.shape) for o in built.outputs] == [(None, 2), (None, 8, 8, 4)]
    x = np.random.RandomState(0).rand(2, 8, 8, 4).astype("float32")
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(built(x)[0])))


def test_replace_norm_activation_rejects_bad_arguments():
    with pytest.raises(TypeError, match="needs a NormActivation"):
        transfer.replace_norm_activation(_sequential(), "relu")
    with pytest.raises(TypeError, match="needs a symbolic model"):
        transfer.replace_norm_activation(keras.Sequential(), GroupNormSwish())


def test_comparison_reports_mean_and_standard_error_over_seeds():
    rng = np.random.RandomState(0)
    x = rng.rand(64, 6, 6, 1).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0.5).astype("int64")
    model = sk.Sequential([
        sk.Input(shape=(6, 6, 1)), L.Conv2D(4, 3), L.BatchNormalization(), L.ReLU(),
        L.GlobalAveragePooling2D(), L.Dense(2, activation="softmax")])
    layers = {"BN-ReLU": sk.BatchNormActivation("relu"), "GN-swish": GroupNormSwish()}
    table = transfer.compare_norm_activations(model, layers, (x, y), (x, y), steps=2,
                                              seeds=(0, 1, 2), batch_size=16,
                                              run_eagerly=True)
    assert [r.name for r in table.rows] == ["BN-ReLU", "GN-swish"]
    for row in table.rows:
        acc = np.array(row.accuracies)
        assert len(acc) == 3 and np.all((acc >= 0) & (acc <= 1))
        assert row.mean == pytest.approx(acc.mean())
        assert row.stderr == pytest.approx(acc.std(ddof=1) / np.sqrt(3))
    assert "BN-ReLU" in str(table) and "±" in str(table)
    # Same seed, same layer: the same run.
    again = transfer.compare_norm_activations(model, {"BN-ReLU": layers["BN-ReLU"]}, (x, y),
                                              (x, y), steps=2, seeds=(0, 1, 2),
                                              batch_size=16, run_eagerly=True)
    assert again.row("BN-ReLU").accuracies == table.row("BN-ReLU").accuracies
    with pytest.raises(ValueError, match="steps"):
        transfer.compare_norm_activations(model, layers, (x, y), (x, y), steps=0)


_JAX_SCRIPT = """
import numpy as np, keras, pyglove as pg
from symbolic_automl import keras as sk
from symbolic_automl.spaces import anchors, darts
assert keras.backend.backend() == "jax"

@pg.members([])
class LayerNormSwish(sk.NormActivation):
    def __call__(self, x, name):
        x = keras.layers.LayerNormalization(name=f"{name}_ln")(x)
        return keras.layers.Activation("swish", name=f"{name}_swish")(x)

layer = sk.NormActivationLayer(sk.BatchNormActivation("relu", momentum=0.5))
x = np.random.RandomState(0).randn(4, 5, 5, 3).astype("float32") + 2
layer(x, training=True)
mean = [w for w in layer.weights if "moving_mean" in w.path][0]
np.testing.assert_allclose(keras.ops.convert_to_numpy(mean), 0.5 * x.mean((0, 1, 2)),
                           atol=1e-4)
rng = np.random.RandomState(0)
net = darts.DartsNetwork.from_genotype(darts.AmoebaNet, channels=4, num_cells=5,
                                       norm_act=LayerNormSwish(), auxiliary=False)
models = [net] + list(anchors.anchors(norm_act=LayerNormSwish(), width_multiplier=0.125,
                                      depth_multiplier=0.34,
                                      input_shape=(32, 32, 3)).values())
for m in models:
    model = m.to_keras()
    assert any(isinstance(l, keras.layers.LayerNormalization)
               for l in model._flatten_layers()), m
    logits = isinstance(m, darts.DartsNetwork)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=logits))
    value = model.train_on_batch(rng.rand(4, 32, 32, 3).astype("float32"),
                                 rng.randint(0, 10, 4))
    assert np.isfinite(value), (m, value)
print("JAX OK", len(models))
"""


@pytest.mark.slow
def test_slot_layers_train_on_the_jax_backend():
    import subprocess
    import sys
    pytest.importorskip("jax")
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, "-c", _JAX_SCRIPT], env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "JAX OK 4" in done.stdout
