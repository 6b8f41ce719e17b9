"""A symbolic mirror of Keras: change one import, make literals hyper-values.

    from symbolic_automl import keras      # instead of `import keras`
    from symbolic_automl.keras import layers, ops

    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(pg.oneof([16, 32, 64]), pg.oneof([3, 5]),
                            activation=pg.oneof(["relu", "swish"])),
        ...
    ])

Every `keras.layers` class is here with the same arguments, generated from its
constructor; so are optimizers (and schedules), regularizers, initializers,
constraints, losses and metrics. The functional API works as in Keras,
including the lowercase helpers (`layers.add`, `layers.concatenate`, ...),
`keras.ops` calls and tensor arithmetic (`x + y`, `x[:, 0]`), which are
recorded by name so the model stays JSON. Your own `class Block(layers.Layer)`
gets a symbolic stand-in automatically, and so does `class MyModel(keras.Model)`
(`custom`). A fixed model is the Keras
model it builds (`summary`, `fit`, `save`, ...); on a space, `compile`/`fit`
record the training recipe for `sa.search` (`facade`).

Everything else (`keras.utils`, `keras.callbacks`, `keras.datasets`,
`keras.backend`, `keras.random`, `keras.applications`, `keras.saving`,
`keras.mixed_precision`, ...) is Keras's own, passed through: nothing there is
searched.
"""

from typing import Any

import keras as _keras

from symbolic_automl.keras import layers
from symbolic_automl.keras import ops
from symbolic_automl.keras.custom import Layer, Loss, Metric
from symbolic_automl.keras.model import KerasModel as Model
from symbolic_automl.keras.model import Node, Ref, Sequential
from symbolic_automl.keras.objects import (
    Namespace,
    constraints,
    initializers,
    losses,
    metrics,
    optimizers,
    regularizers,
)
from symbolic_automl.keras.layers import symbolic_layer
from symbolic_automl.keras.norm_activation import BatchNormActivation, NormActivation
from symbolic_automl.keras.norm_activation_layer import NormActivationLayer
from symbolic_automl.keras.spec import KerasSpec, keras_building, symbolic_class
from symbolic_automl.keras.tensor import Input, InputSpec, LayerSpec, Op, SymbolicTensor
from symbolic_automl.keras.transfer import replace_norm_activation


# `keras.activations.relu(x)` on symbolic tensors is recorded too.
activations = ops.RecordingNamespace("activations")
# `keras.models.Sequential` / `keras.models.Model` are the symbolic ones.
models = Namespace(f"{__name__}.models", {"Sequential": Sequential, "Model": Model},
                   _keras.models)


def to_keras(model: Any):
    """Builds a Keras model from a materialized symbolic model.

    Accepts an object with a `to_keras()` method (the symbolic mirror, the
    spaces in `symbolic_automl.spaces`, your own `pg.Object`s), a ready
    `keras.Model`, or a zero-argument callable returning one.
    """
    if isinstance(model, _keras.Model):
        return model
    if hasattr(model, "to_keras"):
        with keras_building():
            return model.to_keras()
    if callable(model):
        return model()
    raise TypeError(
        f"Cannot build a Keras model from {type(model).__name__}: expected an "
        "object with a `to_keras()` method, a keras.Model, or a callable."
    )


def __getattr__(name):
    # The rest of Keras, unchanged: nothing there is searched.
    try:
        return getattr(_keras, name)
    except AttributeError:
        raise AttributeError(
            f"Neither the symbolic mirror nor keras has {name!r}.") from None
