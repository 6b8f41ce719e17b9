"""`Space`: the one type for "a search space".

A space is either a symbolic value with hyper-values in it (a symbolic Keras
model, any `pg.Object`, `pg.Dict`, ...) or a define-by-run function that calls
`pg.oneof(..., name=...)` / `pg.floatv(..., name=...)` inline while it builds a
model. Both give a `pg.DNASpec` for algorithms and turn a `pg.DNA` into a model.

One hyper-value is one decision, wherever it is used: the same object placed in
several fields (`k = pg.oneof([3, 5])` given to two convolutions), or
hyper-values with the same `name=` and the same candidates. The genotype has one
decision for them and materializing sets every place. The same name with other
candidates is a `SearchSpaceError` naming both places.

Example::

    space = Space(keras.Sequential([..., keras.layers.Dense(pg.oneof([32, 64]))]))
    model = space.materialize(pg.random_dna(space.dna_spec))
    space.named_decisions(dna)        # [('units', 64)]
    space.fix({"units": 64})          # the model with that decision fixed

    def build():
        units = pg.oneof([32, 64], name="units")
        return plain_keras.Sequential([plain_keras.layers.Dense(units)])

    space = Space(build)    # define-by-run
"""

import contextlib
import functools
import hashlib
import inspect
import os
import sys
import traceback
import types
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import pyglove as pg
from pyglove.core.hyper import base as _hyper_base

from symbolic_automl import decisions as decisions_lib
from symbolic_automl import errors
from symbolic_automl import export
from symbolic_automl import genome as genome_lib
from symbolic_automl import materializer
from symbolic_automl import sharing
from symbolic_automl.reporting import readable

_NOT_COMPILED = object()
# Retraces a define-by-run function may take to find decisions that only some
# choices declare (a searched depth); beyond, the space is refused.
MAX_PROBES = 200


