"""Anchor architectures: a candidate layer is trained in each of them.

An `Anchor` is a name and a function `norm_act -> keras.Model` that builds
the architecture with every normalization-activation slot filled by
`norm_act` (a `NormActivation`: `BatchNormActivation()`, a `LayerGraph`, ...),
so any symbolic architecture with that slot is an anchor. `tiny_anchors` gives
three small ones shaped like the paper's (a pre-activation ResNet, a
MobileNetV2 and an EfficientNet-style block), sized for CPU searches; the
full-size anchor families live with the architecture spaces.

Example::

    anchors = tiny_anchors(input_shape=(8, 8, 1), num_classes=10)
    model = anchors[0].build(evonorm_s0(groups=4))      # a keras.Model
"""

import dataclasses
import functools
from typing import Any, Callable, List, Sequence

import keras

from symbolic_automl.keras.norm_activation import NormActivation


@dataclasses.dataclass(frozen=True)
class Anchor:
    """An architecture to train candidate layers in.

    Attributes:
        name: short name; the candidate's accuracy in it is metric `acc_<name>`.
        build: `norm_act -> keras.Model` (uncompiled; logits out).
    """

    name: str
    build: Callable[[NormActivation], Any]

    def __post_init__(self):
        if not self.name.isidentifier():
            raise ValueError(f"Anchor name must be an identifier (it names a metric), "
                             f"got {self.name!r}")


def tiny_resnet(norm_act: NormActivation, input_shape: Sequence[int], num_classes: int,
                width: int = 16, blocks: int = 2):
    """A pre-activation ResNet: stem, `blocks` × (norm-act, conv, norm-act, conv) + skip."""
    layers = keras.layers
    inputs = keras.Input(shape=tuple(input_shape))
    x = layers.Conv2D(width, 3, strides=2, padding="same", use_bias=False, name="stem")(inputs)
    for b in range(blocks):
        h = norm_act(x, name=f"block{b}_norm1")
        h = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"block{b}_conv1")(h)
        h = norm_act(h, name=f"block{b}_norm2")
        h = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"block{b}_conv2")(h)
        x = layers.Add(name=f"block{b}_add")([x, h])
    x = norm_act(x, name="final_norm")
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(num_classes, name="logits")(x), name="tiny_resnet")


def _inverted_residual(x, norm_act, expand: int, name: str, squeeze_excite: bool):
    layers = keras.layers
    channels = x.shape[-1]
    h = layers.Conv2D(channels * expand, 1, use_bias=False, name=f"{name}_expand")(x)
    h = norm_act(h, name=f"{name}_expand_norm")
    h = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"{name}_dw")(h)
    h = norm_act(h, name=f"{name}_dw_norm")
    if squeeze_excite:
        s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_se_pool")(h)
        s = layers.Conv2D(max(1, channels // 4), 1, activation="swish", name=f"{name}_se_reduce")(s)
        s = layers.Conv2D(channels * expand, 1, activation="sigmoid", name=f"{name}_se_expand")(s)
        h = layers.Multiply(name=f"{name}_se")([h, s])
    h = layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_project")(h)
    return layers.Add(name=f"{name}_add")([x, h])


def tiny_mobilenet(norm_act: NormActivation, input_shape: Sequence[int], num_classes: int,
                   width: int = 16, blocks: int = 2, expand: int = 2,
                   squeeze_excite: bool = False, name: str = "tiny_mobilenet"):
    """MobileNetV2-style: stem, `blocks` inverted residuals (expand, depthwise, project)."""
    layers = keras.layers
    inputs = keras.Input(shape=tuple(input_shape))
    x = layers.Conv2D(width, 3, strides=2, padding="same", use_bias=False, name="stem")(inputs)
    x = norm_act(x, name="stem_norm")
    for b in range(blocks):
        x = _inverted_residual(x, norm_act, expand, f"block{b}", squeeze_excite)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(num_classes, name="logits")(x), name=name)


def tiny_anchors(input_shape: Sequence[int] = (8, 8, 1), num_classes: int = 10,
                 width: int = 8, blocks: int = 1) -> List[Anchor]:
    """Three tiny anchors: `resnet` (pre-activation), `mobilenet` (MobileNetV2-style)
    and `efficientnet` (inverted residuals with squeeze-and-excitation)."""
    common = dict(input_shape=input_shape, num_classes=num_classes, width=width, blocks=blocks)
    return [
        Anchor("resnet", functools.partial(tiny_resnet, **common)),
        Anchor("mobilenet", functools.partial(tiny_mobilenet, **common)),
        Anchor("efficientnet", functools.partial(
            tiny_mobilenet, squeeze_excite=True, name="tiny_efficientnet", **common)),
    ]


def _paper_anchor(norm_act: NormActivation, name: str, settings: dict):
    from symbolic_automl.spaces import anchors as anchor_families  # pylint: disable=g-import-not-at-top

    return anchor_families.anchor(name, norm_act=norm_act, **settings).to_keras()


def paper_anchors(width_multiplier: float = 0.125, depth_multiplier: float = 0.34,
                  input_shape: Sequence[int] = (16, 16, 1), num_classes: int = 10,
                  names: Sequence[str] = ("preact_resnet", "mobilenet_v2", "efficientnet_b0"),
                  ) -> List[Anchor]:
    """The paper's anchor families (`symbolic_automl.spaces.anchors`) as `Anchor`s.

    A pre-activation ResNet-18, MobileNetV2 and EfficientNet-B0 for CIFAR-like
    inputs, shrunk by `width_multiplier` / `depth_multiplier`; the candidate
    fills every norm-act slot by rebinding.

    Example::

        anchors = paper_anchors(width_multiplier=0.125, input_shape=(32, 32, 3))
    """
    settings = dict(width_multiplier=width_multiplier, depth_multiplier=depth_multiplier,
                    input_shape=tuple(input_shape), num_classes=num_classes)
    return [Anchor(name, functools.partial(_paper_anchor, name=name, settings=settings))
            for name in names]


def held_out_network(input_shape: Sequence[int] = (8, 8, 1), num_classes: int = 10,
                     stem_channels: int = 16, num_stacks: int = 2):
    """A network the search does not train in, for the held-out transfer comparison.

    A NAS-Bench-101 network (`symbolic_automl.spaces.nasbench101`) around the
    Inception-like cell of the NAS-Bench-101 paper (a 1×1 and three 3×3
    conv-BN-ReLU vertices and a 3×3 max-pool): another family than the anchors
    (post-activation convolutions, cells of parallel branches), with a
    `norm_act` slot at every conv. Batch norm momentum 0.9 (short proxy runs).

    Example::

        table = spaces.anchors.held_out_comparison(held_out_network(), found, train, val)
    """
    # pylint: disable=g-import-not-at-top
    from symbolic_automl.spaces import nasbench101

    matrix = [[0, 1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1],
              [0, 0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1],
              [0, 0, 0, 0, 0, 0, 0]]
    ops = ["input", "conv1x1-bn-relu", "conv3x3-bn-relu", "conv3x3-bn-relu",
           "conv3x3-bn-relu", "maxpool3x3", "output"]
    return nasbench101.NASBench101Network(
        nasbench101.NASBench101Cell.from_spec(matrix, ops), input_shape=tuple(input_shape),
        num_classes=num_classes, stem_channels=stem_channels, num_stacks=num_stacks,
        cells_per_stack=1, bn_momentum=0.9)
