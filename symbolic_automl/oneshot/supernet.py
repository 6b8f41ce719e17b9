"""A supernet built from a search space, with no change to the space.

`build_supernet(space)` turns each choice point of the space that selects among
layers into a `MixedOp` holding every candidate layer (weights shared by all
architectures), and keeps everything else as the plain Keras layer. The result
is a `Supernet` (`network.py`): a `keras.Model` called as `supernet(x, mixing)`
where `mixing` has one weight vector per choice point, in
`supernet.choice_points` order.

Spaces are handled in four ways, first match wins:

1. a define-by-run function (a plain function that calls `pg.oneof(...,
   name=...)` inline): it runs once in supernet mode, where every named
   `pg.oneof` over layers (Keras layers, symbolic layers, or callables
   returning tensors) returns a `MixedOp`; see `define_by_run.py`;
2. the space object has a `to_supernet()` method (e.g. the DARTS network space);
3. a builder registered for its type with `register_supernet_builder`;
4. the symbolic Keras mirror (`keras.Sequential`, functional `keras.Model`),
   handled here generically: every `pg.oneof` whose candidates are layers.

Only choices among layers (and, in the DARTS cell space, `manyof` edges) can be
relaxed: numeric or string choices, `pg.floatv` and other `pg.manyof` are a
`SearchSpaceError` naming the hyper-value.

Example::

    space = keras.Sequential([keras.Input(shape=(8, 8, 1)),
                              pg.oneof([keras.layers.Conv2D(8, 3, padding="same"),
                                        keras.layers.MaxPooling2D(3, 1, padding="same")]),
                              keras.layers.Flatten(), keras.layers.Dense(10)])
    net = build_supernet(space)
    y = net(x, [keras.ops.softmax(alpha)])
    dna = net.derive([alpha_numpy])          # argmax per choice, a pg.DNA

    def build():                             # define-by-run, plain Keras
        x = plain_keras.Input((8, 8, 1))
        op = pg.oneof([plain_keras.layers.Conv2D(8, 3, padding="same"),
                       plain_keras.layers.MaxPooling2D(3, 1, padding="same")], name="op1")
        return plain_keras.Model(x, plain_keras.layers.Dense(10)(op(x)))
    net = build_supernet(build)              # net.choice_points[0].key == "op1"
"""

import importlib
from typing import Any, Callable, Dict, List, Type

import pyglove as pg

from symbolic_automl import errors
from symbolic_automl.keras import model as sk_model
from symbolic_automl.keras import spec as sk_spec
from symbolic_automl.keras.tensor import InputSpec
from symbolic_automl.oneshot.choice import ChoicePoint, MixedOp
from symbolic_automl.oneshot.define_by_run import DefineByRunSupernet
from symbolic_automl.oneshot.network import Supernet, spec_label


# ---------------------------------------------------------------------------
# Registry: spaces that build their own supernet.

_BUILDERS: Dict[Type[Any], Callable[[Any], Supernet]] = {}


def register_supernet_builder(space_type: Type[Any], builder: Callable[[Any], Supernet]):
    """Registers `builder(space) -> Supernet` for spaces of `space_type`.

    Use it for a space class you cannot give a `to_supernet()` method.
    """
    _BUILDERS[space_type] = builder


def build_supernet(space: Any) -> Supernet:
    """Builds the supernet of a search space; see the module docstring.

    Args:
      space: a symbolic space, a define-by-run function, or a
        `symbolic_automl.space.Space` holding either.

    Returns:
      A `Supernet` whose `derive` gives DNAs of the space's `pg.DNASpec`.

    Raises:
      SearchSpaceError: the space has a hyper-value no algorithm can relax, or
        no choice among layers at all.
    """
    value = getattr(space, "value", space)  # symbolic_automl.space.Space
    if callable(value) and not isinstance(value, (pg.Symbolic, type)):
        # A define-by-run function: run it once in supernet mode.
        net = DefineByRunSupernet(value)
        _check_has_choices(net)
        return net
    _import_space_builders(value)
    if hasattr(value, "to_supernet"):
        net = value.to_supernet()
    else:
        for space_type, builder in _BUILDERS.items():
            if isinstance(value, space_type):
                net = builder(value)
                break
        else:
            if isinstance(value, sk_model.Sequential):
                net = SequentialSupernet(value)
            elif isinstance(value, sk_model.Model):
                net = FunctionalSupernet(value)
            else:
                raise errors.SearchSpaceError(
                    f"No supernet builder for a space of type {type(value).__name__}: "
                    "expected a symbolic Keras model (symbolic_automl.keras.Sequential "
                    "or Model), a space with a `to_supernet()` method, or a type "
                    "registered with `register_supernet_builder`.")
    _check_has_choices(net)
    return net


def _check_has_choices(net):
    if not net.choice_points:
        raise errors.SearchSpaceError(
            "The space has no choice among layers for a weight-sharing algorithm to "
            "relax; use a black-box algorithm (random, evolution) instead.")


def _import_space_builders(value):
    """Imports `<the space's package>.supernet` if there is one: it registers builders.

    So `build_supernet(darts.darts_space())` works without importing
    `symbolic_automl.spaces.darts.supernet` first.
    """
    module = type(value).__module__
    if "." not in module:
        return
    try:
        importlib.import_module(module.rsplit(".", 1)[0] + ".supernet")
    except ModuleNotFoundError as e:
        if not (e.name or "").endswith(".supernet"):
            raise


