"""EvoNorm's anchors: reference parameter counts, a default slot that changes nothing,
a rebound slot that reaches every BN + activation place, tiny anchors that train."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pyglove as pg  # noqa: E402
import pytest  # noqa: E402

from symbolic_automl import data, errors  # noqa: E402
from symbolic_automl.keras import BatchNormActivation, NormActivation  # noqa: E402
from symbolic_automl.keras import transfer  # noqa: E402
from symbolic_automl.spaces import anchors, mobilenet, resnet  # noqa: E402

TINY = dict(width_multiplier=0.125, depth_multiplier=0.34, input_shape=(16, 16, 1))


@pg.members([("groups", pg.typing.Int(default=2))])
class GroupNormSwish(NormActivation):
    """A slot value unlike batch norm, so its layers can be counted."""

    def __call__(self, x, name):
        x = keras.layers.GroupNormalization(self.groups, name=f"{name}_gn")(x)
        return keras.layers.Activation("swish", name=f"{name}_swish")(x)


def _trainable(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def _count(model, layer_type):
    return sum(isinstance(layer, layer_type) for layer in model.layers)


def _bn_activation_places(model):
    """Batch norms whose only consumer is an activation layer."""
    places = 0
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        consumers = [n.operation for n in layer.output._keras_history.operation
                     ._outbound_nodes]
        if len(consumers) == 1 and isinstance(
                consumers[0], (keras.layers.ReLU, keras.layers.Activation)):
            places += 1
    return places


def test_preact_resnet18_has_the_reference_parameter_count():
    model = resnet.preact_resnet(18).to_keras()
    # kuangliu/pytorch-cifar PreActResNet18 (11,171,146) + the final BN's scale and shift.
    assert _trainable(model) == 11_171_146 + 2 * 512
    assert model.output_shape == (None, 10)
    # Every batch norm is followed by its ReLU: 2 per unit x 8 units + the final one.
    assert _count(model, keras.layers.BatchNormalization) == 17 == _bn_activation_places(model)


def test_preact_units_shape_and_shortcuts():
    model = resnet.preact_resnet(26, width_multiplier=0.25,
                                 input_shape=(16, 16, 3)).to_keras()
    layers = {layer.name: layer for layer in model.layers}
    assert layers["stage0_unit0_conv3"].filters == 4 * 16  # bottleneck: 4x the width
    assert layers["stage0_unit0_shortcut"].filters == 64  # 16 stem channels -> 64
    assert "stage0_unit1_shortcut" not in layers  # same shape: identity
    assert layers["stage1_unit0_conv2"].strides == (2, 2)
    assert layers["stage1_unit0_shortcut"].strides == (2, 2)
    assert model.get_layer("global_pool").input.shape[1:3] == (2, 2)  # 16 / 8
    # The shortcut convolves the activated input, not the raw one.
    assert layers["stage1_unit0_shortcut"].input is layers["stage1_unit0_preact_act"].output
    assert _bn_activation_places(model) == 3 * 8 + 1


@pytest.mark.slow
def test_efficientnet_b0_has_the_keras_applications_parameter_count():
    assert _trainable(mobilenet.efficientnet_b0().to_keras()) == 5_288_548 == _trainable(
        keras.applications.EfficientNetB0(weights=None))


@pytest.mark.slow
def test_efficientnet_b0_computes_what_keras_applications_computes():
    reference = keras.applications.EfficientNetB0(weights=None, input_shape=(32, 32, 3),
                                                  classes=10)
    ours = mobilenet.efficientnet_b0(input_shape=(32, 32, 3), num_classes=10).to_keras()
    # The reference starts with Rescaling(1/255) and an identity Normalization
    # (3 weights); the rest is layer for layer the same.
    assert [w.shape for w in ours.weights] == [w.shape for w in reference.weights[3:]]
    rng = np.random.RandomState(0)
    weights = [w + rng.normal(0, 0.05, w.shape).astype("float32")
               for w in reference.get_weights()]
    weights[4] = np.abs(weights[4]) + 1.0  # the variances stay positive
    reference.set_weights(weights)
    assert _trainable(ours) == _trainable(reference)
    ours.set_weights(weights[3:])
    x = rng.rand(2, 32, 32, 3).astype("float32")
    expected = reference.predict(x * 255.0, verbose=0)
    assert expected.std() > 0.02  # far from the uniform output of a broken network
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, atol=1e-5)


def test_default_slot_builds_todays_layers():
    network = mobilenet.mobilenet_v2(input_shape=(32, 32, 3), num_classes=10,
                                     width_multiplier=0.35)
    explicit = network.clone(deep=True).rebind(
        norm_act=BatchNormActivation("relu6", momentum=0.999, epsilon=1e-3))
    ours, same = network.to_keras(), explicit.to_keras()
    assert [layer.name for layer in ours.layers[1:]] == [
        layer.name for layer in same.layers[1:]]
    assert ours.count_params() == same.count_params()
    names = {layer.name for layer in ours.layers}
    assert {"stem_bn", "stem_act", "stage1_block0_expand_bn", "stage1_block0_expand_act",
            "stage1_block0_depthwise_act", "head_act"} <= names


@pytest.mark.parametrize("name", anchors.ANCHORS)
def test_rebinding_the_slot_reaches_every_place(name):
    network = anchors.anchor(name, **TINY)
    default = network.to_keras()
    places = _bn_activation_places(default)
    bns = _count(default, keras.layers.BatchNormalization)
    assert places > 5
    swapped = transfer.replace_norm_activation(network, GroupNormSwish())
    assert network.norm_act != GroupNormSwish()  # the input is not changed
    model = swapped.to_keras()
    assert _count(model, keras.layers.GroupNormalization) == places
    # Only batch norms without an activation (MobileNets' linear projections) stay.
    assert _count(model, keras.layers.BatchNormalization) == bns - places
    assert model.output_shape == default.output_shape
    # anchor(norm_act=...) is the same rebinding.
    assert pg.eq(anchors.anchor(name, norm_act=GroupNormSwish(), **TINY), swapped)


def test_mobilenet_places_are_stem_expand_depthwise_and_head():
    network = anchors.mobilenet_v2_anchor(**TINY)
    blocks = [(s.expansion, s.depth) for s in network.stages]
    expected = 2 + sum(depth * (2 if expansion != 1 else 1) for expansion, depth in blocks)
    assert _bn_activation_places(network.to_keras()) == expected


def test_cifar_sizing_downsamples_eight_times():
    for name, network in anchors.anchors(**TINY).items():
        model = network.to_keras()
        assert model.get_layer("global_pool").input.shape[1:3] == (2, 2), name


@pytest.fixture(scope="module")
def digits16():
    (x, y), _ = data.load("digits")
    x = keras.ops.convert_to_numpy(keras.ops.image.resize(x[:32], (16, 16)))
    return x.astype("float32"), y[:32]


@pytest.mark.parametrize("norm_act", [None, GroupNormSwish()], ids=["default", "swapped"])
def test_tiny_anchors_train_a_step_on_digits(digits16, norm_act):
    x, y = digits16
    for name, network in anchors.anchors(norm_act=norm_act, **TINY).items():
        model = network.to_keras()
        assert model.count_params() < 100_000, name
        # Eager: one step does not pay for tracing a graph of 100+ layers.
        model.compile("adam", "sparse_categorical_crossentropy", run_eagerly=True)
        before = [w.copy() for w in model.get_weights()]
        loss = model.train_on_batch(x, y)
        assert np.isfinite(loss), name
        assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_bad_arguments_are_named():
    with pytest.raises(errors.SearchSpaceError, match="depth 19"):
        resnet.preact_resnet(19)
    with pytest.raises(errors.SearchSpaceError, match="depth_multiplier"):
        mobilenet.mobilenet_v2(depth_multiplier=0)
    with pytest.raises(ValueError, match="Unknown anchor 'vgg'"):
        anchors.anchor("vgg")
    with pytest.raises(errors.InfeasibleError, match="5 stages"):
        resnet.PreActResNet([1] * 5).to_keras()


@pytest.mark.slow
def test_held_out_comparison_trains_bn_relu_b0_s0_and_the_found_layer(digits16):
    pytest.importorskip("symbolic_automl.spaces.evonorm")
    x, y = digits16
    model = resnet.preact_resnet(18, width_multiplier=0.0625, depth_multiplier=0.5,
                                 input_shape=(16, 16, 1))
    table = anchors.held_out_comparison(model, GroupNormSwish(), (x, y), (x, y), steps=2,
                                        seeds=(0, 1), batch_size=16, run_eagerly=True)
    assert [r.name for r in table.rows] == ["BN-ReLU", "EvoNorm-B0", "EvoNorm-S0", "found"]
    for row in table.rows:
        acc = np.array(row.accuracies)
        assert len(acc) == 2 and np.all((acc >= 0) & (acc <= 1))
        assert row.stderr == pytest.approx(acc.std(ddof=1) / np.sqrt(2))
    assert table.architecture == "PreActResNet"


def test_held_out_rows_use_the_reference_batch_norm_constants():
    pytest.importorskip("symbolic_automl.spaces.evonorm")
    layers = anchors.held_out_layers(GroupNormSwish(), groups=4)
    assert list(layers) == ["BN-ReLU", "EvoNorm-B0", "EvoNorm-S0", "found"]
    bn = layers["BN-ReLU"]
    # tensorflow/tpu batch_norm_relu: momentum 0.9, epsilon 1e-5 (not Keras' 0.99, 1e-3).
    assert (bn.activation, bn.momentum, bn.epsilon) == ("relu", 0.9, 1e-5)
    assert layers["EvoNorm-S0"].groups == 4 and layers["EvoNorm-B0"].momentum == 0.9
    assert str(layers["EvoNorm-S0"]) == "x·σ(v1·x) / s_{w,h,c/g}(x)"
    assert pg.eq(layers["found"], GroupNormSwish())
