"""Symbolic tensors: how the functional API records a graph of symbolic layers.

Calling a `LayerSpec` on symbolic tensors returns a new `SymbolicTensor` that
remembers the call. `Model(inputs, outputs)` walks these back from the outputs
and stores the graph as a flat, JSON-friendly list of nodes, so a tensor used
twice (a residual connection) is stored once, and a layer object called twice
shares its weights, as in Keras.

`keras.ops` functions and Python arithmetic on symbolic tensors are recorded
the same way, as `Op` nodes that name the function (never hold it), so the
graph still serializes to JSON and loading it runs no code::

    x = keras.Input(shape=(16,))
    h = keras.layers.Dense(16)(x)
    y = keras.ops.relu(h) + x * 0.5        # Op("relu"), Op("multiply"), Op("add")
    z = y[:, :8]                           # Op("get_item") with a Slice key
"""

import itertools
from typing import Any, List, Sequence

import pyglove as pg

from symbolic_automl import errors
from symbolic_automl.keras import spec

_ids = itertools.count()


class _TensorOperators:
    """Python operators on symbolic tensors, recorded as `keras.ops` calls.

    These are the operators a `keras.KerasTensor` supports, mapped to the
    same `keras.ops` functions Keras uses for them. `==` keeps its Python
    meaning (identity), as graph code relies on it.
    """

    def _op(self, name, *args):
        return record_op(name, args, {})

    def __add__(self, other):
        return self._op("add", self, other)

    def __radd__(self, other):
        return self._op("add", other, self)

    def __sub__(self, other):
        return self._op("subtract", self, other)

    def __rsub__(self, other):
        return self._op("subtract", other, self)

    def __mul__(self, other):
        return self._op("multiply", self, other)

    def __rmul__(self, other):
        return self._op("multiply", other, self)

    def __matmul__(self, other):
        return self._op("matmul", self, other)

    def __rmatmul__(self, other):
        return self._op("matmul", other, self)

    def __truediv__(self, other):
        return self._op("divide", self, other)

    def __rtruediv__(self, other):
        return self._op("divide", other, self)

    def __floordiv__(self, other):
        return self._op("floor_divide", self, other)

    def __rfloordiv__(self, other):
        return self._op("floor_divide", other, self)

    def __mod__(self, other):
        return self._op("mod", self, other)

    def __rmod__(self, other):
        return self._op("mod", other, self)

    def __pow__(self, other):
        return self._op("power", self, other)

    def __rpow__(self, other):
        return self._op("power", other, self)

    def __neg__(self):
        return self._op("negative", self)

    def __abs__(self):
        return self._op("absolute", self)

    def __lt__(self, other):
        return self._op("less", self, other)

    def __le__(self, other):
        return self._op("less_equal", self, other)

    def __gt__(self, other):
        return self._op("greater", self, other)

    def __ge__(self, other):
        return self._op("greater_equal", self, other)

    def __and__(self, other):
        return self._op("logical_and", self, other)

    def __rand__(self, other):
        return self._op("logical_and", other, self)

    def __or__(self, other):
        return self._op("logical_or", self, other)

    def __ror__(self, other):
        return self._op("logical_or", other, self)

    def __xor__(self, other):
        return self._op("logical_xor", self, other)

    def __rxor__(self, other):
        return self._op("logical_xor", other, self)

    def __invert__(self):
        return self._op("logical_not", self)

    def __getitem__(self, key):
        return self._op("get_item", self, index_key(key))


