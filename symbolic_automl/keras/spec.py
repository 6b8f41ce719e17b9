"""Symbolic stand-ins for Keras classes, generated from their constructors.

`KerasSpec` is the one idea behind the whole Keras mirror: a `pg.Object` whose
fields are the constructor arguments of a Keras class. Because it is symbolic,
any argument may hold a hyper-value (`pg.oneof`, `pg.floatv`, ...); once every
hyper-value is fixed, `to_keras()` calls the real constructor with exactly the
arguments the user wrote. No class needs a hand-written wrapper.

Example::

    import keras
    import pyglove as pg
    from symbolic_automl.keras import spec

    SymbolicDense = spec.symbolic_class(keras.layers.Dense)
    dense = SymbolicDense(pg.oneof([32, 64]), activation="relu")
    layer = pg.materialize(dense, pg.DNA(1)).to_keras()   # keras Dense(64)

While Keras objects are being built (`keras_building()`: inside `to_keras()`,
or a custom layer's constructor), the generated constructors return the real
Keras objects instead, so code that runs at build time can use the mirror's
names::

    with spec.keras_building():
        SymbolicDense(8)                                    # a keras Dense(8)
"""

import contextlib
import functools
import inspect
import threading
from typing import Any, Dict, List, Optional, Type

import pyglove as pg

from symbolic_automl import errors


_state = threading.local()

# Keyword arguments PyGlove passes when it re-creates a symbolic object itself
# (clone, from_json, materialize): such a call always wants the spec.
_PYGLOVE_INTERNAL_KWARGS = ("allow_partial", "sealed", "root_path")


def is_pyglove_internal_call(kwargs: Dict[str, Any]) -> bool:
    """Whether constructor kwargs come from PyGlove re-creating an object itself."""
    return any(k in kwargs for k in _PYGLOVE_INTERNAL_KWARGS)


def building_keras() -> bool:
    """Whether real Keras objects are being built now (see `keras_building`)."""
    return getattr(_state, "depth", 0) > 0


@contextlib.contextmanager
def keras_building():
    """While active, mirror constructors return real Keras objects.

    `to_keras()` builds under it, and so does a custom layer's constructor
    (`layers.Layer` subclasses): `layers.Dense(units)` written in the
    `__init__` of a layer of yours then makes the Dense layer Keras needs,
    not a symbolic one.
    """
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        yield
    finally:
        _state.depth -= 1


def builds_keras(method):
    """Decorates a `to_keras`-like method to run under `keras_building()`."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with keras_building():
            return method(*args, **kwargs)

    return wrapper


class KerasSpec(pg.Object):
    """Base of every symbolic Keras class: fields are constructor arguments.

    Called while Keras objects are being built (inside `to_keras()`, or in the
    constructor of a custom `layers.Layer`), the constructor of a generated
    spec class returns the real Keras object instead, so the same mirror names
    serve both the search space and the code that runs at build time.
    """

    # The Keras class this spec builds; set on each generated subclass.
    keras_class = None

    def __new__(cls, *args, **kwargs):
        if (cls.keras_class is not None and building_keras()
                and not is_pyglove_internal_call(kwargs)):
            return cls.keras_class(*args, **kwargs)
        return super().__new__(cls)

    @builds_keras
    def to_keras(self) -> Any:
        """Builds the Keras object with the arguments given to this spec."""
        check_fixed(self)
        return self.keras_class(**self.constructor_kwargs())

    def constructor_kwargs(self) -> Dict[str, Any]:
        """The Keras constructor's keyword arguments, nested specs built."""
        return {k: to_keras_value(v) for k, v in self.sym_init_args.items()}


def built_once(value: pg.Symbolic, attribute: str) -> Any:
    """`value.to_keras()`, kept on `value` under `attribute` (not symbolic) and reused.

    The owner clears the attribute in `_on_bound`, so a rebind builds afresh.
    """
    built = getattr(value, attribute, None)
    if built is None:
        built = value.to_keras()
        value._set_raw_attr(attribute, built)  # pylint: disable=protected-access
    return built


def check_fixed(value: pg.Symbolic, action: str = "building the Keras object") -> None:
    """Raises `SearchSpaceError` naming the hyper-values left in `value`, if any."""
    if not pg.is_deterministic(value):
        raise errors.SearchSpaceError(
            f"{type(value).__name__} still holds hyper-values at "
            f"{hyper_paths(value)}; materialize it (pg.materialize or a search) "
            f"before {action}."
        )