class Space:
    """A search space: symbolic value or define-by-run function.

    Args:
      value: a symbolic value holding hyper-values, or a function that builds
        a model calling named hyper-values inline.
      training: a `Training` recipe whose hyper-values join the genotype; the
        materialized value is then a `Trainable(model=..., training=...)`.
    """

    def __init__(self, value: Any, training: Any = None):
        if isinstance(value, Space):
            value = value.value
        if type(value).__module__.split(".")[0] == "keras":
            raise errors.SearchSpaceError(
                f"Got a plain Keras object ({type(value).__name__}), which holds no "
                "hyper-values. Build it with `from symbolic_automl import keras` and put "
                "pg.oneof/pg.floatv where you want choices.")
        self._fast_materialize = _NOT_COMPILED
        self._genome = _NOT_COMPILED
        self._short_names = None
        self._expand: Optional[List[int]] = None
        self._trace: Optional[_Trace] = None
        if training is not None and value_callable(value) is not None:
            value = _with_training(value, training)
        elif training is not None:
            from symbolic_automl.evaluators import Trainable  # pylint: disable=g-import-not-at-top
            value = Trainable(model=value, training=training)
        self.value = value
        if self.is_define_by_run:
            self._trace = _Trace(value)
            self.dna_spec = self._trace.dna_spec
        else:
            if not isinstance(value, pg.Symbolic):
                raise errors.SearchSpaceError(
                    f"A search space must be a symbolic value (a pg.Object, pg.Dict, "
                    f"pg.List, a symbolic Keras model) or a function that builds a "
                    f"model; got {type(value).__name__}: {value!r:.200}")
            self._template = pg.hyper.ObjectTemplate(value, compute_derived=True)
            self._primitives = list(self._template.hyper_primitives)
            self.dna_spec, self._expand = _grouped_spec(self._template, self._primitives)
        if not self.dna_spec.elements:
            raise errors.SearchSpaceError(
                f"The search space has no hyper-values (pg.oneof, pg.manyof, "
                f"pg.floatv) to search over: {_short(value)}")

    @property
    def has_shared_decisions(self) -> bool:
        """Whether one decision sets several places (a hyper-value used more than once)."""
        return self._expand is not None

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
            return self._trace.apply(dna)
        fast = self._compiled_materializer()
        if fast is not None:
            return self._compiled_build(fast, dna=dna)
        if self._expand is None:
            return self._template.decode(dna)
        elements = [dna] if len(self.dna_spec.elements) == 1 else list(dna.children)
        return self._template.decode(pg.DNA(None, [elements[g] for g in self._expand]))

    def materialize_assignment(self, assignment: Dict[str, Any]) -> Any:
        """`materialize` for an assignment of `genome`, building no `pg.DNA` when it can.

        Raises:
            DNAMismatchError: the assignment does not fit the space.
        """
        fast = self._compiled_materializer()
        if fast is not None:
            return self._compiled_build(fast, assignment=assignment)
        return self.materialize(self.genome.to_dna(assignment))

    def materialize_proposal(self, proposal) -> Any:
        """The model a `proposals.Proposal` selects: from its assignment when it has one."""
        if proposal.assignment is not None:
            return self.materialize_assignment(proposal.assignment)
        return self.materialize(proposal.dna)

    def materialize_with_json(self, proposal) -> Tuple[Any, Optional[str]]:
        """`materialize_proposal`, and the model's record (`export.dumps`) if it came free.

        The compiled materializer builds the model from its JSON, which is then
        the record too; otherwise the JSON is None and the caller writes it.
        """
        fast = self._compiled_materializer()
        if fast is None:
            return self.materialize_proposal(proposal), None
        if proposal.assignment is None:
            return self._compiled_build(fast.with_json, dna=self.check_dna(proposal.dna))
        return self._compiled_build(fast.with_json, assignment=proposal.assignment)

    def _compiled_build(self, build: Callable[[Sequence[Any]], Any], *,
                        dna: Optional[pg.DNA] = None,
                        assignment: Optional[Dict[str, Any]] = None) -> Any:
        """`build` (the compiled materializer, or its `with_json`) on one number per place.

        The numbers come from a checked `dna`, or else from an `assignment` of
        `genome`: one that does not fit raises `DNAMismatchError`.
        """
        if assignment is None:
            return build(self._expanded_numbers(dna.to_numbers()))
        with _fitting(assignment):
            return build(self._expanded_numbers(self.genome.numbers(assignment)))

    def _expanded_numbers(self, numbers: Sequence[Any]) -> Sequence[Any]:
        # One number per decision -> one per place (a shared decision sets several).
        return numbers if self._expand is None else [numbers[g] for g in self._expand]

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
            # One spec per place: the space's own when no two places share a decision.
            places = (self.dna_spec if self._expand is None
                      else [p.dna_spec(path) for path, p in self._primitives])
            self._fast_materialize = materializer.compile(self.value, places)
        return self._fast_materialize

    def decisions(self, dna: pg.DNA) -> Dict[str, Any]:
        """Decision name (or path) -> chosen value, JSON-friendly.

        A candidate that is not a number or a string shows as its label: a plain
        Keras layer chosen by a define-by-run function as its class and the
        arguments it was built with (`Dense(units=16, activation='relu')`), a
        function by its name, a lambda as `lambda@file.py:line`.
        """
        dna = self.check_dna(dna)
        if self._trace is None:  # A manyof's choices as `m[0]`, `m[1]`, as pyglove keys them.
            return {str(k): readable.jsonable(decisions_lib.literal(v)) for k, v in
                    dna.to_dict(key_type="name_or_id", value_type="literal").items()}
        return {decisions_lib.full_name(spec): readable.jsonable(value)
                for spec, value in decisions_lib.values(self.dna_spec, dna)}

    def named_decisions(self, dna: pg.DNA) -> List[Tuple[str, Any]]:
        """(short unique name, value) per decision `dna` makes; see `decisions.named`."""
        if self._short_names is None:
            self._short_names = decisions_lib.short_names(self.dna_spec)
        return decisions_lib.named(self.dna_spec, self.check_dna(dna), self._short_names)

    def fix(self, values: Dict[str, Any]) -> Any:
        """The space with some decisions fixed to values (not candidate indices).

        Keys are decision names as `decisions()` gives them (a path such as
        `"layers[1].filters"`, a `name=`) or the short names of
        `named_decisions()` (`"filters"`); values are candidates (`32`,
        `"relu"`) or, for a float, a number in its range. Fixing a shared
        decision fixes it in every place.

        Returns:
          What you would have written with those literals: for a symbolic
          space, the symbolic value with those hyper-values replaced (the plain
          model when every decision is fixed); for a define-by-run function, a
          function that builds with those decisions fixed.

        Raises:
          SearchSpaceError: an unknown key (the known ones are listed) or a
            value that is not among the decision's candidates (they are named).

        Example::

            model = Space(cnn).fix({"filters": 32, "kernel_size": 5})
        """
        if not isinstance(values, dict):
            raise TypeError(f"fix takes a dict of decision name -> value, got "
                            f"{type(values).__name__}: {values!r:.200}")
        specs = {decisions_lib.full_name(s): s
                 for s in decisions_lib.decision_specs(self.dna_spec)}
        if self._short_names is None:
            self._short_names = decisions_lib.short_names(self.dna_spec)
        by_short = {short: full for full, short in self._short_names.items()}
        chosen = {}
        for key, value in values.items():
            full = key if key in specs else by_short.get(key)
            if full is None:
                raise errors.SearchSpaceError(
                    f"fix: {key!r} is not a decision of this space; its decisions are "
                    f"{sorted(set(specs) | set(by_short))}")
            chosen[full] = (specs[full], value)
        if self._trace is not None:
            return self._trace.fixed_function(
                {full: _choice(spec, value, self._trace.hyper(full))
                 for full, (spec, value) in chosen.items()})
        return self._fixed_value(chosen)

    def _fixed_value(self, chosen):
        # Decision (its leader's place) -> every place it sets.
        places: Dict[int, List[int]] = {}
        for index, group in enumerate(self._expand or range(len(self._primitives))):
            places.setdefault(group, []).append(index)
        leaders = {str(self._primitives[members[0]][0]): members
                   for members in places.values()}
        rebind = {}
        for full, (spec, value) in chosen.items():
            members = leaders.get(str(spec.id))
            if members is None:
                raise errors.SearchSpaceError(
                    f"fix: {full!r} is a decision inside another choice's candidates; "
                    "fix the choice it belongs to first")
            hyper = self._primitives[members[0]][1]
            replacement = _choice(spec, value, hyper)
            for index in members:
                rebind[self._primitives[index][0].path] = replacement
        fixed = pg.clone(self.value, deep=True)
        fixed.rebind({k: pg.clone(v, deep=True) for k, v in rebind.items()},
                     raise_on_no_change=False)
        return fixed

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
            if self._expand is not None:
                text += f"|shared:{self._expand}"
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