class SymbolicTensor(_TensorOperators):
    """The output of a symbolic layer call; not itself symbolic (never stored)."""

    def __init__(self, layer: Any, args: Sequence[Any], kwargs: dict):
        self.layer = layer
        self.args = list(args)
        self.kwargs = dict(kwargs)
        self.uid = next(_ids)

    def __repr__(self):
        label = getattr(self.layer, "name", None) if isinstance(self.layer, Op) else None
        return f"SymbolicTensor({label or type(self.layer).__name__}, uid={self.uid})"

    def __bool__(self):
        raise TypeError(
            "A symbolic tensor has no truth value while the graph is recorded (as for a "
            "keras.KerasTensor): decide with a Python value or a hyper-value, or use "
            "keras.ops.where / keras.ops.cond inside a custom layer's call().")

    def __iter__(self):
        raise TypeError(
            "A symbolic tensor cannot be iterated while the graph is recorded; index "
            "it (x[:, 0]) or use keras.ops.unstack inside a custom layer's call().")

    @property
    def shape(self):
        """The Keras shape of this tensor, batch dimension included.

        Known once every hyper-value upstream is fixed: the graph up to here is
        built with Keras to read it, as a Keras tensor would report it.
        """
        return self._keras_tensor().shape

    @property
    def dtype(self):
        return self._keras_tensor().dtype

    def _keras_tensor(self):
        from symbolic_automl.keras import model as model_lib  # pylint: disable=g-import-not-at-top

        inputs = model_lib.upstream_inputs(self)
        graph = model_lib.Model(inputs, self)
        if not pg.is_deterministic(graph):
            raise errors.SearchSpaceError(
                f"The shape of {self!r} depends on hyper-values at "
                f"{spec.hyper_paths(graph)}, so it is unknown while the model is a "
                "search space. Decide with the hyper-value itself (e.g. compare the "
                "width you chose) instead of reading the shape.")
        return graph.to_keras().outputs[0]


class LayerSpec(spec.KerasSpec):
    """Base of symbolic Keras layers; calling one records a functional-API node.

    Called on real Keras tensors (in plain-Keras code), a fixed spec builds its
    Keras layer once and applies it, so it also works as the layer it stands for.
    """

    def __call__(self, *args, **kwargs) -> SymbolicTensor:
        if tensors_in([list(args), kwargs]):
            return SymbolicTensor(self, args, kwargs)
        if _keras_tensors_in(list(args)):
            return self.built_layer()(*args, **kwargs)
        raise TypeError(
            f"{type(self).__name__} was called on {args!r:.200}; expected symbolic "
            "tensors from `Input(...)` or from another symbolic layer call (or Keras "
            "tensors, to apply the layer it builds).")

    def built_layer(self):
        """The Keras layer this (fixed) spec builds, made once and then reused."""
        return spec.built_once(self, "_built_layer")

    def _on_bound(self):
        super()._on_bound()
        self._set_raw_attr("_built_layer", None)


class InputSpec(_TensorOperators, LayerSpec):
    """`keras.Input` as a symbolic object; also the source of functional graphs.

    Its `shape` reads as a Keras tensor's does, batch dimension first:
    `keras.Input((8, 8, 3)).shape == (None, 8, 8, 3)`.
    """

    @property
    def shape(self):
        arguments = self.sym_init_args
        shape = arguments.get("shape")
        if not pg.is_deterministic(shape):
            raise errors.SearchSpaceError(
                f"The shape of Input(shape={shape!r:.100}) is a hyper-value, so it is "
                "unknown while the model is a search space.")
        return (arguments.get("batch_size"),) + tuple(shape or ())

    @spec.builds_keras
    def to_keras(self):
        import keras  # pylint: disable=g-import-not-at-top

        return keras.Input(**self.constructor_kwargs())


pg.members([(pg.typing.StrKey(), pg.typing.Any(), "Argument of keras.Input.")])(InputSpec)


@pg.members([
    ("name", pg.typing.Str(), "The function's name in its module, e.g. 'relu', 'image.resize'."),
    ("module", pg.typing.Enum("ops", ["ops", "activations"]),
     "Where the function lives: keras.ops or keras.activations."),
])
class Op(LayerSpec):
    """A `keras.ops` (or `keras.activations`) function applied in a functional graph.

    It holds the function's name, never the function: `to_keras()` looks the
    name up in `keras.ops` when the model is built, and refuses any name that is
    not a public function there.
    """

    def to_keras(self):
        return resolve_op(self.name, self.module)


