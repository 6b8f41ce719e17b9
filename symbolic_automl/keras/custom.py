"""Your own Keras layers, written against the mirror, searchable like built-in ones.

Subclass `layers.Layer` (from `symbolic_automl.keras`) exactly as you would
subclass `keras.layers.Layer`. The class stays a real Keras layer class; in
addition it gets a symbolic stand-in, generated from its constructor, and
registered both for symbolic JSON and for Keras's `.keras` files:

* In model code (a search space being written), `Block(pg.oneof([32, 64]))`
  returns the stand-in: a `LayerSpec` whose arguments may hold hyper-values,
  usable in `Sequential`, called on symbolic tensors, a candidate of
  `pg.oneof`, and stored in JSON by class name (no pickles).
* While Keras objects are being built (`to_keras()`, Keras loading a `.keras`
  file, the layer's own `__init__` and `build`), `Block(64)` is the real
  Keras layer, and the mirror names used inside it (`layers.Dense`,
  `keras.Sequential`, `ops.relu`) are the real Keras ones too.

Example::

    import pyglove as pg
    from symbolic_automl import keras
    from symbolic_automl.keras import layers, ops

    class Block(layers.Layer):
        def __init__(self, units, rate=0.1, **kwargs):
            super().__init__(**kwargs)
            self.units, self.rate = units, rate
            self.dense = layers.Dense(units)
            self.dropout = layers.Dropout(rate)

        def call(self, x):
            return self.dropout(ops.relu(self.dense(x)))

    x = keras.Input(shape=(16,))
    y = Block(pg.oneof([32, 64]))(x)            # searchable
    model = keras.Model(x, layers.Dense(3)(y))
    built = pg.materialize(model, pg.DNA(1)).to_keras()   # holds a real Block(64)

`keras.Model` from the mirror works the same way: `keras.Model(inputs,
outputs)` is the symbolic functional model, and `class MLP(keras.Model)` is a
subclassed Keras model whose stand-in (`MLP(pg.oneof([32, 64]))`) is a search
space that also answers `compile`/`fit`/`predict` (see `facade`); unlike plain
Keras, it saves to `.keras` without a hand-written `get_config` when its
constructor arguments are plain values.

Keras reloads a saved model with such a layer once the module that defines
the class is imported (the class is registered with
`keras.saving.register_keras_serializable(package=<its module>)`). Keras's
automatic `get_config` covers constructors whose arguments are plain values;
a layer taking other layers as arguments needs its own `get_config` /
`from_config`, as in Keras.
"""

import functools
import inspect
from typing import Optional, Type

import keras

from symbolic_automl.keras import spec
from symbolic_automl.keras.tensor import LayerSpec

# The stand-in's attribute on each class (set on the class itself, never inherited).
_SYMBOLIC = "_symbolic_class"


class CustomClassType(type):
    """Metaclass: a call outside Keras building makes the symbolic stand-in."""

    def __call__(cls, *args, **kwargs):
        symbolic = cls.__dict__.get(_SYMBOLIC)
        if symbolic is not None and not spec.building_keras():
            return symbolic(*args, **kwargs)
        with spec.keras_building():
            return super().__call__(*args, **kwargs)


