"""Symbolic `Sequential` and functional `Model`: whole Keras models as search spaces.

Example (the Keras code with one import changed and literals made hyper-values)::

    import pyglove as pg
    from symbolic_automl import keras

    model = keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        keras.layers.Conv2D(pg.oneof([16, 32]), 3, activation=pg.oneof(["relu", "swish"])),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, activation="softmax"),
    ])

    inputs = keras.Input(shape=(16,))
    hidden = keras.layers.Dense(pg.oneof([32, 64]), activation="relu")(inputs)
    outputs = keras.layers.Dense(3)(keras.layers.Concatenate()([inputs, hidden]))
    functional = keras.Model(inputs, outputs)

A choice among layers is called inline, and `keras.ops` / tensor arithmetic
are recorded as nodes::

    h = pg.oneof([keras.layers.Conv2D(8, 3, padding="same"),
                  keras.layers.MaxPooling2D(3, 1, padding="same")])(x)
    h = keras.ops.relu(h) + x

A model without hyper-values left is also the Keras model it builds
(`summary()`, `fit`, `predict`, `save`...), and `compile`/`fit` on a space
record the training recipe for `sa.search` (see `symbolic_automl.keras.facade`).
"""

from typing import Any, Dict, List

import pyglove as pg

from symbolic_automl.keras import custom
from symbolic_automl.keras import facade
from symbolic_automl.keras import spec
from symbolic_automl.keras.tensor import InputSpec, LayerSpec, Op, SymbolicTensor, tensors_in


class Sequential(facade.KerasModelFacade, pg.Object):
    """Symbolic `keras.Sequential`; its layers (and their arguments) are searchable.

    Note: `model.layers` is the symbolic list (what you search and rebind);
    `model.keras_model.layers` are the built Keras layers.
    """

    layers: pg.typing.List(pg.typing.Any(), default=[])
    name: pg.typing.Str().noneable() = None

    def __new__(cls, *args, **kwargs):
        if spec.building_keras() and not spec.is_pyglove_internal_call(kwargs):
            import keras  # pylint: disable=g-import-not-at-top

            return keras.Sequential(*args, **kwargs)
        return super().__new__(cls)

    def add(self, layer: Any) -> None:
        """Appends a layer, as `keras.Sequential.add` does."""
        self.layers.append(layer)

    @spec.builds_keras
    def to_keras(self):
        import keras  # pylint: disable=g-import-not-at-top

        return keras.Sequential(spec.to_keras_value(list(self.layers)), name=self.name)


class Ref(pg.Object):
    """Names the node whose output (or whose layer, for shared layers) is meant."""

    node: str


class Node(pg.Object):
    """One layer call of a functional graph, stored flat: inputs are `Ref`s."""

    name: str
    layer: pg.typing.Any()  # A LayerSpec, an InputSpec, or a Ref to a shared layer.
    args: pg.typing.List(pg.typing.Any(), default=[])
    kwargs: pg.typing.Dict([(pg.typing.StrKey(), pg.typing.Any())], default={})


class Model(facade.KerasModelFacade, pg.Object):
    """Symbolic functional `keras.Model(inputs, outputs)`.

    Built from symbolic tensors like Keras's functional API; stored as a flat
    list of nodes so that JSON stays small for graphs with branches.
    """

    inputs: pg.typing.Any()
    outputs: pg.typing.Any()
    nodes: pg.typing.List(pg.typing.Object(Node), default=[])
    name: pg.typing.Str().noneable() = None

    @pg.explicit_method_override
    def __init__(self, inputs, outputs, nodes=None, name=None, **kwargs):
        if nodes is None:
            nodes, inputs, outputs = _trace(inputs, outputs)
        super().__init__(inputs=inputs, outputs=outputs, nodes=nodes, name=name, **kwargs)

    def __new__(cls, *args, **kwargs):
        if spec.building_keras() and not spec.is_pyglove_internal_call(kwargs):
            import keras  # pylint: disable=g-import-not-at-top

            return keras.Model(*args, **kwargs)
        return super().__new__(cls)

    @spec.builds_keras
    def to_keras(self):
        import keras  # pylint: disable=g-import-not-at-top

        spec.check_fixed(self)
        tensors: Dict[str, Any] = {}
        layers: Dict[str, Any] = {}

        def resolve(value):
            if isinstance(value, Ref):
                return tensors[value.node]
            if isinstance(value, (list, tuple)):
                # Tuples stay tuples: an indexing key x[:, 0] is one.
                resolved = [resolve(v) for v in value]
                return tuple(resolved) if isinstance(value, tuple) else resolved
            if isinstance(value, dict):
                return {k: resolve(v) for k, v in value.items()}
            return spec.to_keras_value(value)

        for node in self.nodes:
            if isinstance(node.layer, InputSpec):
                tensors[node.name] = node.layer.to_keras()
                continue
            if isinstance(node.layer, Ref):
                layer = layers[node.layer.node]
            elif hasattr(node.layer, "to_keras"):
                layer = node.layer.to_keras()
            else:
                raise TypeError(
                    f"Node {node.name!r} applies {node.layer!r:.200}, which is not a layer: a "
                    "choice called on tensors (pg.oneof([...])(x)) must choose among layers.")
            layers[node.name] = layer
            tensors[node.name] = layer(
                *[resolve(a) for a in node.args], **resolve(dict(node.kwargs)))
        return keras.Model(inputs=resolve(self.inputs), outputs=resolve(self.outputs),
                           name=self.name)