# ---------------------------------------------------------------- symbolic spaces


def _grouped_spec(template, primitives) -> Tuple[pg.DNASpec, Optional[List[int]]]:
    """The spec with one decision per shared hyper-value, and place -> decision.

    Places are grouped when they hold the same hyper-value object (see
    `sharing`) or hyper-values with the same name; the second index list is
    None when no two places share.
    """
    group_of: Dict[Any, int] = {}
    expand: List[int] = []
    leaders: List[int] = []
    for index, (path, hyper) in enumerate(primitives):
        keys = [("token", sharing.token(hyper))] if sharing.token(hyper) is not None else []
        name = getattr(hyper, "name", None)
        if name is not None:
            keys.append(("name", name))
        group = next((group_of[k] for k in keys if k in group_of), None)
        if group is not None:
            leader_path, leader = primitives[leaders[group]]
            if not _same_definition(leader, hyper):
                if name is not None and getattr(leader, "name", None) == name:
                    raise errors.SearchSpaceError(
                        f"Two hyper-values are named {name!r} with different definitions: "
                        f"at {leader_path} {_definition(leader)} and at {path} "
                        f"{_definition(hyper)}. The same name means one decision: give them "
                        "the same candidates, or different names.")
                group = None  # A copy changed after it was made: its own decision.
        if group is None:
            group = len(leaders)
            leaders.append(index)
        for k in keys:
            group_of.setdefault(k, group)
        expand.append(group)
    try:
        if len(leaders) == len(primitives):
            return template.dna_spec(), None
        return pg.geno.Space(elements=[primitives[i][1].dna_spec(primitives[i][0])
                                       for i in leaders]), expand
    except ValueError as e:
        if "clash" not in str(e):
            raise
        raise errors.SearchSpaceError(
            f"Two decisions share a name but cannot be one decision (a decision inside "
            f"another choice's candidates cannot share its name with one outside): {e}") from e


