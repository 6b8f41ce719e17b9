"""`relax(model)`: every convolution of a model becomes a warm-started XD-operation.

A symbolic mirror model is relaxed by one symbolic rebind, the convolution
slot filled by XD specs with the same arguments::

    relaxed = model.clone(deep=True).rebind(
        lambda k, v, p: xd.xd_spec(v) if xd.is_conv_spec(v) else v)

which is what `relax(model)` does (hyper-values in the convolutions' arguments
stay searchable). A built `keras.Model` is cloned (`keras.models.clone_model`)
with each convolution replaced by `XD.from_conv(conv)` (its trained weights)
and every other layer's weights copied: the relaxed model computes the same
function until it trains. Weights stay weights (`model_variables`, same count
as the original's); K-matrix twiddles are architecture parameters
(`arch_variables`).

Example::

    relaxed = xd.relax(trained_keras_cnn)          # same outputs, learnable ops
    len(xd.model_variables(relaxed)) == len(trained_keras_cnn.weights)
"""

from typing import Any, List

import keras
import numpy as np
import pyglove as pg

from symbolic_automl.keras import spec as spec_lib
from symbolic_automl.spaces.xd import conversion
from symbolic_automl.spaces.xd import specs
from symbolic_automl.spaces.xd.layer import XD, is_arch_variable


def is_conv_spec(value: Any) -> bool:
    """Whether a value is a symbolic convolution spec that XD replaces."""
    return (isinstance(value, spec_lib.KerasSpec) and value.keras_class is not None
            and conversion.is_convolution(value.keras_class))


def xd_spec(conv_spec: spec_lib.KerasSpec, arch: str = "butterfly", depth: int = 1):
    """The XD spec (`specs.XD1D`, `XD2D` or `XD`) replacing a convolution spec."""
    arguments = {k: pg.clone(v, deep=True) if isinstance(v, pg.Symbolic) else v
                 for k, v in conv_spec.sym_init_args.items()}
    rank, kwargs = conversion.xd_arguments(conv_spec.keras_class, arguments)
    if rank == 1:
        return specs.XD1D(arch=arch, depth=depth, **kwargs)
    if rank == 2:
        return specs.XD2D(arch=arch, depth=depth, **kwargs)
    return specs.XD(rank=rank, arch=arch, depth=depth, **kwargs)


def relax(model: Any, arch: str = "butterfly", depth: int = 1) -> Any:
    """Replaces every convolution of `model` by an XD-operation warm-started from it.

    Args:
      model: a symbolic model (the mirror's `Sequential` / `Model`, any
        `pg.Symbolic` holding convolution specs) or a built `keras.Model`.
      arch: 'butterfly' (learnable K-matrices) or 'fixed' (FFTs).
      depth: K-matrix depth.

    Returns:
      The same kind of model, with XD-operations in the convolutions' places.
    """
    if isinstance(model, keras.Model):
        return _relax_keras(model, arch, depth)
    if isinstance(model, pg.Symbolic):
        return model.clone(deep=True).rebind(
            lambda k, v, p: xd_spec(v, arch, depth) if is_conv_spec(v) else v,
            raise_on_no_change=False)
    raise TypeError(f"relax expects a symbolic model or a keras.Model, got "
                    f"{type(model).__name__}.")


def _relax_keras(model, arch, depth):
    pairs = []

    def clone_function(layer):
        if conversion.is_convolution(type(layer)):
            new = XD.from_conv(layer, arch=arch, depth=depth)
        else:
            new = layer.__class__.from_config(layer.get_config())
        pairs.append((layer, new))
        return new

    try:
        relaxed = keras.models.clone_model(model, clone_function=clone_function,
                                           recursive=True)
    except ValueError as e:
        raise ValueError(
            f"relax could not clone {model.name!r} ({type(model).__name__}): {e} "
            "Relax functional or Sequential models, or the symbolic model.") from e
    for layer, new in pairs:
        if not isinstance(new, XD) and layer.weights:
            new.set_weights(layer.get_weights())
    return relaxed


def transfer_weights(source: keras.Model, relaxed: keras.Model) -> None:
    """Copies a built model's weights into the model built from its relaxation.

    Layers are matched in order; each XD layer takes its convolution's kernel
    and bias (its architecture parameters stay as they are).
    """
    sources, targets = _flat_layers(source), _flat_layers(relaxed)
    if len(sources) != len(targets):
        raise ValueError(f"{source.name!r} has {len(sources)} layers, {relaxed.name!r} "
                         f"{len(targets)}; expected a model and its relaxation.")
    for old, new in zip(sources, targets):
        values = old.get_weights()
        if isinstance(new, XD):
            if not conversion.is_convolution(type(old)):
                raise ValueError(f"Layer {new.name!r} is an XD-operation but "
                                 f"{old.name!r} is a {type(old).__name__}.")
            for variable, value in zip(new.model_variables, values):
                variable.assign(np.asarray(value))
        elif values:
            new.set_weights(values)


def _flat_layers(model) -> List[Any]:
    layers = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            layers.extend(_flat_layers(layer))
        else:
            layers.append(layer)
    return layers


def arch_variables(model) -> list:
    """The XD architecture parameters of a Keras model (K-matrix twiddles)."""
    return [v for v in model.weights if is_arch_variable(v)]


def model_variables(model) -> list:
    """Every variable of a Keras model except XD architecture parameters."""
    return [v for v in model.weights if not is_arch_variable(v)]


def count_weights(variables) -> int:
    """Number of scalars in a list of variables."""
    return int(sum(np.prod(v.shape) for v in variables))
