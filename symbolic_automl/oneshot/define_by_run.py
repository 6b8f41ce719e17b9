"""Supernets of define-by-run search spaces: the user's own model function, unchanged.

A define-by-run space is a plain function that calls `pg.oneof(..., name=...)`
inline while it builds a Keras model. `DefineByRunSupernet(fn)` runs that
function once in *supernet mode*: pyglove's dynamic evaluation (the mechanism
behind `pg.hyper.trace`) hands every hyper-value to `SupernetContext`, which
records it as a decision point, exactly as `pg.hyper.trace(fn,
require_hyper_name=True)` does, and returns, instead of the first candidate,

* a `MixedOp` holding every candidate, when the candidates are Keras layers or
  callables returning tensors (`lambda t: layers.Conv2D(8, 3)(t)`), or
* a `ChoiceSpec` (a symbolic layer whose `to_keras()` is that `MixedOp`), when
  the candidates are symbolic layers from `symbolic_automl.keras.layers`, so a
  function written with the symbolic mirror works too.

The function's own wiring (`y = op(x)`, `keras.Model(x, y)`) then builds the
supernet's graph. The supernet's DNA spec is the traced one, so a derived DNA
has the same decision ids, names and order as `Space(fn).dna_spec`, and the
search loop materializes it by re-running the function with that DNA.

What cannot be relaxed is a clear `SearchSpaceError` naming the hyper-value:
`pg.oneof` over values that are not layers (ints, strings used in `if`),
`pg.floatv`, `pg.manyof`, custom hyper-values, hyper-values without a name, and
choices nested inside another choice's candidates.

Example::

    import keras
    import pyglove as pg

    def build():
        x = keras.Input((8, 8, 1))
        op = pg.oneof([keras.layers.Conv2D(8, 3, padding="same"),
                       keras.layers.MaxPooling2D(3, 1, padding="same")], name="op1")
        y = keras.layers.Dense(10)(keras.layers.Flatten()(op(x)))
        return keras.Model(x, y)

    net = DefineByRunSupernet(build)           # or build_supernet(build)
    net.choice_points[0].key                   # 'op1'
    dna = net.derive([np.array([0.2, 0.8])])   # DNA(1): MaxPooling2D
"""

import contextlib
import functools
import re
import types
from typing import Any, Dict, List, Sequence

import keras
import numpy as np
import pyglove as pg

from symbolic_automl import errors
from symbolic_automl.keras.spec import KerasSpec
from symbolic_automl.keras.tensor import InputSpec, LayerSpec
from symbolic_automl.oneshot.choice import ChoicePoint, MixedOp, active_mixing
from symbolic_automl.oneshot.network import Supernet, check_scores, one_hot_mixing, spec_label

_SUPPORTED = (
    "weight-sharing search relaxes only a named pg.oneof whose candidates are layers: "
    "Keras layers, symbolic layers (symbolic_automl.keras.layers) or callables that "
    "return tensors (e.g. lambda t: layers.Conv2D(8, 3)(t))")
_ALTERNATIVE = ("Fix it to one value, turn it into a choice among layers, or use a "
                "black-box algorithm (random, evolution) for this space.")


def _describe(hyper) -> str:
    name = getattr(hyper, "name", None)
    kind = {pg.hyper.OneOf: "pg.oneof", pg.hyper.ManyOf: "pg.manyof",
            pg.hyper.Float: "pg.floatv"}.get(type(hyper), type(hyper).__name__)
    return f"{kind} named {name!r}" if name else f"the unnamed {kind}"


@pg.members([
    ("candidates", pg.typing.List(pg.typing.Any()), "The candidate symbolic layers."),
    ("decision", pg.typing.Str(), "Name of the decision point it relaxes."),
    ("choice_index", pg.typing.Int(min_value=0), "Index of its mixing vector."),
    ("layer_name", pg.typing.Str(), "Name of the Keras MixedOp it builds."),
])
class ChoiceSpec(LayerSpec):
    """A choice among symbolic layers, as supernet mode returns it.

    Used like the symbolic layer a materialized `pg.oneof` returns (called on
    symbolic tensors, or an element of `symbolic_automl.keras.Sequential`);
    `to_keras()` builds the `MixedOp` of all candidates.
    """

    def to_keras(self) -> MixedOp:
        return MixedOp([c.to_keras() for c in self.candidates],
                       choice_index=self.choice_index, decision=self.decision,
                       name=self.layer_name)


def _is_zero_arg_function(value) -> bool:
    # pyglove calls such candidates to get the value (a conditional sub-space).
    if not isinstance(value, types.LambdaType):
        return False
    signature = pg.typing.signature(value, auto_typing=False, auto_doc=False)
    return not signature.args and not signature.has_wildcard_args


