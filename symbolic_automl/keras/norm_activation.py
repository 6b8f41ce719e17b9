"""The normalization-activation slot: one symbolic field a family of layers fills.

An architecture that normalizes and activates (conv -> BN -> ReLU) holds a
`NormActivation` value in a field, `norm_act`, instead of hard-coding the two
layers. The default builds exactly the layers the architecture built before
(same names, same parameters): `BatchNormActivation`, or None in the spaces
whose batch norm and activations are fields of their own (MobileNet, NAS-Bench-101:
None means "batch norm with my settings, then this place's activation"). Any
other `NormActivation` (an EvoNorm layer graph, say) drops into every place at
once by rebinding::

    model = mobilenet.mobilenet_v2(...)                   # norm_act = None: BN + relu6
    evonormed = model.clone(deep=True).rebind(norm_act=found_layer)
    # or, for any symbolic model (also hand-written BN -> ReLU pairs in the mirror):
    evonormed = symbolic_automl.keras.replace_norm_activation(model, found_layer)

A slot value is applied to a Keras tensor with a layer-name prefix, and must
keep the tensor's shape: `y = norm_act(x, name="stage0_block1_bn")`.
"""

import abc
from typing import Any, Optional

import pyglove as pg


class NormActivation(pg.Object):
    """Base of normalization-activation slot values (channels-last tensors in and out).

    Subclasses implement `__call__(x, name)`: build fresh Keras layers (never
    reuse them across calls, each place gets its own weights), apply them to the
    Keras tensor `x`, and return a tensor of the same shape.
    """

    @abc.abstractmethod
    def __call__(self, x: Any, name: str) -> Any:
        """Applies fresh layers (named from `name`) to `x`; same shape out."""


@pg.members([
    ("activation", pg.typing.Str().noneable(),
     "Keras activation name, 'relu6' for ReLU(6), or None for no activation."),
    ("momentum", pg.typing.Float(default=0.99), "Batch-norm moving-average momentum."),
    ("epsilon", pg.typing.Float(default=1e-3), "Batch-norm epsilon."),
    ("activation_layer", pg.typing.Enum("activation", ["activation", "relu"]),
     "'relu' builds keras.layers.ReLU (as some reference networks do) instead of "
     "keras.layers.Activation; both compute the same function."),
])
class BatchNormActivation(NormActivation):
    """`BatchNormalization` then an activation: what architectures use by default.

    Layers are named `{name}_bn` and `{name}_act` unless an architecture passes
    its own names through `bn_name` / `act_name` when calling.
    """

    def __call__(self, x: Any, name: str, bn_name: Optional[str] = None,
                 act_name: Optional[str] = None) -> Any:
        import keras  # pylint: disable=g-import-not-at-top

        x = keras.layers.BatchNormalization(momentum=self.momentum, epsilon=self.epsilon,
                                            name=bn_name or f"{name}_bn")(x)
        if self.activation is None:
            return x
        act_name = act_name or f"{name}_act"
        if self.activation == "relu6":
            return keras.layers.ReLU(6.0, name=act_name)(x)
        if self.activation_layer == "relu" and self.activation == "relu":
            return keras.layers.ReLU(name=act_name)(x)
        return keras.layers.Activation(self.activation, name=act_name)(x)
