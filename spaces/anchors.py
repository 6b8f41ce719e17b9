"""The three anchor architectures of EvoNorm (Liu, Brock, Simonyan & Le 2020,
"Evolving Normalization-Activation Layers", NeurIPS), sized for CIFAR-like inputs.

A candidate normalization-activation layer is scored on several architectures at
once; these are the paper's: a pre-activation ResNet, MobileNetV2 and
EfficientNet-B0. Each is a symbolic network with a `norm_act` slot, so a layer
goes into all of them by rebinding (`anchors(norm_act=layer)` or
`symbolic_automl.keras.replace_norm_activation(model, layer)`).

CIFAR sizing: the networks keep their ImageNet channels and blocks, but the
MobileNets' stem and second stage have stride 1 (8x downsampling in all: 32x32
inputs end at 4x4, as the ResNet, whose stem has stride 1 too), the MobileNets'
1280-channel head shrinks with the width below 1, and batch norm momentum is 0.9,
so that the moving statistics settle within a short proxy training.
`width_multiplier` and `depth_multiplier` make them tiny for tests and searches.

Example::

    from symbolic_automl.spaces import anchors

    models = anchors.anchors(width_multiplier=0.125, depth_multiplier=0.34,
                             input_shape=(16, 16, 1))
    {name: m.to_keras().count_params() for name, m in models.items()}
"""

from typing import Dict, Optional

import pyglove as pg

from symbolic_automl.keras.norm_activation import NormActivation
from symbolic_automl.spaces import mobilenet, resnet

# Batch norm momentum of every anchor (short proxy training).
BN_MOMENTUM = 0.9

ANCHORS = ("preact_resnet", "mobilenet_v2", "efficientnet_b0")


def preact_resnet_anchor(width_multiplier: float = 1.0, depth_multiplier: float = 1.0,
                         input_shape=(32, 32, 3), num_classes: int = 10,
                         depth: int = 18, **kwargs) -> resnet.PreActResNet:
    """Pre-activation ResNet (18 by default) for CIFAR-like images."""
    return resnet.preact_resnet(depth, width_multiplier=width_multiplier,
                                depth_multiplier=depth_multiplier,
                                input_shape=tuple(input_shape), num_classes=num_classes,
                                **kwargs)


def _cifar_mobilenet(factory, width_multiplier: float, depth_multiplier: float,
                     input_shape, num_classes: int, **kwargs) -> mobilenet.MobileNet:
    head = 1280 if width_multiplier >= 1.0 else mobilenet.make_divisible(
        1280 * width_multiplier)
    settings = dict(stem_stride=1, bn_momentum=BN_MOMENTUM, head_filters=head)
    settings.update(kwargs)
    network = factory(input_shape, num_classes, width_multiplier, depth_multiplier,
                      **settings)
    # The second stage keeps the resolution: 8x downsampling in all.
    return network.rebind({"stages[1].stride": 1}, skip_notification=True)


def mobilenet_v2_anchor(width_multiplier: float = 1.0, depth_multiplier: float = 1.0,
                        input_shape=(32, 32, 3), num_classes: int = 10,
                        **kwargs) -> mobilenet.MobileNet:
    """MobileNetV2 (relu6, inverted residuals) for CIFAR-like images."""
    return _cifar_mobilenet(mobilenet.mobilenet_v2, width_multiplier, depth_multiplier,
                            input_shape, num_classes, **kwargs)


def efficientnet_b0_anchor(width_multiplier: float = 1.0, depth_multiplier: float = 1.0,
                           input_shape=(32, 32, 3), num_classes: int = 10,
                           **kwargs) -> mobilenet.MobileNet:
    """EfficientNet-B0 (swish, squeeze-excite, kernels 3/5) for CIFAR-like images."""
    return _cifar_mobilenet(mobilenet.efficientnet_b0, width_multiplier, depth_multiplier,
                            input_shape, num_classes, **kwargs)