def _same_definition(a, b) -> bool:
    return type(a) is type(b) and pg.eq(a.sym_init_args, b.sym_init_args)


def _definition(hyper) -> str:
    if isinstance(hyper, pg.hyper.Choices):
        return f"with candidates {[_label(c) for c in hyper.candidates]}"
    return pg.format(hyper, compact=True)


def _choice(spec, value, hyper) -> Any:
    """The candidate of `hyper` (or float) that `value` names, for `fix`."""
    name = decisions_lib.full_name(spec)
    if spec.is_numerical:
        if not (isinstance(value, (int, float)) and spec.min_value <= value <= spec.max_value):
            raise errors.SearchSpaceError(
                f"fix: {name!r} is a float in [{spec.min_value}, {spec.max_value}], got {value!r}")
        return float(value)
    if not spec.is_categorical or spec.num_choices != 1 or hyper is None:
        raise errors.SearchSpaceError(
            f"fix: {name!r} is a {type(spec).__name__} with {getattr(spec, 'num_choices', '?')} "
            "choices; only pg.oneof and pg.floatv decisions can be fixed by value")
    candidates = list(hyper.candidates)
    labels = [decisions_lib.literal(v) for v in spec.literal_values]
    for candidate, label in zip(candidates, labels):
        if _equal(candidate, value) or (isinstance(value, str) and str(label) == value):
            return candidate
    raise errors.SearchSpaceError(
        f"fix: {value!r} is not a candidate of {name!r}; its candidates are {labels}")


def _equal(candidate, value) -> bool:
    if type(candidate) is bool or type(value) is bool:
        return type(candidate) is type(value) and candidate == value
    try:
        return bool(pg.eq(candidate, value))
    except Exception:  # pylint: disable=broad-except
        return candidate is value


# -------------------------------------------------------------- define-by-run


class _Tracer(pg.hyper.DynamicEvaluationContext):
    """`pg.hyper.trace`'s context, keeping each decision as written and where."""

    def __init__(self):
        super().__init__(require_hyper_name=True)
        self.originals: Dict[str, Any] = {}
        self.sites: Dict[str, str] = {}

    def add_decision_point(self, hyper_primitive):
        name = hyper_primitive.name
        site = _call_site()
        try:
            value = super().add_decision_point(hyper_primitive)
        except ValueError as e:
            if "different hyper primitives under the same name" not in str(e):
                raise
            raise errors.SearchSpaceError(
                f"Two hyper-values are named {name!r} with different definitions: at "
                f"{self.sites.get(name, '?')} {_definition(self.originals[name])} and at "
                f"{site} {_definition(hyper_primitive)}. The same name means one "
                "decision: give them the same candidates, or different names.") from None
        if name not in self.originals:
            self.originals[name] = hyper_primitive
            self.sites[name] = site
        return value


