"""MobileNetV2 / EfficientNet-style search space: stages of inverted residual blocks.

The skeleton is MobileNetV2's (Sandler et al. 2018, "MobileNetV2: Inverted Residuals
and Linear Bottlenecks", CVPR), as `keras.applications.MobileNetV2` builds it: a 3x3
stride-2 conv stem, stages of inverted residual blocks (1x1 expansion, depthwise
kxk, linear 1x1 projection, identity shortcut when shapes match), a 1x1 head conv,
global average pooling and a dense classifier; channels scale with a width
multiplier and are rounded to multiples of 8. The per-stage choices are those of
MnasNet / EfficientNet (Tan et al. 2019): kernel size {3, 5, 7}, expansion
{1, 3, 6}, depth, squeeze-and-excitation on/off, activation {relu, swish}; with the
width multiplier and the input resolution (a `Resizing` layer in front).

Every batch norm followed by an activation is one normalization-activation slot,
the `norm_act` field (`symbolic_automl.keras.NormActivation`): None keeps today's
layers; `network.rebind(norm_act=layer)` puts `layer` in every such place.

Example::

    import pyglove as pg
    from symbolic_automl.spaces import mobilenet

    reference = mobilenet.mobilenet_v2()     # 224x224, width 1.0, 1000 classes
    reference.to_keras()                     # 3,504,872 params, as keras.applications

    space = mobilenet.mobilenet_space(input_shape=(32, 32, 3), num_classes=10)
    model = next(pg.random_sample(space, seed=0)).to_keras()
"""

import math
from typing import Optional, Sequence

import keras
import pyglove as pg

from symbolic_automl import errors
from symbolic_automl.keras.norm_activation import BatchNormActivation, NormActivation

ACTIVATIONS = ("relu", "relu6", "swish")

# MobileNetV2's stages: (expansion, filters, depth, stride), Table 2 of the paper.
MOBILENET_V2_STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)

# EfficientNet-B0's stages: (expansion, filters, depth, stride, kernel size), Table 1
# of Tan & Le 2019 (keras.applications.EfficientNetB0's DEFAULT_BLOCKS_ARGS).
EFFICIENTNET_B0_STAGES = (
    (1, 16, 1, 1, 3),
    (6, 24, 2, 2, 3),
    (6, 40, 2, 2, 5),
    (6, 80, 3, 2, 3),
    (6, 112, 3, 1, 5),
    (6, 192, 4, 2, 5),
    (6, 320, 1, 1, 3),
)

# keras.applications.MobileNetV2's batch norm epsilon.
_BN_EPSILON = 1e-3