_FACTORIES = {
    "preact_resnet": preact_resnet_anchor,
    "mobilenet_v2": mobilenet_v2_anchor,
    "efficientnet_b0": efficientnet_b0_anchor,
}


def anchor(name: str, norm_act: Optional[NormActivation] = None, **kwargs) -> pg.Object:
    """One anchor by name (`ANCHORS`), with `norm_act` in every slot when given.

    Args:
      name: "preact_resnet", "mobilenet_v2" or "efficientnet_b0".
      norm_act: the layer for every BN + activation place; None keeps batch norm
        and each network's own activations.
      **kwargs: arguments of the anchor's factory (width_multiplier,
        depth_multiplier, input_shape, num_classes, network fields).
    """
    if name not in _FACTORIES:
        raise ValueError(f"Unknown anchor {name!r}; expected one of {list(ANCHORS)}.")
    network = _FACTORIES[name](**kwargs)
    if norm_act is not None:
        network.rebind(norm_act=norm_act, skip_notification=True)
    return network


def anchors(norm_act: Optional[NormActivation] = None, names=ANCHORS,
            **kwargs) -> Dict[str, pg.Object]:
    """The anchors named in `names` (all three by default), built with the same
    arguments, e.g. `anchors(width_multiplier=0.125, input_shape=(16, 16, 1))`."""
    return {name: anchor(name, norm_act=norm_act, **kwargs) for name in names}


def held_out_comparison(model: pg.Object, found: NormActivation, train, validation,
                        steps: int = 100, seeds=(0, 1, 2), groups: int = 32, **kwargs):
    """EvoNorm's transfer check: `model` (an architecture the search did not use)
    trained with BN-ReLU, EvoNorm-B0, EvoNorm-S0 and the `found` layer, the same
    budget and seeds for each (`symbolic_automl.keras.transfer.compare_norm_activations`).

    Example::

        table = anchors.held_out_comparison(
            nasbench101.small_nasbench101_space()..., found_layer, train, val, steps=200)
        print(table)            # one row per layer: mean ± standard error

    Args:
      model: a materialized symbolic model whose BN-ReLU places get each layer.
      found: the searched layer (any `NormActivation`).
      train: `(x, y)` arrays.
      validation: `(x, y)` arrays.
      steps: training steps per run.
      seeds: runs per layer.
      groups: EvoNorm-S0's channel groups (the reference's 32 by default, lowered
        until it divides the channels).
      **kwargs: other `compare_norm_activations` arguments (batch_size, ...).

    Returns:
      A `TransferTable` with rows BN-ReLU, EvoNorm-B0, EvoNorm-S0, found.
    """
    # pylint: disable=g-import-not-at-top
    from symbolic_automl.keras.transfer import compare_norm_activations

    return compare_norm_activations(model, held_out_layers(found, groups), train, validation,
                                    steps=steps, seeds=seeds, **kwargs)


def held_out_layers(found: NormActivation, groups: int = 32) -> Dict[str, NormActivation]:
    """The rows of `held_out_comparison`: BN-ReLU, EvoNorm-B0, EvoNorm-S0 and `found`.

    BN-ReLU has the reference's constants (tensorflow/tpu `resnet_model.py`,
    `batch_norm_relu`: momentum 0.9, epsilon 1e-5), the decay of B0's moving
    variance too: Keras' default momentum 0.99 would leave the moving statistics
    far from settled after a short proxy training.
    """
    # pylint: disable=g-import-not-at-top
    from symbolic_automl.keras.norm_activation import BatchNormActivation
    from symbolic_automl.spaces import evonorm

    return {"BN-ReLU": BatchNormActivation("relu", momentum=0.9, epsilon=1e-5),
            "EvoNorm-B0": evonorm.evonorm_b0(), "EvoNorm-S0": evonorm.evonorm_s0(groups=groups),
            "found": found}