class _Trace:
    """A define-by-run function's decisions, found by running it, and applying them.

    The function runs once with every first candidate, as `pg.hyper.trace`
    does. Then it runs again with each other candidate of each choice among
    literals (numbers, strings, bools: what a depth or an `if` reads) in turn:
    a run that declares a name not seen before has found a decision that only
    some choices reach (a searched depth: `for i in range(pg.oneof([2, 3, 4],
    name="blocks")): ... pg.oneof(..., name=f"width{i}")`), and is explored
    further from there. The genotype holds every decision found; a decision
    that a trial's choices do not reach is ignored when it is applied. Choices
    among layers or functions are not re-run (they rarely change which
    decisions exist, and re-running would build every candidate).
    """

    def __init__(self, fn):
        self.fn = fn
        self.label = getattr(fn, "__qualname__", repr(fn))
        outside = _outside_hyper_values(fn)
        if outside:
            raise _outside_error(self.label, outside)
        self.tracer = _Tracer()
        try:
            try:
                with self.tracer.collect():
                    result = fn()
            except errors.SearchSpaceError:
                raise
            except ValueError as e:
                if "must be specified for hyper" in str(e):
                    raise errors.SearchSpaceError(
                        f"Define-by-run space {self.label}: every hyper-value needs a name, "
                        f"e.g. pg.oneof([...], name='units'): {e}") from e
                raise self._raised(e) from e
            except Exception as e:  # pylint: disable=broad-except
                raise self._raised(e) from e
            if isinstance(result, pg.Symbolic) and not pg.is_deterministic(result):
                raise _outside_error(self.label, [
                    (str(p), h) for p, h in pg.query(result, where=lambda v: isinstance(
                        v, pg.hyper.HyperValue), enter_selected=False).items()])
            # Names declared so far, those inside candidates' sub-spaces included.
            self.known = {s.name for s in decisions_lib.decision_specs(self.tracer.dna_spec)}
            self.probes = self._probe()
        finally:
            _clear_keras_session()
        spec = pg.dna_spec(self.tracer.hyper_dict)  # With what the probes found.
        self.dna_spec = _labelled(spec, self.tracer.originals)

    def _raised(self, e) -> errors.SearchSpaceError:
        return errors.SearchSpaceError(
            f"Define-by-run space {self.label} raised while it was traced (run with the "
            f"first candidate of every choice): {type(e).__name__}: {e}")

    def _probe(self) -> int:
        """Runs the function with other candidates to find decisions they declare."""
        pending = [({}, name) for name in self.tracer.originals]
        probes = 0
        while pending:
            base, name = pending.pop(0)
            hyper = self.tracer.originals[name]
            if not (isinstance(hyper, pg.hyper.OneOf) and _literal_candidates(hyper)) \
                    or name.startswith(_TRAINING_PREFIX):
                continue
            for index in range(1, len(hyper.candidates)):
                probes += 1
                if probes > MAX_PROBES:
                    raise errors.SearchSpaceError(
                        f"Define-by-run space {self.label}: finding the decisions that only "
                        f"some choices declare took over {MAX_PROBES} runs of the function. "
                        "Declare the decisions up front (e.g. every block's width before "
                        "the loop over a searched depth), or use a symbolic space with "
                        "pg.oneof over lists of layers.")
                assignment = dict(base, **{name: index})
                found = self._run_probe(assignment)
                pending.extend((assignment, n) for n in found)
        return probes

    def _run_probe(self, assignment: Dict[str, int]) -> List[str]:
        known = self.known
        found: List[str] = []

        def evaluate(hyper):
            name = hyper.name
            if name is None or name not in known:
                if name is not None:
                    found.append(name)
                    known.add(name)
                return self.tracer.add_decision_point(hyper)
            if name in assignment:
                return _call_if_builder(hyper.candidates[assignment[name]])
            return _first_value(hyper)

        try:
            with pg.hyper.dynamic_evaluate(evaluate):
                self.fn()
        except errors.SearchSpaceError:
            raise
        except Exception:  # pylint: disable=broad-except
            # This combination fails to build; its trials will fail and be recorded.
            pass
        return found

    def hyper(self, name: str):
        return self.tracer.originals.get(name)

    def apply(self, dna: pg.DNA) -> Any:
        chosen = dna.to_dict(key_type="name_or_id", value_type="value",
                             multi_choice_key="parent")
        with pg.hyper.dynamic_evaluate(functools.partial(_evaluate, chosen, self.label)):
            return self.fn()

    def fixed_function(self, fixed: Dict[str, Any]) -> Callable[[], Any]:
        fn = self.fn

        def fixed_fn():
            outer = _hyper_base.get_dynamic_evaluate_fn()

            def evaluate(hyper):
                if hyper.name in fixed:
                    return _call_if_builder(fixed[hyper.name])
                return outer(hyper) if outer is not None else hyper

            with pg.hyper.dynamic_evaluate(evaluate):
                return fn()

        fixed_fn.__qualname__ = f"{self.label}(fixed {sorted(fixed)})"
        fixed_fn.__name__ = getattr(fn, "__name__", "fixed")
        return fixed_fn


