"""Pre-activation ResNets for CIFAR-sized images (He et al. 2016, "Identity Mappings
in Deep Residual Networks", ECCV).

Each residual unit normalizes and activates first and convolves after:
`y = x + conv(na(conv(na(x))))` (basic unit) or the three-conv bottleneck; when a
unit changes resolution or width, a 1x1 convolution of `na(x)` is the shortcut. A
3x3 stride-1 stem convolution, four stages (64, 128, 256, 512 channels at width 1;
stride 2 from the second stage on), a final normalization-activation, global
average pooling and a dense classifier. Every batch norm is followed by ReLU, so
every one is a place of the normalization-activation slot `norm_act`
(`symbolic_automl.keras.NormActivation`; default batch norm then ReLU).

At width 1, `preact_resnet(18)` has the 11,171,146 trainable parameters of the
common CIFAR PreActResNet-18 (github.com/kuangliu/pytorch-cifar) plus 1,024 for
the final batch norm, which that code leaves out and the paper has.

Example::

    from symbolic_automl.spaces import resnet

    model = resnet.preact_resnet(18).to_keras()              # 11,172,170 trainable
    tiny = resnet.preact_resnet(18, width_multiplier=0.125,
                                depth_multiplier=0.5, input_shape=(16, 16, 1))
"""

import keras
import pyglove as pg

from symbolic_automl import errors
from symbolic_automl.keras.norm_activation import BatchNormActivation, NormActivation
from symbolic_automl.spaces.mobilenet import scale_depth

# depth -> (bottleneck units, units per stage), as in He et al. 2016 (and
# ResNet-26: the bottleneck network with two units per stage).
DEPTHS = {
    18: (False, (2, 2, 2, 2)),
    34: (False, (3, 4, 6, 3)),
    26: (True, (2, 2, 2, 2)),
    50: (True, (3, 4, 6, 3)),
    101: (True, (3, 4, 23, 3)),
}

STAGE_FILTERS = (64, 128, 256, 512)

# PyTorch's BatchNorm2d defaults, as the CIFAR reference code trains with.
DEFAULT_NORM_ACT = BatchNormActivation("relu", momentum=0.9, epsilon=1e-5)


@pg.members([
    ("units", pg.typing.List(pg.typing.Int(min_value=1), min_size=1),
     "Residual units per stage; stage i has STAGE_FILTERS[i] (times the width) "
     "channels and stride 2 for i > 0."),
    ("bottleneck", pg.typing.Bool(default=False),
     "Bottleneck units (1x1, 3x3, 1x1 with 4x the channels) instead of basic (3x3, 3x3)."),
    ("input_shape", pg.typing.Tuple([pg.typing.Int(min_value=1)] * 3,
                                    default=(32, 32, 3)),
     "Image shape, channels last."),
    ("num_classes", pg.typing.Int(min_value=1, default=10), "Output classes."),
    ("width_multiplier", pg.typing.Float(min_value=0.01, default=1.0),
     "Scales every channel count (rounded, at least 1)."),
    ("stem_filters", pg.typing.Int(min_value=1, default=64), "Stem channels at width 1."),
    ("norm_act", pg.typing.Object(NormActivation, default=DEFAULT_NORM_ACT),
     "The normalization-activation slot: every place normalizes then activates."),
    ("classifier_activation", pg.typing.Str(default="softmax").noneable(),
     "Activation of the classifier; None for logits."),
], init_arg_list=["units"])
class PreActResNet(pg.Object):
    """A pre-activation ResNet; `to_keras()` builds it."""

    def check(self) -> None:
        """Raises `SearchSpaceError` if hyper-values remain, `InfeasibleError` if the
        network cannot be built."""
        if not pg.is_deterministic(self):
            raise errors.SearchSpaceError(
                "PreActResNet still holds hyper-values; materialize it first "
                "(pg.materialize, pg.random_sample or a search).")
        if len(self.units) > len(STAGE_FILTERS):
            raise errors.InfeasibleError(
                f"PreActResNet has {len(self.units)} stages; at most "
                f"{len(STAGE_FILTERS)} are defined ({list(STAGE_FILTERS)} channels).")

    def filters(self, stage: int) -> int:
        """Channels of the convolutions of `stage` (before the bottleneck's 4x)."""
        return _scaled(STAGE_FILTERS[stage], self.width_multiplier)

    def to_keras(self) -> keras.Model:
        """A fresh Keras model."""
        self.check()
        inputs = keras.Input(shape=tuple(self.input_shape))
        x = keras.layers.Conv2D(_scaled(self.stem_filters, self.width_multiplier), 3,
                                padding="same", use_bias=False, name="stem_conv")(inputs)
        unit = _bottleneck_unit if self.bottleneck else _basic_unit
        for i, units in enumerate(self.units):
            for j in range(units):
                x = unit(x, self.filters(i), 2 if i > 0 and j == 0 else 1, self.norm_act,
                         f"stage{i}_unit{j}")
        x = self.norm_act(x, "final")
        x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
        outputs = keras.layers.Dense(self.num_classes, activation=self.classifier_activation,
                                     name="classifier")(x)
        return keras.Model(inputs, outputs, name="preact_resnet")


def _scaled(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


def _conv(x, filters, kernel_size, stride, name):
    return keras.layers.Conv2D(filters, kernel_size, strides=stride, padding="same",
                               use_bias=False, name=name)(x)


def _shortcut(inputs, activated, out_channels, stride, name):
    # A projection of the activated input when the shape changes, as in the paper's
    # pre-activation code; otherwise the identity of the raw input.
    if stride != 1 or int(inputs.shape[-1]) != out_channels:
        return _conv(activated, out_channels, 1, stride, f"{name}_shortcut")
    return inputs


def _basic_unit(inputs, filters, stride, norm_act, name):
    x = norm_act(inputs, f"{name}_preact")
    shortcut = _shortcut(inputs, x, filters, stride, name)
    x = _conv(x, filters, 3, stride, f"{name}_conv1")
    x = norm_act(x, f"{name}_mid")
    x = _conv(x, filters, 3, 1, f"{name}_conv2")
    return keras.layers.Add(name=f"{name}_add")([shortcut, x])


def _bottleneck_unit(inputs, filters, stride, norm_act, name):
    x = norm_act(inputs, f"{name}_preact")
    shortcut = _shortcut(inputs, x, 4 * filters, stride, name)
    x = _conv(x, filters, 1, 1, f"{name}_conv1")
    x = norm_act(x, f"{name}_mid1")
    x = _conv(x, filters, 3, stride, f"{name}_conv2")
    x = norm_act(x, f"{name}_mid2")
    x = _conv(x, 4 * filters, 1, 1, f"{name}_conv3")
    return keras.layers.Add(name=f"{name}_add")([shortcut, x])


def preact_resnet(depth: int = 18, width_multiplier: float = 1.0,
                  depth_multiplier: float = 1.0, **kwargs) -> PreActResNet:
    """The pre-activation ResNet of a standard depth (18, 26, 34, 50, 101).

    Args:
      depth: one of `DEPTHS`.
      width_multiplier: scales every channel count.
      depth_multiplier: scales each stage's units (`ceil`, at least 1).
      **kwargs: other `PreActResNet` fields (input_shape, num_classes, norm_act, ...).
    """
    if depth not in DEPTHS:
        raise errors.SearchSpaceError(
            f"preact_resnet depth {depth!r} is not one of {sorted(DEPTHS)}.")
    bottleneck, units = DEPTHS[depth]
    return PreActResNet([scale_depth(u, depth_multiplier) for u in units],
                        bottleneck=bottleneck, width_multiplier=width_multiplier, **kwargs)