def _layer_kind(value) -> str:
    """'spec', 'keras' or 'callable' for a candidate a MixedOp can hold, else ''."""
    if isinstance(value, LayerSpec) and not isinstance(value, InputSpec):
        return "spec"
    if isinstance(value, keras.layers.Layer):
        return "keras"
    # Classes would be constructed, not applied, by `op(x)`; other symbolic Keras
    # specs (optimizers, losses) are not layers.
    if callable(value) and not isinstance(value, (type, KerasSpec)):
        return "callable"
    return ""


def _keras_label(layer) -> str:
    config = layer.get_config() if hasattr(layer, "get_config") else {}
    args = ", ".join(f"{config[k]!r}" for k in ("units", "filters", "kernel_size",
                                                  "pool_size", "activation", "rate")
                     if k in config)
    return f"{type(layer).__name__}({args})"


def _callable_label(fn) -> str:
    if isinstance(fn, functools.partial):
        return f"{_callable_label(fn.func)}(...)"
    return getattr(fn, "__name__", type(fn).__name__)


def _label(value, kind) -> str:
    if kind == "spec":
        return spec_label(value)
    if kind == "keras":
        return _keras_label(value)
    return _callable_label(value)


def _unique(labels: List[str]) -> List[str]:
    """Labels, numbered where they repeat (two lambdas), for the history and plots."""
    return [f"{label} #{i}" if labels.count(label) > 1 else label
            for i, label in enumerate(labels)]


class SupernetContext(pg.hyper.DynamicEvaluationContext):
    """Collects a define-by-run function's hyper-values and answers them with choice layers.

    It is `pg.hyper.DynamicEvaluationContext(require_hyper_name=True)` (so
    `dna_spec` is the traced spec) whose `add_decision_point` returns a
    `MixedOp` or `ChoiceSpec` instead of the first candidate. After the function
    ran under `collect()`, `choice_points[i]` describes the choice whose ops
    read mixing vector `i`; every decision point of `dna_spec` is one of them.
    """

    def __init__(self):
        super().__init__(require_hyper_name=True)
        self.choice_points: List[ChoicePoint] = []
        self._index: Dict[str, int] = {}
        self._layer_names: Dict[str, int] = {}
        self._inside_candidate = None

    def add_decision_point(self, hyper_primitive):
        if self._inside_candidate is not None:
            raise errors.SearchSpaceError(
                f"{_describe(hyper_primitive)} is created inside a candidate of the "
                f"pg.oneof named {self._inside_candidate!r}; weight-sharing supernets "
                "of define-by-run functions relax only top-level choices. Give it its "
                "own pg.oneof outside the candidates, or use a black-box algorithm.")
        if not isinstance(hyper_primitive, pg.hyper.HyperPrimitive):
            return super().add_decision_point(hyper_primitive)
        name = hyper_primitive.name
        if name is None:
            raise errors.SearchSpaceError(
                f"{_describe(hyper_primitive)} ({hyper_primitive!r:.120}) has no name; a "
                "define-by-run space needs a name on every hyper-value, e.g. "
                "pg.oneof([...], name='op1').")
        if isinstance(hyper_primitive, pg.hyper.ManyOf):
            raise errors.SearchSpaceError(
                f"{_describe(hyper_primitive)} picks {hyper_primitive.num_choices} of "
                f"{len(hyper_primitive.candidates)} candidates: a subset choice that "
                f"weight-sharing supernets of define-by-run functions cannot relax; "
                f"{_SUPPORTED}. Write one pg.oneof per pick, or use a black-box "
                "algorithm (random, evolution).")
        if not isinstance(hyper_primitive, pg.hyper.OneOf):
            raise errors.SearchSpaceError(
                f"{_describe(hyper_primitive)} ({hyper_primitive!r:.120}) is not a choice "
                f"among layers; {_SUPPORTED}. {_ALTERNATIVE}")
        try:
            # Registers the decision point exactly as pg.hyper.trace does.
            super().add_decision_point(hyper_primitive)
        except ValueError as e:
            raise errors.SearchSpaceError(
                f"{_describe(hyper_primitive)} cannot join the search space: {e}") from e
        return self._choice(name, [self._candidate_value(name, c)
                                   for c in hyper_primitive.candidates])

    def _candidate_value(self, name, candidate):
        if not _is_zero_arg_function(candidate):
            return candidate
        self._inside_candidate = name
        try:
            return candidate()
        finally:
            self._inside_candidate = None

    def _choice(self, name: str, values: Sequence[Any]):
        kinds = [_layer_kind(v) for v in values]
        if not all(kinds):
            bad = [v for v, k in zip(values, kinds) if not k]
            raise errors.SearchSpaceError(
                f"The pg.oneof named {name!r} chooses among {bad[0]!r:.80} "
                f"({type(bad[0]).__name__}){' and others' if len(bad) > 1 else ''}, "
                f"which {'is' if len(bad) == 1 else 'are'} not layers; {_SUPPORTED}. "
                f"{_ALTERNATIVE}")
        if name in self._index:  # the same decision used again: same mixing vector
            index = self._index[name]
        else:
            index = self._index[name] = len(self.choice_points)
            self.choice_points.append(ChoicePoint(key=name, candidates=_unique(
                [_label(v, k) for v, k in zip(values, kinds)])))
        layer_name = self._layer_name(name)
        if all(k == "spec" for k in kinds):
            return ChoiceSpec(candidates=[v.clone(deep=True) for v in values],
                              decision=name, choice_index=index, layer_name=layer_name)
        candidates = [v.to_keras() if k == "spec" else v for v, k in zip(values, kinds)]
        return MixedOp(candidates, choice_index=index, decision=name, name=layer_name)

    def _layer_name(self, name: str) -> str:
        # Keras needs unique layer names without '/' within one model.
        base = "choice_" + re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        count = self._layer_names.get(base, 0)
        self._layer_names[base] = count + 1
        return base if count == 0 else f"{base}_{count}"