def _under_building(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with spec.keras_building():
            return function(*args, **kwargs)

    return wrapper


def _register(cls, spec_base: Type[spec.KerasSpec]) -> None:
    """Gives `cls` its symbolic stand-in and registers both for loading."""
    for method in ("build",):
        if method in cls.__dict__:
            setattr(cls, method, _under_building(cls.__dict__[method]))
    if "from_config" in cls.__dict__:
        original = cls.__dict__["from_config"]
        setattr(cls, "from_config", classmethod(_under_building(original.__func__)))
    setattr(cls, _SYMBOLIC, spec.symbolic_class(cls, base=spec_base, module=cls.__module__,
                                                name=cls.__name__))
    keras.saving.register_keras_serializable(package=cls.__module__)(cls)


def _accepted_arguments(cls) -> Optional[set]:
    """The constructor's argument names, or None when it takes **kwargs."""
    try:
        parameters = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return None
    if any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
        return None
    return set(parameters)


def symbolic_class_of(cls) -> Optional[Type[spec.KerasSpec]]:
    """The symbolic stand-in of a class defined against the mirror, else None."""
    return cls.__dict__.get(_SYMBOLIC) if isinstance(cls, type) else None


def _custom_base(keras_base: type, spec_base: Type[spec.KerasSpec], doc: str,
                 metaclass: type = CustomClassType, namespace: Optional[dict] = None) -> type:
    def init_subclass(cls, **kwargs):
        super(base, cls).__init_subclass__(**kwargs)
        _register(cls, spec_base)

    def from_config(cls, config):
        with spec.keras_building():
            accepted = _accepted_arguments(cls)
            if accepted is None:
                return super(base, cls).from_config(config)
            # Keras's automatic config adds `name`, `trainable` and `dtype`, which
            # a constructor without **kwargs (`super().__init__()`) cannot take:
            # plain Keras then fails to reload the layer. Set them afterwards.
            config = dict(config)
            extra = {k: config.pop(k) for k in list(config) if k not in accepted}
            instance = super(base, cls).from_config(config)
            if "name" in extra:
                instance.name = extra["name"]
            if "trainable" in extra:
                instance.trainable = extra["trainable"]
            return instance

    base = metaclass(keras_base.__name__, (keras_base,), {
        "__module__": __name__,
        "__qualname__": keras_base.__name__,
        "__doc__": doc,
        "__init_subclass__": classmethod(init_subclass),
        "from_config": classmethod(from_config),
        **(namespace or {}),
    })
    return base


class _ModelBaseType(CustomClassType):
    """Metaclass of the mirror's `keras.Model`: the functional constructor when
    called itself, the base of subclassed models when subclassed."""

    def __call__(cls, *args, **kwargs):
        functional = cls.__dict__.get("_functional_class")
        if functional is None:
            instance = super().__call__(*args, **kwargs)
            if isinstance(instance, keras.Model):
                # Keras makes no automatic config for subclassed models; keep the
                # constructor's arguments for `get_config` below.
                instance._constructor_arguments = _arguments(cls, args, kwargs)  # pylint: disable=protected-access
            return instance
        if spec.building_keras():
            return keras.Model(*args, **kwargs)
        return functional(*args, **kwargs)

    def __instancecheck__(cls, value):
        functional = cls.__dict__.get("_functional_class")
        return (functional is not None and isinstance(value, functional)) or \
            super().__instancecheck__(value)


def _arguments(cls, args, kwargs) -> Optional[dict]:
    """The constructor's arguments by name, or None if they are not plain values."""
    try:
        bound = inspect.signature(cls.__init__).bind(None, *args, **kwargs)
    except TypeError:
        return None
    arguments = dict(bound.arguments)
    arguments.pop(next(iter(arguments)))  # self
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if parameter.kind == parameter.VAR_KEYWORD:
            arguments.update(arguments.pop(name, {}))
        elif parameter.kind == parameter.VAR_POSITIONAL and arguments.pop(name, ()):
            return None
    plain = (type(None), bool, int, float, str)
    if not all(isinstance(v, plain) or (isinstance(v, (list, tuple)) and
                                        all(isinstance(e, plain) for e in v))
               for v in arguments.values()):
        return None
    return arguments


def _model_get_config(self):
    """Keras's config, plus the (plain) constructor arguments the model was made with."""
    arguments = getattr(self, "_constructor_arguments", None)
    try:
        config = keras.Model.get_config(self)
    except NotImplementedError:
        if arguments is None:
            raise
        config = {"name": self.name, "trainable": self.trainable}
    for name, value in (arguments or {}).items():
        config.setdefault(name, value)
    return config


def model_base(functional_class: type, spec_base: Type[spec.KerasSpec]) -> type:
    """The mirror's `keras.Model`: `Model(inputs, outputs)` is `functional_class`'s,
    and `class MyModel(Model)` is a subclassed Keras model with a stand-in."""
    return _custom_base(
        keras.Model, spec_base,
        "`keras.Model`: `Model(inputs, outputs)` makes a symbolic functional model;\n"
        "subclass it for your own models, which then get a symbolic stand-in (their\n"
        "constructor arguments may hold hyper-values), as `layers.Layer` subclasses do.",
        metaclass=_ModelBaseType,
        namespace={"_functional_class": functional_class, "get_config": _model_get_config})


Layer = _custom_base(
    keras.layers.Layer, LayerSpec,
    "`keras.layers.Layer` for your own layers: subclasses get a symbolic stand-in.\n\n"
    "A subclass is a real Keras layer class. Called in model code it returns its\n"
    "symbolic stand-in (arguments may be hyper-values); called while Keras objects\n"
    "are built, the layer itself. See `symbolic_automl.keras.custom`.")

Loss = _custom_base(
    keras.losses.Loss, spec.KerasSpec,
    "`keras.losses.Loss` for your own losses: subclasses get a symbolic stand-in.")

Metric = _custom_base(
    keras.metrics.Metric, spec.KerasSpec,
    "`keras.metrics.Metric` for your own metrics: subclasses get a symbolic stand-in.")

