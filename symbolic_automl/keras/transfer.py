"""Put a normalization-activation layer into any symbolic model: `replace_norm_activation`.

Two kinds of place take the layer:

* slots: every `NormActivation` value in the model, and every `norm_act` field
  left at None (the architectures' "batch norm then this place's activation"),
  as in `symbolic_automl.spaces` (MobileNet, ResNet, DARTS, NAS-Bench-101) and in
  mirror `NormActivationLayer(norm_act=...)` layers;
* pairs written by hand in the Keras mirror: a `BatchNormalization()` whose
  output goes only to an activation (`Activation('relu')`, `ReLU()`, ...), in a
  `Sequential` layer list or a functional `Model`'s nodes, become one
  `NormActivationLayer(norm_act=layer)`. A batch norm that feeds anything else
  (a residual add, a second consumer, nothing) stays.

The input is not changed; a rewritten copy comes back, still symbolic (it can
hold hyper-values, be searched, serialized, rebound).

Example::

    from symbolic_automl import keras
    from symbolic_automl.keras import transfer

    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(8, 3),
                              keras.layers.BatchNormalization(),
                              keras.layers.ReLU(), ...])
    swapped = transfer.replace_norm_activation(model, found_layer)
"""

from typing import Any, List

import pyglove as pg

from symbolic_automl.keras.norm_activation import NormActivation

SLOT_FIELD = "norm_act"


def _is_slot_field(parent: Any, key: Any) -> bool:
    """Whether `parent.key` is a `norm_act` field whose spec takes a NormActivation."""
    if key != SLOT_FIELD or not isinstance(parent, pg.Object):
        return False
    field = parent.__class__.__schema__.get_field(SLOT_FIELD)
    if field is None:
        return False
    spec = field.value
    return isinstance(spec, pg.typing.Any) or (
        isinstance(spec, pg.typing.Object) and issubclass(NormActivation, spec.cls))


def slot_paths(model: pg.Symbolic) -> List[str]:
    """Paths of the model's normalization-activation slots, in traversal order.

    A slot is a `NormActivation` value anywhere in the tree, or a `norm_act`
    field that holds None (the architecture's default there).
    """
    paths = []

    def visit(key_path, value, parent):
        if isinstance(value, NormActivation):
            paths.append(str(key_path))
            return pg.TraverseAction.CONTINUE
        if value is None and _is_slot_field(parent, key_path.key):
            paths.append(str(key_path))
        return pg.TraverseAction.ENTER

    pg.traverse(model, visit)
    return paths


def replace_norm_activation(model: pg.Symbolic, layer: NormActivation) -> pg.Symbolic:
    """A copy of `model` with `layer` in every normalization-activation place.

    Args:
      model: any symbolic model: a space from `symbolic_automl.spaces`, a mirror
        `Sequential` / `Model`, or a `pg.Object` holding them.
      layer: the normalization-activation layer (any `NormActivation`, e.g. an
        EvoNorm graph or `BatchNormActivation('swish')`).

    Returns:
      The rewritten copy (the same as a copy of `model` if it has no place).

    Raises:
      TypeError: `layer` is not a `NormActivation` or `model` is not symbolic.
    """
    if not isinstance(layer, NormActivation):
        raise TypeError(
            f"replace_norm_activation needs a NormActivation layer, got {layer!r} of type "
            f"{type(layer).__name__}.")
    if not isinstance(model, pg.Symbolic):
        raise TypeError(
            f"replace_norm_activation needs a symbolic model (a pg.Object such as a "
            f"space or a mirror Sequential/Model), got {type(model).__name__}.")
    result = model.clone(deep=True)
    paths = slot_paths(result)
    if paths:
        result.rebind({p: layer.clone(deep=True) for p in paths}, skip_notification=True)
    return result