@contextlib.contextmanager
def supernet_mode():
    """Runs define-by-run code with every choice among layers relaxed into a `MixedOp`.

    Yields:
      The `SupernetContext`: after the block, its `dna_spec` and
      `choice_points` describe the hyper-values the code created.

    Example::

        with supernet_mode() as context:
            model = build()          # the user's define-by-run function
        context.choice_points        # one per named pg.oneof over layers
    """
    context = SupernetContext()
    with context.collect():
        yield context


def _as_keras_model(result, fn) -> keras.Model:
    value = result
    if not isinstance(value, keras.Model) and hasattr(value, "to_keras"):
        value = value.to_keras()  # a symbolic_automl.keras Sequential or Model
    if not isinstance(value, keras.Model):
        raise errors.SearchSpaceError(
            f"For weight-sharing search the define-by-run function "
            f"{getattr(fn, '__qualname__', fn)!r} must return a Keras model (keras.Model, "
            f"keras.Sequential, or a symbolic_automl.keras model); it returned "
            f"{type(result).__name__}: {result!r:.120}")
    try:
        inputs = value.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise errors.SearchSpaceError(
            f"The model built by {getattr(fn, '__qualname__', fn)!r} has no defined "
            "inputs; start it with keras.Input(shape=...) so that the supernet knows "
            "its input shape.")
    return value


class DefineByRunSupernet(Supernet):
    """Supernet of a define-by-run function: its model with every choice a `MixedOp`.

    Args:
      fn: the define-by-run function (no arguments, returns a Keras model or a
        `symbolic_automl.keras` model, names every hyper-value).

    Attributes:
      inner: the Keras model the function built in supernet mode.
      dna_spec: the traced spec (`pg.hyper.trace(fn, require_hyper_name=True)`).
    """

    def __init__(self, fn, **kwargs):
        super().__init__(**kwargs)
        with supernet_mode() as context:
            result = fn()
        self.inner = _as_keras_model(result, fn)
        self.dna_spec = context.dna_spec
        self.choice_points = context.choice_points
        self.input_shapes = [tuple(t.shape[1:]) for t in self.inner.inputs]
        self.input_dtypes = [t.dtype for t in self.inner.inputs]
        names = {c.key for c in self.choice_points}
        for point in self.dna_spec.decision_points:
            if point.name not in names:  # pragma: no cover - add_decision_point rejects it
                raise errors.SearchSpaceError(
                    f"Decision point {point.name!r} of {getattr(fn, '__qualname__', fn)!r} "
                    f"is not a choice among layers; {_SUPPORTED}.")

    def example_inputs(self, batch_size: int = 2):
        inputs = [np.zeros((batch_size,) + tuple(s), keras.backend.standardize_dtype(d))
                  for s, d in zip(self.input_shapes, self.input_dtypes)]
        return inputs[0] if len(inputs) == 1 else inputs

    def call(self, inputs, mixing, training=None):
        with active_mixing(mixing):
            return self.inner(inputs, training=training)

    # Decision points of a traced spec are keyed by name ('op1'); their ids
    # differ for names with dots ('[cell.op1]').

    def derive(self, scores: Sequence[np.ndarray]) -> pg.DNA:
        """The DNA that picks, at each choice, the candidate of highest score."""
        check_scores(self.choice_points, scores)
        chosen = {c.key: int(np.argmax(s)) for c, s in zip(self.choice_points, scores)}
        return pg.DNA.from_fn(self.dna_spec, lambda point: [chosen[point.name]])

    def dna_to_mixing(self, dna: pg.DNA) -> List[np.ndarray]:
        """One-hot mixing weights that run exactly the architecture `dna` selects."""
        dna.use_spec(self.dna_spec)
        chosen = {point.name: value for point, value in
                  dna.to_dict(key_type="dna_spec", value_type="dna").items()}
        return one_hot_mixing(self.choice_points, chosen)