def hyper_paths(value: pg.Symbolic) -> List[str]:
    """Paths (from the root of `value`'s tree) of the hyper-values inside it."""
    paths = []

    def visit(key_path, v, unused_parent):
        if isinstance(v, pg.hyper.HyperValue):
            paths.append(str(key_path))
            return pg.TraverseAction.CONTINUE
        return pg.TraverseAction.ENTER

    pg.traverse(value, visit, root_path=value.sym_path)
    return paths


def to_keras_value(value: Any) -> Any:
    """Converts specs inside a value (lists, dicts, nested specs) to Keras objects."""
    if isinstance(value, KerasSpec):
        return value.to_keras()
    if isinstance(value, (list, tuple)):
        converted = [to_keras_value(v) for v in value]
        # Keras checks for tuples in places (kernel sizes, shapes): keep the type.
        return tuple(converted) if isinstance(value, tuple) else converted
    if isinstance(value, dict):
        return {k: to_keras_value(v) for k, v in value.items()}
    return value


_MISSING = inspect.Parameter.empty


def symbolic_class(
    keras_class: Type[Any],
    base: Type[KerasSpec] = KerasSpec,
    module: Optional[str] = None,
    name: Optional[str] = None,
) -> Type[KerasSpec]:
    """Returns the symbolic stand-in of a Keras class (or of a user's own class).

    The stand-in's fields mirror `keras_class.__init__`: positional arguments
    stay positional, keyword arguments keep their defaults, and `**kwargs`
    (e.g. `name`, `dtype`) is accepted. Every field accepts hyper-values.

    Args:
      keras_class: any class, typically a `keras.layers.Layer` subclass.
      base: the spec base class (`LayerSpec` adds the functional API call).
      module: module name to register the class under, for JSON round trips.
        Defaults to the module of `keras_class`.
      name: class name; defaults to `keras_class.__name__`.

    Returns:
      A `pg.Object` subclass whose `to_keras()` builds `keras_class`.
    """
    if not isinstance(keras_class, type):
        raise TypeError(
            f"symbolic_class expects a class, got {keras_class!r} "
            f"of type {type(keras_class).__name__}."
        )
    name = name or keras_class.__name__
    module = module or keras_class.__module__
    fields, init_arg_list, accepts_kwargs = _fields_from_signature(keras_class)
    namespace = {
        "keras_class": keras_class,
        "__module__": module,
        "__qualname__": name,
        "__doc__": (
            f"Symbolic `{keras_class.__module__}.{keras_class.__name__}`: same "
            f"arguments, each may be a hyper-value.\n\n"
            + (inspect.getdoc(keras_class) or "")
        ),
    }
    cls = type(name, (base,), namespace)
    if accepts_kwargs:
        fields.append((pg.typing.StrKey(), pg.typing.Any(), "Extra keyword argument."))
    pg.members(fields, init_arg_list=init_arg_list)(cls)
    return cls


def _fields_from_signature(keras_class):
    try:
        signature = inspect.signature(keras_class.__init__)
    except (TypeError, ValueError) as e:
        raise TypeError(f"Cannot read the constructor of {keras_class!r}: {e}") from e
    fields, init_arg_list, accepts_kwargs = [], [], False
    for i, param in enumerate(signature.parameters.values()):
        if i == 0:  # self
            continue
        if param.kind == param.VAR_KEYWORD:
            accepts_kwargs = True
            continue
        if param.kind == param.VAR_POSITIONAL:
            continue
        if param.default is _MISSING:
            value_spec = pg.typing.Any()
        else:
            value_spec = pg.typing.Any(default=param.default)
        fields.append((param.name, value_spec, f"Argument `{param.name}`."))
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            init_arg_list.append(param.name)
    return fields, init_arg_list, accepts_kwargs


def mirror_module(keras_module, base: Type[KerasSpec], module: str,
                  predicate=lambda cls: True) -> Dict[str, Type[KerasSpec]]:
    """Generates a symbolic class for every public class of a Keras module."""
    mirrored = {}
    for attr in dir(keras_module):
        if attr.startswith("_"):
            continue
        value = getattr(keras_module, attr)
        if isinstance(value, type) and predicate(value):
            mirrored[attr] = symbolic_class(value, base=base, module=module, name=attr)
    return mirrored