# ---------------------------------------------------------------------------
# The symbolic Keras mirror.

def _numeric_choice_error(path, value) -> errors.SearchSpaceError:
    return errors.SearchSpaceError(
        f"The hyper-value at {path} ({value!r:.120}) is not a choice among layers; "
        "weight-sharing algorithms relax only choices whose candidates are whole "
        "layers (pg.oneof([layers.Conv2D(16, 3), layers.Conv2D(16, 5), ...])). Fix it "
        "to one value, turn it into a choice among layers, or use a black-box "
        "algorithm (random, evolution) for this space.")


def _check_deterministic(value, path):
    if pg.is_deterministic(value):
        return
    hyper = []

    def visit(key_path, v, unused_parent):
        if isinstance(v, pg.hyper.HyperValue):
            hyper.append((key_path, v))
            return pg.TraverseAction.CONTINUE
        return pg.TraverseAction.ENTER

    pg.traverse(value, visit)
    key_path, v = hyper[0]
    raise _numeric_choice_error(v.sym_path if v.sym_path else f"{path}.{key_path}", v)


class _LayerFactory:
    """Turns a space element into a Keras layer or a MixedOp, noting choice points."""

    def __init__(self):
        self.choice_points: List[ChoicePoint] = []

    def make(self, value):
        if isinstance(value, pg.hyper.OneOf):
            candidates = list(value.candidates)
            if not all(isinstance(c, sk_spec.KerasSpec) for c in candidates):
                raise _numeric_choice_error(value.sym_path, value)
            for i, c in enumerate(candidates):
                _check_deterministic(c, f"{value.sym_path}[={i}]")
            index = len(self.choice_points)
            self.choice_points.append(
                ChoicePoint(key=str(value.sym_path), candidates=[spec_label(c) for c in candidates]))
            mixed = MixedOp([c.to_keras() for c in candidates], name=f"choice_{index}")
            mixed.choice_index = index
            return mixed
        if isinstance(value, pg.hyper.HyperValue):
            raise _numeric_choice_error(value.sym_path, value)
        _check_deterministic(value, getattr(value, "sym_path", "?"))
        return value.to_keras()


def _apply(layer, x, mixing, training):
    if isinstance(layer, MixedOp):
        return layer(x, mixing[layer.choice_index], training=training)
    return layer(x, training=training)


class SequentialSupernet(Supernet):
    """Supernet of a symbolic `keras.Sequential` space."""

    def __init__(self, space: sk_model.Sequential, **kwargs):
        super().__init__(**kwargs)
        items = list(space.layers)
        if not items or not isinstance(items[0], InputSpec):
            raise errors.SearchSpaceError(
                "A Sequential space needs `keras.Input(shape=...)` as its first element "
                "for weight-sharing search, so that the supernet knows its input shape; "
                f"got {type(items[0]).__name__ if items else 'no layers'}.")
        self.input_shapes = [tuple(items[0].sym_init_args["shape"])]
        factory = _LayerFactory()
        self.stack = [factory.make(v) for v in items[1:]]
        self.choice_points = factory.choice_points
        self.dna_spec = pg.dna_spec(space)

    def call(self, inputs, mixing, training=None):
        x = inputs
        for layer in self.stack:
            x = _apply(layer, x, mixing, training)
        return x


class FunctionalSupernet(Supernet):
    """Supernet of a symbolic functional `keras.Model` space."""

    def __init__(self, space: sk_model.Model, **kwargs):
        super().__init__(**kwargs)
        self.space_nodes = []
        self.node_layers = {}
        self.input_names = []
        self.input_shapes = []
        factory = _LayerFactory()
        layer_list = []
        for node in space.nodes:
            if isinstance(node.layer, InputSpec):
                self.input_names.append(node.name)
                self.input_shapes.append(tuple(node.layer.sym_init_args["shape"]))
            elif not isinstance(node.layer, sk_model.Ref):
                self.node_layers[node.name] = len(layer_list)
                layer_list.append(factory.make(node.layer))
            self.space_nodes.append(node)
        self.graph_layers = layer_list
        self.choice_points = factory.choice_points
        self.dna_spec = pg.dna_spec(space)
        self.space_inputs = space.inputs
        self.space_outputs = space.outputs

    def call(self, inputs, mixing, training=None):
        if not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        tensors = dict(zip(self.input_names, inputs))

        def resolve(value):
            if isinstance(value, sk_model.Ref):
                return tensors[value.node]
            if isinstance(value, (list, tuple)):
                return [resolve(v) for v in value]
            if isinstance(value, dict):
                return {k: resolve(v) for k, v in value.items()}
            return sk_spec.to_keras_value(value)

        for node in self.space_nodes:
            if isinstance(node.layer, InputSpec):
                continue
            owner = node.layer.node if isinstance(node.layer, sk_model.Ref) else node.name
            layer = self.graph_layers[self.node_layers[owner]]
            args = [resolve(a) for a in node.args]
            kwargs = resolve(dict(node.kwargs))
            if isinstance(layer, MixedOp):
                if len(args) != 1 or kwargs:
                    raise errors.SearchSpaceError(
                        f"A choice among layers at node {node.name!r} is called with "
                        f"{len(args)} arguments; supernets support single-input choices.")
                tensors[node.name] = layer(args[0], mixing[layer.choice_index],
                                           training=training)
            else:
                tensors[node.name] = layer(*args, **kwargs)
        return resolve(self.space_outputs)