def _evaluate(chosen: Dict[str, Any], label: str, hyper):
    name = hyper.name
    if name not in chosen:
        raise errors.SearchSpaceError(
            f"Define-by-run space {label} declared {name!r}, which it did not declare when "
            f"it was traced (its decisions: {sorted(chosen)}). Declare every decision on "
            "every path, e.g. before the branch that uses it.")
    decision = chosen[name]
    if isinstance(hyper, pg.hyper.Float):
        return decision
    if isinstance(hyper, pg.hyper.CustomHyper):
        return hyper.decode(pg.DNA(decision))
    indices = decision if isinstance(decision, list) else [decision]
    picked = pg.List([_call_if_builder(hyper.candidates[i]) for i in indices])
    return picked[0] if isinstance(hyper, pg.hyper.OneOf) else picked


def _call_if_builder(candidate):
    # As pyglove does: a candidate that is a function of no arguments is called.
    if isinstance(candidate, types.LambdaType):
        signature = pg.typing.signature(candidate, auto_typing=False, auto_doc=False)
        if not signature.args and not signature.has_wildcard_args:
            return candidate()
    return candidate


def _first_value(hyper):
    if isinstance(hyper, pg.hyper.Float):
        return hyper.min_value
    if isinstance(hyper, pg.hyper.CustomHyper):
        return hyper.decode(hyper.first_dna())
    values = [_call_if_builder(c) for c in hyper.candidates[:hyper.num_choices]]
    return values[0] if isinstance(hyper, pg.hyper.OneOf) else values


def _literal_candidates(hyper) -> bool:
    """Candidates that are numbers, strings, bools or None: what a depth or a branch reads."""
    return all(c is None or isinstance(c, (bool, int, float, str)) for c in hyper.candidates)


def _plain_candidates(hyper) -> bool:
    """Candidates without decisions of their own (those are traced as sub-spaces)."""
    return not any(isinstance(c, types.LambdaType) or
                   (isinstance(c, pg.Symbolic) and not pg.is_deterministic(c))
                   for c in hyper.candidates)


def _labelled(spec: pg.DNASpec, originals: Dict[str, Any]) -> pg.DNASpec:
    """The traced spec with candidates that are objects shown by their labels."""
    updates = {}
    for i, element in enumerate(spec.elements):
        hyper = originals.get(element.name)
        if not element.is_categorical or not isinstance(hyper, pg.hyper.Choices):
            continue
        labels = [_label(c) for c in hyper.candidates]
        if any(isinstance(l, decisions_lib.Label) for l in labels):
            seen: Dict[str, int] = {}
            for label in labels:
                seen[label] = seen.get(label, 0) + 1
            counts: Dict[str, int] = {}
            unique = []
            for label in labels:
                if seen[label] > 1:
                    counts[label] = counts.get(label, 0) + 1
                    label = decisions_lib.Label(f"{label}#{counts[label]}")
                unique.append(label if isinstance(label, decisions_lib.Label) else repr(label)
                              if isinstance(label, str) else label)
            updates[f"elements[{i}].literal_values"] = unique
    if updates:
        spec = spec.clone(deep=True).rebind(updates)
    return spec


def _label(candidate) -> Any:
    """A candidate as a value when it is a literal, else a `Label` (never an address)."""
    if candidate is None or isinstance(candidate, (bool, int, float, str)):
        return candidate
    described = _describe_layer(candidate)
    if described is not None:
        return decisions_lib.Label(described)
    if isinstance(candidate, functools.partial):
        args = [repr(a) for a in candidate.args] + [f"{k}={v!r}" for k, v in candidate.keywords.items()]
        return decisions_lib.Label(f"{_label(candidate.func)}({', '.join(args)})")
    if isinstance(candidate, type):
        return decisions_lib.Label(candidate.__name__)
    if callable(candidate) and hasattr(candidate, "__name__") and not isinstance(candidate, pg.Symbolic):
        if candidate.__name__ == "<lambda>":
            code = getattr(candidate, "__code__", None)
            where = f"@{os.path.basename(code.co_filename)}:{code.co_firstlineno}" if code else ""
            return decisions_lib.Label(f"lambda{where}")
        return decisions_lib.Label(candidate.__name__)
    if isinstance(candidate, pg.Symbolic):
        return decisions_lib.Label(pg.format(candidate, compact=True, hide_default_values=True))
    text = repr(candidate)
    if " at 0x" in text or " object at " in text:
        return decisions_lib.Label(type(candidate).__name__)
    return decisions_lib.Label(text)


_TRAINING_PREFIX = "training."