class SubclassedModelSpec(facade.KerasModelFacade, LayerSpec):
    """The stand-in of a `keras.Model` subclass written against the mirror.

    Its arguments may hold hyper-values; fixed, it is the Keras model it builds
    (`fit`, `predict`, ...), and on a space `compile`/`fit` record the recipe.
    """


# The mirror's `keras.Model`: the functional constructor above, and the base of
# subclassed models (`class MyModel(keras.Model)`), like `layers.Layer`.
KerasModel = custom.model_base(Model, SubclassedModelSpec)


def _trace(inputs, outputs):
    """Turns symbolic tensors into (nodes, input refs, output refs)."""
    order: List[Any] = []
    seen = set()

    def visit(tensor):
        if id(tensor) in seen:
            return
        seen.add(id(tensor))
        if isinstance(tensor, SymbolicTensor):
            for arg in list(tensor.args) + list(tensor.kwargs.values()):
                for t in tensors_in(arg):
                    visit(t)
        elif not isinstance(tensor, InputSpec):
            raise TypeError(
                f"Model outputs must come from symbolic layer calls; got {tensor!r}.")
        order.append(tensor)

    for t in tensors_in(outputs):
        visit(t)
    for t in tensors_in(inputs):
        if not isinstance(t, InputSpec):
            raise TypeError(f"Model inputs must be `Input(...)` objects; got {t!r}.")
        if id(t) not in seen:
            raise ValueError(f"Input {t!r} is not connected to the model's outputs.")

    names: Dict[int, str] = {}
    layer_owner: Dict[int, str] = {}
    nodes = []
    for i, tensor in enumerate(order):
        layer = tensor if isinstance(tensor, InputSpec) else tensor.layer
        label = layer.name.split(".")[-1] if isinstance(layer, Op) else type(layer).__name__
        name = f"{label.lower()}_{i}"
        names[id(tensor)] = name
        if isinstance(tensor, InputSpec):
            nodes.append(Node(name=name, layer=tensor))
            continue
        if id(layer) in layer_owner:
            layer_value = Ref(node=layer_owner[id(layer)])
        else:
            layer_owner[id(layer)] = name
            layer_value = layer
        to_ref = lambda v: _replace_tensors(v, names)
        nodes.append(Node(name=name, layer=layer_value,
                          args=[to_ref(a) for a in tensor.args],
                          kwargs={k: to_ref(v) for k, v in tensor.kwargs.items()}))
    return nodes, _replace_tensors(inputs, names), _replace_tensors(outputs, names)


def upstream_inputs(outputs) -> List[InputSpec]:
    """The `Input(...)` objects that `outputs` depend on, in the order first met."""
    found: Dict[int, InputSpec] = {}
    seen = set()
    stack = list(reversed(tensors_in(outputs)))
    while stack:
        tensor = stack.pop()
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        if isinstance(tensor, InputSpec):
            found[id(tensor)] = tensor
        else:
            upstream = tensors_in([tensor.args, tensor.kwargs])
            stack.extend(reversed(upstream))
    return list(found.values())


def _replace_tensors(value, names):
    if isinstance(value, (SymbolicTensor, InputSpec)):
        return Ref(node=names[id(value)])
    if isinstance(value, (list, tuple)):
        return [_replace_tensors(v, names) for v in value]
    if isinstance(value, dict):
        return {k: _replace_tensors(v, names) for k, v in value.items()}
    return value
