"""`Space`: the one type for "a search space".

A space is either a symbolic value with hyper-values in it (a symbolic Keras
model, any `pg.Object`, `pg.Dict`, ...) or a define-by-run function that calls
`pg.oneof(..., name=...)` / `pg.floatv(..., name=...)` inline while it builds a
model. Both give a `pg.DNASpec` for algorithms and turn a `pg.DNA` into a model.

Example::

    space = Space(keras.Sequential([..., keras.layers.Dense(pg.oneof([32, 64]))]))
    model = space.materialize(pg.random_dna(space.dna_spec))

    def build():
        units = pg.oneof([32, 64], name="units")
        return plain_keras.Sequential([plain_keras.layers.Dense(units)])

    space = Space(build)    # define-by-run
"""

import ast
import hashlib
import inspect
import json
import sys
from typing import Any, Callable, Dict, Optional

import pyglove as pg

from symbolic_automl import errors
from symbolic_automl import export
from symbolic_automl import genome as genome_lib
from symbolic_automl import materializer

_NOT_COMPILED = object()


class Space:
    """A search space: symbolic value or define-by-run function."""

    def __init__(self, value: Any):
        if isinstance(value, Space):
            value = value.value
        if type(value).__module__.split(".")[0] == "keras":
            raise errors.SearchSpaceError(
                f"Got a plain Keras object ({type(value).__name__}), which holds no "
                "hyper-values. Build it with `from symbolic_automl import keras` and put "
                "pg.oneof/pg.floatv where you want choices.")
        self.value = value
        self._trace: Optional[pg.hyper.DynamicEvaluationContext] = None
        self._fast_materialize = _NOT_COMPILED
        self._genome = _NOT_COMPILED
        if self.is_define_by_run:
            self._trace = _trace(value)
            self.dna_spec = self._trace.dna_spec
        else:
            if not isinstance(value, pg.Symbolic):
                raise errors.SearchSpaceError(
                    f"A search space must be a symbolic value (a pg.Object, pg.Dict, "
                    f"pg.List, a symbolic Keras model) or a function that builds a "
                    f"model; got {type(value).__name__}: {value!r:.200}")
            self.dna_spec = pg.dna_spec(value)
        if not self.dna_spec.elements:
            raise errors.SearchSpaceError(
                f"The search space has no hyper-values (pg.oneof, pg.manyof, "
                f"pg.floatv) to search over: {_short(value)}")

    @property
    def is_define_by_run(self) -> bool:
        return callable(value_callable(self.value))

    def check_dna(self, dna: pg.DNA) -> pg.DNA:
        """Attaches the spec to `dna`, raising `DNAMismatchError` if it does not fit."""
        if not isinstance(dna, pg.DNA):
            raise errors.DNAMismatchError(
                f"Expected a pg.DNA, got {type(dna).__name__}: {dna!r:.200}")
        try:
            dna.use_spec(self.dna_spec)
        except (ValueError, KeyError, TypeError) as e:
            raise errors.DNAMismatchError(
                f"DNA {dna!r:.200} does not fit the search space "
                f"({len(self.dna_spec.decision_points)} decision points): {e}") from e
        return dna

    def materialize(self, dna: pg.DNA) -> Any:
        """The model that `dna` selects: a symbolic value, or the function's result."""
        dna = self.check_dna(dna)
        if self._trace is not None:
            with self._trace.apply(dna):
                return self.value()
        fast = self._compiled_materializer()
        if fast is not None:
            return fast(dna.to_numbers())
        return pg.materialize(self.value, dna, use_literal_values=False)

    def materialize_assignment(self, assignment: Dict[str, Any]) -> Any:
        """`materialize` for an assignment of `genome`, building no `pg.DNA` when it can.

        Raises:
            DNAMismatchError: the assignment does not fit the space.
        """
        fast = self._compiled_materializer()
        if fast is not None:
            try:
                return fast(self.genome.numbers(assignment))
            except (KeyError, IndexError) as e:
                raise errors.DNAMismatchError(
                    f"Assignment {assignment!r:.200} does not fit the search space: {e!r}") from e
        return self.materialize(self.genome.to_dna(assignment))

    @property
    def genome(self) -> Optional[genome_lib.Genome]:
        """The spec compiled for assignments, or None for custom decision points."""
        if self._genome is _NOT_COMPILED:
            try:
                self._genome = genome_lib.Genome(self.dna_spec)
            except errors.SearchSpaceError:
                self._genome = None
        return self._genome

    def _compiled_materializer(self):
        if self._trace is not None:
            return None
        if self._fast_materialize is _NOT_COMPILED:
            self._fast_materialize = materializer.compile(self.value, self.dna_spec)
        return self._fast_materialize

    def decisions(self, dna: pg.DNA) -> Dict[str, Any]:
        """Decision name (or path) -> chosen value, JSON-friendly.

        A plain Keras layer chosen by a define-by-run function shows as its class
        and the arguments it was built with, e.g. `Dense(units=16, activation='relu')`
        (its repr would only give its generated name).
        """
        dna = self.check_dna(dna)
        out = {str(k): _jsonable(_literal(v)) for k, v in
               dna.to_dict(key_type="name_or_id", value_type="literal").items()}
        if self._trace is not None:
            hypers = self._trace.hyper_dict
            for name, index in dna.to_dict(key_type="name_or_id", value_type="value").items():
                hyper = hypers.get(name)
                if isinstance(hyper, pg.hyper.Choices):
                    described = [_describe_layer(hyper.candidates[i])
                                 for i in (index if isinstance(index, list) else [index])]
                    if all(d is not None for d in described):
                        out[str(name)] = described if isinstance(index, list) else described[0]
        return out

    def fingerprint(self) -> str:
        """A hash that changes whenever the space changes (guards resuming)."""
        if self._trace is not None:
            fn = value_callable(self.value)
            text = f"{getattr(fn, '__qualname__', fn)!s}|{self.dna_spec.format(compact=True)}"
        else:
            try:
                text = export.dumps(self.value)
            except (TypeError, ValueError):  # Never a pickle: its bytes vary between runs.
                text = pg.format(self.value, compact=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_json_str(self) -> Optional[str]:
        """The space itself as JSON (symbolic spaces only), for the store.

        None when the space is define-by-run or holds values with no safe JSON
        form (a plain Keras object would need a pickle, which we never write).
        """
        if self._trace is not None:
            return None
        try:
            return export.dumps(self.value)
        except (TypeError, ValueError):
            return None


def value_callable(value) -> Optional[Callable[[], Any]]:
    """`value` if it is a define-by-run function (not a symbolic object)."""
    if isinstance(value, (pg.Symbolic, type)):
        return None
    return value if callable(value) else None


def _trace(fn) -> pg.hyper.DynamicEvaluationContext:
    try:
        context = pg.hyper.trace(fn, require_hyper_name=True)
    except ValueError as e:
        raise errors.SearchSpaceError(
            f"Define-by-run space {getattr(fn, '__qualname__', fn)}: every hyper-value "
            f"needs a name, e.g. pg.oneof([...], name='units'): {e}") from e
    finally:
        _clear_keras_session()
    return context


def _clear_keras_session():
    # Tracing runs the function once; do not keep the model it built.
    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session()


_HIDDEN_LAYER_ARGS = ("name", "dtype", "trainable")


def _describe_layer(candidate) -> Optional[str]:
    """`Class(arg=value, ...)` for a plain Keras layer (None for anything else).

    Shows the required arguments and those that differ from the class's defaults.
    """
    keras = sys.modules.get("keras")
    if keras is None or not isinstance(candidate, keras.layers.Layer):
        return None
    cls = type(candidate)
    config = candidate.get_config()
    try:
        parameters = inspect.signature(cls.__init__).parameters
        required = {n for n, p in parameters.items()
                    if p.default is inspect.Parameter.empty and n in config}
        defaults = cls(**{n: config[n] for n in required}).get_config()
    except Exception:  # pylint: disable=broad-except
        # A layer whose config does not rebuild it: show everything but the name.
        required, defaults = set(), {}
    shown = [f"{k}={v!r}" for k, v in config.items()
             if k not in _HIDDEN_LAYER_ARGS and (k in required or defaults.get(k, _NO_VALUE) != v)]
    return f"{cls.__name__}({', '.join(shown)})"


_NO_VALUE = object()


def _literal(value):
    # PyGlove gives string candidates as their repr ("'relu'").
    if isinstance(value, list):
        return [_literal(v) for v in value]
    if isinstance(value, str):
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
    return value


def _jsonable(value):
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) < 200 else text[:200] + "..."