def _with_training(fn, training) -> Callable[[], Any]:
    """`fn` whose result comes with the training recipe, both from one set of decisions.

    The recipe's hyper-values are declared, under the names `training.<path>`,
    in the same dynamic evaluation as the function's, so one DNA sets both.
    """
    from symbolic_automl.evaluators import Trainable  # pylint: disable=g-import-not-at-top

    primitives = pg.hyper.ObjectTemplate(training).hyper_primitives
    for path, hyper in primitives:
        if isinstance(hyper, pg.hyper.Choices) and not _plain_candidates(hyper):
            raise errors.SearchSpaceError(
                f"The training recipe's {path} chooses among candidates that hold "
                "hyper-values of their own; with a define-by-run space, make each a "
                "separate hyper-value of the recipe, or choose inside your function.")
    declared = [(path, _declaration(hyper, f"{_TRAINING_PREFIX}{path}"))
                for path, hyper in primitives]

    def with_training():
        model = fn()
        chosen = {path.path: type(hyper)(**hyper.sym_init_args) for path, hyper in declared}
        recipe = pg.clone(training, deep=True)
        recipe.rebind({k: v for k, v in chosen.items()}, raise_on_no_change=False)
        return Trainable(model=model, training=recipe)

    with_training.__qualname__ = f"{getattr(fn, '__qualname__', fn)}+training"
    with_training.__name__ = getattr(fn, "__name__", "with_training")
    with_training.__wrapped__ = fn
    return with_training


def _declaration(hyper, name):
    return hyper.clone(deep=True, override={"name": name})


def _outside_hyper_values(fn) -> List[Tuple[str, Any]]:
    """Hyper-values the function reads from globals, its closure or partial arguments."""
    found = []
    while isinstance(fn, functools.partial) or hasattr(fn, "__wrapped__"):
        if not isinstance(fn, functools.partial):  # A wrapper: look at what it wraps.
            fn = fn.__wrapped__
            continue
        found += [(f"argument {a!r:.40}", a) for a in fn.args
                  if isinstance(a, pg.hyper.HyperValue)]
        found += [(f"argument {k}", v) for k, v in fn.keywords.items()
                  if isinstance(v, pg.hyper.HyperValue)]
        fn = fn.func
    code = getattr(fn, "__code__", None)
    if code is None:
        return found
    scope = getattr(fn, "__globals__", {})
    names = set()
    stack = [code]
    while stack:
        c = stack.pop()
        names.update(c.co_names)
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    found += [(n, scope[n]) for n in sorted(names)
              if isinstance(scope.get(n), pg.hyper.HyperValue)]
    for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
        try:
            value = cell.cell_contents
        except ValueError:
            continue
        if isinstance(value, pg.hyper.HyperValue):
            found.append((name, value))
    return found


def _outside_error(label, outside) -> errors.SearchSpaceError:
    shown = "; ".join(f"{n}: {type(h).__name__} {_definition(h)}"[:160] for n, h in outside)
    return errors.SearchSpaceError(
        f"Define-by-run space {label} uses hyper-values created outside it ({shown}). A "
        "define-by-run function declares its choices while it runs: create each one inside "
        "the function with a name, e.g. `k = pg.oneof([3, 5], name='k')`. Or build the "
        "model with `from symbolic_automl import keras` and pass the model, not a function, "
        "as the space.")


def _call_site() -> str:
    """`file:line` of the user code that declared a hyper-value."""
    here = (os.path.dirname(pg.__file__), __file__)
    for frame in reversed(traceback.extract_stack()):
        if not frame.filename.startswith(here[0]) and frame.filename != here[1] \
                and "contextlib" not in frame.filename:
            return f"{os.path.basename(frame.filename)}:{frame.lineno}"
    return "?"


def _clear_keras_session():
    # Tracing runs the function; do not keep the models it built.
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



def _short(value) -> str:
    text = repr(value)
    return text if len(text) < 200 else text[:200] + "..."


@contextlib.contextmanager
def _fitting(assignment: Dict[str, Any]):
    """Turns a missing decision or an out-of-range index into a `DNAMismatchError`."""
    try:
        yield
    except (KeyError, IndexError) as e:
        raise errors.DNAMismatchError(
            f"Assignment {assignment!r:.200} does not fit the search space: {e!r}") from e