def resolve_op(name: str, module: str = "ops"):
    """The public function `keras.<module>.<name>` (dotted names for submodules)."""
    import keras  # pylint: disable=g-import-not-at-top

    roots = {"ops": keras.ops, "activations": keras.activations}
    if module not in roots:
        raise ValueError(f"Unknown op module {module!r}: expected one of {sorted(roots)}.")
    value = roots[module]
    parts = name.split(".") if isinstance(name, str) else [""]
    for part in parts:
        if not part.isidentifier() or part.startswith("_") or not hasattr(value, part):
            raise ValueError(
                f"keras.{module} has no public function {name!r}; a recorded op must "
                f"name one (e.g. 'relu', 'concatenate', 'image.resize').")
        value = getattr(value, part)
    if isinstance(value, type) or not callable(value) or type(value).__name__ == "module":
        raise ValueError(f"keras.{module}.{name} is not a function, so it cannot be an op.")
    return value


def record_op(name: str, args: Sequence[Any], kwargs: dict, module: str = "ops"):
    """A `SymbolicTensor` for `keras.<module>.<name>(*args, **kwargs)`."""
    resolve_op(name, module)  # Refuse unknown names now, not when the model is built.
    return SymbolicTensor(Op(name=name, module=module), args, kwargs)


@pg.members([
    ("start", pg.typing.Any(default=None), "Slice start."),
    ("stop", pg.typing.Any(default=None), "Slice stop."),
    ("step", pg.typing.Any(default=None), "Slice step."),
])
class Slice(spec.KerasSpec):
    """A Python `slice` in an indexing key (`x[:, 1:3]`), stored as JSON."""

    def to_keras(self):
        return slice(self.start, self.stop, self.step)


class EllipsisIndex(spec.KerasSpec):
    """The `...` of an indexing key (`x[..., 0]`), stored as JSON."""

    def to_keras(self):
        return Ellipsis


def index_key(key):
    """An indexing key with slices and `...` made symbolic (JSON-friendly)."""
    if isinstance(key, slice):
        return Slice(key.start, key.stop, key.step)
    if key is Ellipsis:
        return EllipsisIndex()
    if isinstance(key, tuple):
        return tuple(index_key(k) for k in key)
    return key


def tensors_in(value) -> List[Any]:
    """The symbolic tensors inside a (nested list, tuple or dict) call argument."""
    if isinstance(value, (SymbolicTensor, InputSpec)):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in tensors_in(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in tensors_in(v)]
    return []


def _keras_tensors_in(value) -> bool:
    if isinstance(value, (list, tuple)):
        return any(_keras_tensors_in(v) for v in value)
    if isinstance(value, dict):
        return any(_keras_tensors_in(v) for v in value.values())
    import keras  # pylint: disable=g-import-not-at-top

    return isinstance(value, keras.KerasTensor) or keras.ops.is_tensor(value)


def Input(shape=None, batch_size=None, dtype=None, sparse=None, name=None,
          **kwargs):  # pylint: disable=invalid-name
    """Symbolic `keras.Input`: use it as the first element of `Sequential`, or as
    the source of a functional model. Its arguments may be hyper-values too.

    While Keras objects are being built (e.g. in a custom layer's code), it is
    `keras.Input` itself.
    """
    if spec.building_keras():
        import keras  # pylint: disable=g-import-not-at-top

        return keras.Input(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse,
                           name=name, **kwargs)
    args = dict(shape=tuple(shape) if isinstance(shape, list) else shape,
                batch_size=batch_size, dtype=dtype, sparse=sparse, name=name)
    args.update(kwargs)
    return InputSpec(**{k: v for k, v in args.items() if v is not None})


def _install_choice_call():
    """Makes `pg.oneof([layer, ...])(x)` a graph node, as calling a layer is.

    Called on symbolic tensors, a choice among layers records a node whose
    layer is the choice itself, so the choice is one decision wherever the
    node's output goes. Any other call keeps PyGlove's meaning.
    """
    original = pg.hyper.OneOf.__call__
    if getattr(original, "_records_graph_node", False):
        return

    def call(self, *args, **kwargs):
        if tensors_in([list(args), kwargs]):
            return SymbolicTensor(self, args, kwargs)
        return original(self, *args, **kwargs)

    call._records_graph_node = True  # pylint: disable=protected-access
    call.__doc__ = original.__doc__
    pg.hyper.OneOf.__call__ = call


_install_choice_call()
