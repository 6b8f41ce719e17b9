"""MobileNetV2 / EfficientNet-style space: the reference equals keras.applications,
samples train a step, choices reach the model, infeasible settings give reasons."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pyglove as pg  # noqa: E402
import pytest  # noqa: E402

from symbolic_automl import errors  # noqa: E402
from symbolic_automl.spaces import mobilenet  # noqa: E402


def _trainable(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def test_reference_config_has_keras_applications_parameter_count():
    ours = mobilenet.mobilenet_v2().to_keras()
    reference = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3),
                                               classes=1000)
    assert _trainable(ours) == _trainable(reference) == 3_504_872
    assert ours.count_params() == reference.count_params()
    assert ours.output_shape == (None, 1000)


@pytest.mark.parametrize("alpha", [0.35, 1.3])
def test_reference_config_computes_what_keras_applications_computes(alpha):
    # Same weights in the same order give the same outputs: the blocks, the
    # channel rounding and the head scaling above width 1 are Keras's.
    reference = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3),
                                               classes=10, alpha=alpha)
    ours = mobilenet.mobilenet_v2(input_shape=(32, 32, 3), num_classes=10,
                                  width_multiplier=alpha).to_keras()
    assert [w.shape for w in ours.weights] == [w.shape for w in reference.weights]
    ours.set_weights(reference.get_weights())
    x = np.random.RandomState(0).rand(2, 32, 32, 3).astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0), reference.predict(x, verbose=0),
                               atol=1e-5)


def test_make_divisible_matches_keras_rounding():
    assert [mobilenet.make_divisible(v) for v in (32 * 0.35, 16 * 0.5, 24 * 0.75, 1280 * 1.3)] \
        == [16, 8, 24, 1664]


def test_space_has_per_stage_choices_and_global_width():
    space = mobilenet.mobilenet_space(resolutions=(160, 224))
    spec = pg.dna_spec(space)
    # 7 stages x (depth, kernel, expansion, SE, activation) + width + resolution.
    assert len(spec.decision_points) == 7 * 5 + 2
    sample = next(pg.random_sample(space, seed=0))
    assert all(s.kernel_size in (3, 5, 7) and s.expansion in (1, 3, 6) for s in sample.stages)
    assert sample.width_multiplier in (0.5, 0.75, 1.0) and sample.resolution in (160, 224)


def test_choices_reach_the_keras_model():
    stages = [mobilenet.Stage(filters=8, depth=1, stride=1, kernel_size=7, expansion=3,
                              squeeze_excite=True, activation="swish"),
              mobilenet.Stage(filters=16, depth=2, stride=2, kernel_size=5, expansion=1,
                              squeeze_excite=False, activation="relu")]
    model = mobilenet.MobileNet(stages, input_shape=(16, 16, 1), resolution=12,
                                num_classes=4, stem_filters=8, head_filters=32).to_keras()
    layers = {layer.name: layer for layer in model.layers}
    assert layers["resize"].output.shape[1:3] == (12, 12)
    assert layers["stage0_block0_depthwise"].kernel_size == (7, 7)
    assert layers["stage1_block1_depthwise"].kernel_size == (5, 5)
    assert "stage0_block0_se_excite" in layers and "stage1_block0_se_excite" not in layers
    assert "stage1_block0_expand" not in layers  # expansion 1: no 1x1 expansion
    assert layers["stage0_block0_expand"].filters == 8 * 3
    # SE squeezes to a quarter of the block input: 8 channels -> 2.
    assert layers["stage0_block0_se_reduce"].filters == 2
    assert layers["stage0_block0_depthwise_act"].get_config()["activation"] in ("swish", "silu")
    assert "stage1_block1_add" in layers and "stage1_block0_add" not in layers


def test_random_samples_build_and_train_one_step_on_tf():
    x = np.random.RandomState(0).rand(16, 8, 8, 1).astype("float32")
    y = np.arange(16) % 10
    space = mobilenet.small_mobilenet_space()
    for sample in pg.random_sample(space, num_examples=2, seed=1):
        model = sample.to_keras()
        model.compile("adam", "sparse_categorical_crossentropy")
        before = [w.copy() for w in model.get_weights()]
        loss = model.train_on_batch(x, y)
        assert np.isfinite(loss)
        assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_infeasible_settings_raise_with_reasons():
    network = mobilenet.small_mobilenet_space().clone(deep=True)
    network = next(pg.random_sample(network, seed=0))
    with pytest.raises(errors.InfeasibleError, match="kernel size 4"):
        network.clone(deep=True).rebind({"stages[0].kernel_size": 4}).to_keras()
    with pytest.raises(errors.InfeasibleError, match="activation 'gelu'"):
        network.clone(deep=True).rebind({"stages[1].activation": "gelu"}).to_keras()
    with pytest.raises(errors.InfeasibleError, match=r"parameters, more than max_params=100"):
        network.clone(deep=True).rebind(max_params=100).to_keras()
    with pytest.raises(errors.SearchSpaceError, match="hyper-values"):
        mobilenet.small_mobilenet_space().to_keras()


def test_bad_space_arguments_are_named():
    with pytest.raises(errors.SearchSpaceError, match="tanh"):
        mobilenet.mobilenet_space(activations=("relu", "tanh"))
    with pytest.raises(errors.SearchSpaceError, match="bad: \\[4\\]"):
        mobilenet.mobilenet_space(kernel_sizes=(3, 4))
