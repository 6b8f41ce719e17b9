"""A symbolic mirror of Keras: change one import, make literals hyper-values.

    from symbolic_automl import keras      # instead of `import keras`

    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(pg.oneof([16, 32, 64]), pg.oneof([3, 5]),
                            activation=pg.oneof(["relu", "swish"])),
        ...
    ])

Every `keras.layers` class is here with the same arguments, generated from its
constructor; so are optimizers, regularizers, initializers, constraints, losses
and metrics. `symbolic_layer(MyLayer)` mirrors a layer class of your own.
"""

from typing import Any

from symbolic_automl.keras import layers
from symbolic_automl.keras.model import Model, Node, Ref, Sequential
from symbolic_automl.keras.objects import (
    constraints,
    initializers,
    losses,
    metrics,
    optimizers,
    regularizers,
)
from symbolic_automl.keras.layers import symbolic_layer
from symbolic_automl.keras.norm_activation import BatchNormActivation, NormActivation
from symbolic_automl.keras.spec import KerasSpec, symbolic_class
from symbolic_automl.keras.tensor import Input, InputSpec, LayerSpec, SymbolicTensor
from symbolic_automl.keras.transfer import replace_norm_activation


def to_keras(model: Any):
    """Builds a Keras model from a materialized symbolic model.

    Accepts an object with a `to_keras()` method (the symbolic mirror, the
    spaces in `symbolic_automl.spaces`, your own `pg.Object`s), a ready
    `keras.Model`, or a zero-argument callable returning one.
    """
    import keras  # pylint: disable=g-import-not-at-top

    if isinstance(model, keras.Model):
        return model
    if hasattr(model, "to_keras"):
        return model.to_keras()
    if callable(model):
        return model()
    raise TypeError(
        f"Cannot build a Keras model from {type(model).__name__}: expected an "
        "object with a `to_keras()` method, a keras.Model, or a callable."
    )
