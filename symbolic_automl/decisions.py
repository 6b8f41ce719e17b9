"""A trial's decisions as readable `(name, value)` pairs, for every viewer.

`Result.summary()`, the CLI's `show`, logs, progress bars, dashboards and
TensorBoard's HParams all show what a trial chose. They get it from here, so
that each shows the same thing: short unique names and chosen values, never
candidate indices::

    pairs = named(space.dna_spec, trial.dna)
    # [('filters', 32), ('kernel_size', 5), ('activation', 'swish'),
    #  ('learning_rate', 0.0072)]
    format_pairs(pairs)   # "filters=32, kernel_size=5, activation=swish, learning_rate=0.0072"

A decision's short name is the shortest suffix of its name (its `name=`, else
its path) that no other decision's name ends with: `layers[1].filters` ->
`filters` when no other decision ends in `filters`, else `layers[1].filters`;
`training.learning_rate` -> `learning_rate`.
A choice's value is the candidate itself when it is a number, string, bool or
None, else its label (`Dense(units=32)`, `make_block`, `lambda@model.py:12`).
This module imports neither Keras nor the store.
"""

import ast
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import pyglove as pg

from symbolic_automl.reporting.readable import format_decisions


class Label(str):
    """A candidate shown by its label (a layer, a function), not a Python literal.

    It is a `str` (JSON, TensorBoard and CSV take it as text) whose repr is the
    label itself, so `Dense(units=32)` prints without quotes while the string
    candidate `'relu'` prints with them.
    """

    def __repr__(self):
        return str(self)


def decision_specs(dna_spec: pg.DNASpec) -> List[pg.DNASpec]:
    """Every decision of the spec in depth-first order, a `manyof` as one."""
    out: List[pg.DNASpec] = []

    def visit(spec):
        if spec.is_space:
            for element in spec.elements:
                visit(element)
        elif spec.is_categorical:
            out.append(spec)
            for candidate in spec.candidates:
                visit(candidate)
        else:
            out.append(spec)

    visit(dna_spec)
    return out


def full_name(spec: pg.DNASpec) -> str:
    """The decision's name when it has one, else its id (its path in the space)."""
    return spec.name if spec.name is not None else str(spec.id)


def short_names(dna_spec: pg.DNASpec) -> Dict[str, str]:
    """Full name -> short unique name, for every decision of the spec."""
    return shorten_names(full_name(s) for s in decision_specs(dna_spec))


def shorten_names(full_names: Iterable[str]) -> Dict[str, str]:
    """Full name -> its shortest suffix that no other name ends with.

    Works on recorded names alone (a store's `decisions`), so a viewer without
    the space names decisions as one with it does.
    """
    paths = {name: _segments(name) for name in full_names}
    out = {}
    for name, segments in paths.items():
        out[name] = name
        for k in range(1, len(segments) + 1):
            suffix = tuple(segments[-k:])
            if not any(other != name and tuple(p[-k:]) == suffix for other, p in paths.items()):
                out[name] = ".".join(suffix)
                break
    return out


def _segments(name: str) -> List[str]:
    """A name cut where a suffix may start: `model.layers[1].filters` -> 3 segments.

    A list index or a conditional key (`[1]`, `[=1/3]`) stays with the name
    before it; a `.` inside brackets does not cut.
    """
    segments, current, depth = [], "", 0
    for char in name:
        if char == "." and depth == 0:
            segments.append(current)
            current = ""
            continue
        depth += {"[": 1, "]": -1}.get(char, 0)
        current += char
    segments.append(current)
    out: List[str] = []
    for segment in segments:
        if segment.startswith("[") and segment.endswith("]") and "." in segment:
            # `[training.learning_rate]`: pyglove brackets a key holding a dot.
            out.extend(segment[1:-1].split("."))
        elif segment:
            out.append(segment)
    return out


def values(dna_spec: pg.DNASpec, dna: pg.DNA) -> List[Tuple[pg.DNASpec, Any]]:
    """(decision spec, chosen value) for the decisions `dna` makes, in spec order."""
    if dna.spec is None:
        dna = dna.use_spec(dna_spec)
    chosen = dna.to_dict(key_type="dna_spec", value_type="literal", multi_choice_key="parent")
    out = []
    for spec in decision_specs(dna_spec):
        if spec in chosen:
            value = chosen[spec]
            out.append((spec, [literal(v) for v in value] if isinstance(value, list)
                        else literal(value)))
    return out


def shorten(recorded: Mapping[str, Any],
            names: Optional[Dict[str, str]] = None) -> List[Tuple[str, Any]]:
    """Recorded decisions (full name -> value, `Space.decisions`) as short-named pairs."""
    names = names if names is not None else shorten_names(recorded)
    return [(names.get(k, k), v) for k, v in recorded.items()]


def named(dna_spec: pg.DNASpec, dna: pg.DNA,
          names: Optional[Dict[str, str]] = None) -> List[Tuple[str, Any]]:
    """The trial's decisions as (short unique name, value) pairs, in spec order.

    Args:
      dna_spec: the search space's genotype (`Space.dna_spec`, or the one a
        store records).
      dna: the trial's DNA.
      names: `short_names(dna_spec)`, when the caller keeps it (it walks the spec).
    """
    names = names if names is not None else short_names(dna_spec)
    return [(names[full_name(spec)], value) for spec, value in values(dna_spec, dna)]


def format_pairs(pairs: Sequence[Tuple[str, Any]], max_chars: Optional[int] = None) -> str:
    """`filters=32, activation=relu, learning_rate=0.0072` (as `format_decisions`)."""
    return format_decisions(dict(pairs), max_chars)


def literal(value):
    """A candidate's literal as pyglove records it, back to its Python value.

    PyGlove records a string candidate as its repr (`"'relu'"`) and any other
    object by its formatted text; the first comes back as `'relu'`, the second
    as a `Label`.
    """
    if isinstance(value, str):
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return Label(value)
        return parsed
    return value
