"""FNO-1d and the XD paper's CNN backbone as symbolic Keras models (our mirror).

Both are the network of the FNO reference (`fourier_1d.py`, Li et al. 2021):
lift (a(x), x) to `width` channels, `depth` integral-operator blocks
`x <- act(K(x) + W x)` (no activation after the last), then project
`width -> projection -> 1`. They differ only in K:

  * `fno1d`: K is a `SpectralConv1D` keeping 16 modes (the FNO);
  * `cnn1d`: K is a circular `Conv1D` of kernel 17 = modes + 1 without bias, the
    XD paper's backbone (Roberts et al. 2021, `chrysalis/FNO/fourier_1d.py`),
    which `symbolic_automl.spaces.xd.relax` turns into the XD network.

W, the pointwise (1x1) convolution, is written as a `Dense` on the channel
axis: the same function and weights (width^2 + width) as Conv1D(width, 1), and
it keeps `relax` to the K convolutions, as the paper patches only those. We
follow the later FNO reference (GELU, no batch norm; the JMLR paper reports
GELU lowers the error) rather than the XD code's copy (ReLU and BatchNorm1d).

Example::

    from symbolic_automl.spaces import pde

    fno = pde.fno1d(resolution=256)          # symbolic; fno.to_keras() builds it
    fno.to_keras().count_params()            # 549569, as the reference's count_params()
    cnn = pde.cnn1d(resolution=256)          # 303809
"""

from typing import Any, Callable

from symbolic_automl import keras
from symbolic_automl.spaces.pde import layers
from symbolic_automl.spaces.pde.losses import RelativeL2, RelativeL2Error
from symbolic_automl.spaces.training import TrainingRecipe
from symbolic_automl.keras import spec

RelativeL2Spec = spec.symbolic_class(RelativeL2, module=__name__, name="RelativeL2")
RelativeL2ErrorSpec = spec.symbolic_class(RelativeL2Error, module=__name__,
                                          name="RelativeL2Error")


def operator_network(integral_operator: Callable[[int], Any], resolution: int = 1024,
                     in_channels: int = 2, width: int = 64, depth: int = 4,
                     projection: int = 128, activation: str = "gelu",
                     name: str = "operator_network") -> keras.Model:
    """The FNO reference's network with `integral_operator(index)` as each block's K.

    Args:
      integral_operator: returns a fresh symbolic layer mapping `width`
        channels to `width` channels at the same length, given the block index.
      resolution: points per example (the model's input length).
      in_channels: input channels (2: a(x) and the grid coordinate).
      width: channels of the blocks.
      depth: number of blocks.
      projection: hidden units of the projection head.
      activation: Keras activation name (may be a hyper-value).
      name: the Keras model's name.

    Returns:
      A symbolic functional model from (batch, resolution, in_channels) to
      (batch, resolution).
    """
    inputs = keras.Input(shape=(resolution, in_channels))
    x = keras.layers.Dense(width, name="lift")(inputs)
    for i in range(depth):
        k = integral_operator(i)(x)
        w = keras.layers.Dense(width, name=f"pointwise{i}")(x)
        x = keras.layers.Add(name=f"block{i}")([k, w])
        if i < depth - 1:
            x = keras.layers.Activation(activation, name=f"block{i}_act")(x)
    x = keras.layers.Dense(projection, activation=activation, name="project")(x)
    x = keras.layers.Dense(1, name="output")(x)
    outputs = keras.layers.Reshape((resolution,), name="squeeze")(x)
    return keras.Model(inputs, outputs, name=name)


def fno1d(resolution: int = 1024, modes: int = 16, width: int = 64, depth: int = 4,
          projection: int = 128, activation: str = "gelu", in_channels: int = 2) -> keras.Model:
    """FNO-1d: `depth` Fourier layers of `modes` modes, as the reference."""
    return operator_network(
        lambda i: layers.SpectralConv1D(width, modes, name=f"spectral{i}"),
        resolution=resolution, in_channels=in_channels, width=width, depth=depth,
        projection=projection, activation=activation, name="fno1d")


def cnn1d(resolution: int = 1024, kernel_size: int = 17, width: int = 64, depth: int = 4,
          projection: int = 128, activation: str = "gelu", in_channels: int = 2) -> keras.Model:
    """The XD paper's CNN backbone: FNO-1d with circular convolutions as K."""
    from symbolic_automl.spaces.xd import specs  # pylint: disable=g-import-not-at-top

    return operator_network(
        lambda i: specs.CircularConv1D(width, kernel_size, use_bias=False, name=f"conv{i}"),
        resolution=resolution, in_channels=in_channels, width=width, depth=depth,
        projection=projection, activation=activation, name="cnn1d")


def fno_training(epochs: int = 500, batch_size: int = 20, learning_rate: float = 1e-3,
                 weight_decay: float = 1e-4, decays: int = 4,
                 step_factor: float = 0.5) -> TrainingRecipe:
    """The FNO reference recipe: Adam 1e-3, weight decay 1e-4, relative L2 loss, and
    the rate halved `decays` times at equal intervals (StepLR(100, 0.5) over 500).

    Keras' `weight_decay` is decoupled (AdamW-style); PyTorch's Adam adds it to
    the gradient. Fields may be hyper-values, e.g. `learning_rate=pg.floatv(...)`.
    """
    return TrainingRecipe(
        optimizer="adam", learning_rate=learning_rate, weight_decay=weight_decay,
        schedule="step", step_every_epochs=epochs / (decays + 1), step_factor=step_factor,
        epochs=epochs, batch_size=batch_size, loss=RelativeL2Spec(),
        metrics=[RelativeL2ErrorSpec()])