def make_divisible(value: float, divisor: int = 8, min_value: Optional[int] = None) -> int:
    """Rounds a channel count to a multiple of `divisor`, never more than 10% down.

    The rounding of MobileNetV2 and of `keras.applications` (`_make_divisible`).
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


@pg.members([
    ("filters", pg.typing.Int(min_value=1), "Output channels at width multiplier 1."),
    ("depth", pg.typing.Int(min_value=1, default=1), "Blocks in the stage."),
    ("stride", pg.typing.Int(min_value=1, max_value=2, default=1),
     "Stride of the stage's first block."),
    ("kernel_size", pg.typing.Int(min_value=1, default=3), "Depthwise kernel size (odd)."),
    ("expansion", pg.typing.Int(min_value=1, default=6),
     "Expansion ratio; 1 leaves out the 1x1 expansion conv."),
    ("squeeze_excite", pg.typing.Bool(default=False),
     "Add a squeeze-and-excitation unit after the depthwise conv."),
    ("activation", pg.typing.Str(default="relu6"), f"One of {ACTIVATIONS}."),
])
class Stage(pg.Object):
    """A stage of inverted residual blocks sharing one configuration."""


@pg.members([
    ("stages", pg.typing.List(pg.typing.Object(Stage), min_size=1), "The stages, in order."),
    ("input_shape", pg.typing.Tuple([pg.typing.Int(min_value=1)] * 3,
                                    default=(224, 224, 3)),
     "Shape of the data the model receives, channels last."),
    ("resolution", pg.typing.Int(min_value=1).noneable(),
     "Side the images are resized to inside the model; None keeps the input size."),
    ("num_classes", pg.typing.Int(min_value=1, default=1000), "Output classes."),
    ("width_multiplier", pg.typing.Float(min_value=0.01, default=1.0),
     "Scales every channel count (MobileNetV2's alpha)."),
    ("stem_filters", pg.typing.Int(min_value=1, default=32), "Stem channels at width 1."),
    ("stem_stride", pg.typing.Int(min_value=1, max_value=2, default=2), "Stem stride."),
    ("head_filters", pg.typing.Int(min_value=1, default=1280),
     "Channels of the 1x1 head conv (scaled only for widths above 1, as in Keras)."),
    ("activation", pg.typing.Str(default="relu6"), "Activation of the stem and head."),
    ("se_ratio", pg.typing.Float(min_value=0.0, max_value=1.0, default=0.25),
     "Squeeze channels as a share of the block's input channels (EfficientNet)."),
    ("bn_momentum", pg.typing.Float(min_value=0.0, max_value=1.0, default=0.999),
     "Batch norm momentum (Keras' 0.999); short proxy runs need ~0.9."),
    ("dropout", pg.typing.Float(min_value=0.0, max_value=0.99, default=0.0),
     "Dropout before the classifier."),
    ("classifier_activation", pg.typing.Str(default="softmax").noneable(),
     "Activation of the classifier; None for logits."),
    ("max_params", pg.typing.Int(min_value=1).noneable(),
     "Models with more parameters are infeasible (a deployment budget)."),
    ("norm_act", pg.typing.Object(NormActivation).noneable(),
     "The normalization-activation slot: what follows the stem, expansion, depthwise "
     "and head convs. None (default) builds today's layers, batch norm "
     "(`bn_momentum`, epsilon 1e-3) then the place's own activation; a "
     "`NormActivation` replaces all of those BN + activation pairs at once. The "
     "projection's batch norm (a linear bottleneck, no activation) stays."),
], init_arg_list=["stages"])
class MobileNet(pg.Object):
    """A MobileNetV2 / EfficientNet-style network; `to_keras()` builds it."""

    def check(self) -> None:
        """Raises `InfeasibleError` naming the bad setting if this network cannot be built."""
        if not pg.is_deterministic(self):
            raise errors.SearchSpaceError(
                "MobileNet still holds hyper-values; materialize it first "
                "(pg.materialize, pg.random_sample or a search).")
        activations = [("stem/head", self.activation)] + [
            (f"stage {i}", s.activation) for i, s in enumerate(self.stages)]
        for where, activation in activations:
            if activation not in ACTIVATIONS:
                raise errors.InfeasibleError(
                    f"MobileNet {where} has activation {activation!r}; expected one of "
                    f"{list(ACTIVATIONS)}.")
        for i, stage in enumerate(self.stages):
            if stage.kernel_size % 2 == 0:
                raise errors.InfeasibleError(
                    f"MobileNet stage {i} has kernel size {stage.kernel_size}; expected an "
                    "odd size (3, 5, 7) so that 'same' padding is symmetric.")

    def to_keras(self) -> keras.Model:
        """A fresh Keras model (raises `InfeasibleError` if infeasible or over budget)."""
        self.check()
        width = self.width_multiplier
        bn = self.bn_momentum
        inputs = keras.Input(shape=tuple(self.input_shape))
        x = inputs
        if self.resolution is not None and tuple(self.input_shape[:2]) != (
                self.resolution, self.resolution):
            x = keras.layers.Resizing(self.resolution, self.resolution, name="resize")(x)
        x = keras.layers.Conv2D(make_divisible(self.stem_filters * width), 3,
                                strides=self.stem_stride, padding="same", use_bias=False,
                                name="stem_conv")(x)
        x = self.norm_activation(self.activation)(x, "stem")
        for i, stage in enumerate(self.stages):
            filters = make_divisible(int(stage.filters * width))
            for j in range(stage.depth):
                x = _inverted_residual(x, stage, filters, stage.stride if j == 0 else 1,
                                       self.se_ratio, f"stage{i}_block{j}", bn,
                                       self.norm_activation(stage.activation))
        head = make_divisible(self.head_filters * width) if width > 1.0 else self.head_filters
        x = keras.layers.Conv2D(head, 1, use_bias=False, name="head_conv")(x)
        x = self.norm_activation(self.activation)(x, "head")
        x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
        if self.dropout:
            x = keras.layers.Dropout(self.dropout, name="dropout")(x)
        outputs = keras.layers.Dense(self.num_classes, activation=self.classifier_activation,
                                     name="classifier")(x)
        model = keras.Model(inputs, outputs, name="mobilenet")
        if self.max_params is not None and model.count_params() > self.max_params:
            raise errors.InfeasibleError(
                f"MobileNet has {model.count_params():,} parameters, more than "
                f"max_params={self.max_params:,}.")
        return model

    def norm_activation(self, activation: str) -> NormActivation:
        """The slot value at a place whose own activation is `activation`.

        `norm_act` when set; otherwise batch norm then `activation`, which names
        its layers `{place}_bn` and `{place}_act` as this network always has.
        """
        if self.norm_act is not None:
            return self.norm_act
        return BatchNormActivation(activation, momentum=self.bn_momentum,
                                   epsilon=_BN_EPSILON)


def _inverted_residual(inputs, stage: Stage, filters: int, stride: int, se_ratio: float,
                       name: str, bn: float, norm_act: NormActivation):
    in_channels = int(inputs.shape[-1])
    x = inputs
    if stage.expansion != 1:
        x = keras.layers.Conv2D(in_channels * stage.expansion, 1, use_bias=False,
                                name=f"{name}_expand")(x)
        x = norm_act(x, f"{name}_expand")
    # 'same' padding pads like the reference's ZeroPadding2D(correct_pad) + 'valid'.
    x = keras.layers.DepthwiseConv2D(stage.kernel_size, strides=stride, padding="same",
                                     use_bias=False, name=f"{name}_depthwise")(x)
    x = norm_act(x, f"{name}_depthwise")
    if stage.squeeze_excite and se_ratio > 0:
        x = _squeeze_excite(x, max(1, int(in_channels * se_ratio)), stage.activation,
                            f"{name}_se")
    x = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_project")(x)
    x = _batch_norm(f"{name}_project_bn", bn)(x)
    if stride == 1 and in_channels == filters:
        x = keras.layers.Add(name=f"{name}_add")([inputs, x])
    return x


def _squeeze_excite(x, squeeze_channels: int, activation: str, name: str):
    channels = int(x.shape[-1])
    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_squeeze")(x)
    s = keras.layers.Conv2D(squeeze_channels, 1, name=f"{name}_reduce")(s)
    s = _activation(activation, f"{name}_reduce_act")(s)
    s = keras.layers.Conv2D(channels, 1, activation="sigmoid", name=f"{name}_expand")(s)
    return keras.layers.Multiply(name=f"{name}_excite")([x, s])


def _batch_norm(name: str, momentum: float):
    return keras.layers.BatchNormalization(momentum=momentum, epsilon=_BN_EPSILON, name=name)


def _activation(name: str, layer_name: str):
    if name == "relu6":
        return keras.layers.ReLU(6.0, name=layer_name)
    return keras.layers.Activation(name, name=layer_name)


def mobilenet_v2(input_shape=(224, 224, 3), num_classes: int = 1000,
                 width_multiplier: float = 1.0, depth_multiplier: float = 1.0,
                 **kwargs) -> MobileNet:
    """The reference MobileNetV2 (relu6, no squeeze-excite, 3x3 depthwise kernels).

    `depth_multiplier` scales each stage's blocks (`scale_depth`); 1 is the paper's.
    """
    stages = [Stage(filters=f, depth=scale_depth(n, depth_multiplier), stride=s,
                    kernel_size=3, expansion=t,
                    squeeze_excite=False, activation="relu6")
              for t, f, n, s in MOBILENET_V2_STAGES]
    return MobileNet(stages, input_shape=tuple(input_shape), num_classes=num_classes,
                     width_multiplier=width_multiplier, **kwargs)


def scale_depth(depth: int, depth_multiplier: float) -> int:
    """Blocks of a stage after a depth multiplier: `ceil(depth * multiplier)`, at least 1.

    EfficientNet's `round_repeats`.
    """
    if not depth_multiplier > 0:
        raise errors.SearchSpaceError(
            f"depth_multiplier must be positive, got {depth_multiplier!r}.")
    return max(1, int(math.ceil(depth * depth_multiplier)))


def efficientnet_b0(input_shape=(224, 224, 3), num_classes: int = 1000,
                    width_multiplier: float = 1.0, depth_multiplier: float = 1.0,
                    **kwargs) -> MobileNet:
    """EfficientNet-B0 (Tan & Le 2019) on this skeleton: swish, squeeze-excite in
    every block, the kernels and depths of its Table 1, batch norm momentum 0.99.

    At the defaults it has `keras.applications.EfficientNetB0`'s 5,288,548
    trainable parameters (that model adds input rescaling, normalization, and
    drop-connect in training, which are not searched here).
    """
    stages = [Stage(filters=f, depth=scale_depth(n, depth_multiplier), stride=s,
                    kernel_size=k, expansion=t, squeeze_excite=True, activation="swish")
              for t, f, n, s, k in EFFICIENTNET_B0_STAGES]
    defaults = dict(activation="swish", se_ratio=0.25, bn_momentum=0.99, dropout=0.2)
    defaults.update(kwargs)
    return MobileNet(stages, input_shape=tuple(input_shape), num_classes=num_classes,
                     width_multiplier=width_multiplier, **defaults)


def mobilenet_space(input_shape=(224, 224, 3), num_classes: int = 1000,
                    stages: Sequence[tuple] = MOBILENET_V2_STAGES,
                    kernel_sizes: Sequence[int] = (3, 5, 7),
                    expansions: Sequence[int] = (1, 3, 6),
                    depth_offsets: Sequence[int] = (-1, 0, 1),
                    squeeze_excite: Sequence[bool] = (False, True),
                    activations: Sequence[str] = ("relu", "swish"),
                    width_multipliers: Sequence[float] = (0.5, 0.75, 1.0),
                    resolutions: Optional[Sequence[int]] = None,
                    **kwargs) -> MobileNet:
    """The MobileNetV2 skeleton with per-stage choices (MnasNet / EfficientNet style).

    Args:
      input_shape: shape of the data, channels last.
      num_classes: output classes.
      stages: the skeleton's `(expansion, filters, depth, stride)` per stage; filters
        and strides stay fixed, the other fields become choices.
      kernel_sizes: depthwise kernel candidates of each stage.
      expansions: expansion ratio candidates of each stage.
      depth_offsets: added to each stage's skeleton depth (results below 1 dropped).
      squeeze_excite: squeeze-and-excitation candidates of each stage.
      activations: activation candidates of each stage.
      width_multipliers: candidates of the global width multiplier.
      resolutions: candidate input sides (resized inside the model); None keeps the
        data's size.
      **kwargs: other `MobileNet` fields (stem_filters, stem_stride, head_filters,
        activation, se_ratio, dropout, classifier_activation, max_params).

    Returns:
      A `MobileNet` holding hyper-values.
    """
    bad = [a for a in activations if a not in ACTIVATIONS]
    if not activations or bad:
        raise errors.SearchSpaceError(
            f"activations {list(activations)!r} must be a non-empty list from "
            f"{list(ACTIVATIONS)}; unknown: {bad}.")
    bad = [k for k in kernel_sizes if not isinstance(k, int) or k < 1 or k % 2 == 0]
    if not kernel_sizes or bad:
        raise errors.SearchSpaceError(
            f"kernel_sizes {list(kernel_sizes)!r} must be odd positive integers; bad: {bad}.")

    def choice(candidates):
        candidates = list(candidates)
        return candidates[0] if len(candidates) == 1 else pg.oneof(candidates)

    space_stages = []
    for _, filters, depth, stride in stages:
        depths = sorted({depth + d for d in depth_offsets if depth + d >= 1})
        if not depths:
            raise errors.SearchSpaceError(
                f"depth_offsets {list(depth_offsets)!r} leave no depth >= 1 for a stage of "
                f"depth {depth}.")
        space_stages.append(Stage(
            filters=filters, stride=stride, depth=choice(depths),
            kernel_size=choice(kernel_sizes), expansion=choice(expansions),
            squeeze_excite=choice(squeeze_excite), activation=choice(activations)))
    return MobileNet(
        space_stages, input_shape=tuple(input_shape), num_classes=num_classes,
        width_multiplier=choice(width_multipliers),
        resolution=None if resolutions is None else choice(resolutions), **kwargs)


def small_mobilenet_space(input_shape=(8, 8, 1), num_classes: int = 10,
                          **kwargs) -> MobileNet:
    """A three-stage, narrow version of `mobilenet_space` for digits on a laptop CPU."""
    defaults = dict(stages=((1, 8, 1, 1), (6, 16, 2, 2), (6, 24, 2, 2)),
                    stem_filters=8, stem_stride=1, head_filters=64,
                    width_multipliers=(0.5, 1.0), bn_momentum=0.9)
    defaults.update(kwargs)
    return mobilenet_space(input_shape=input_shape, num_classes=num_classes, **defaults)
