"""Decisions as `name=value` pairs, the way every view of a trial shows them.

The search loop records each trial's decisions (`Space.decisions`: decision
name, or path when unnamed, -> chosen value) in the store, so viewers without
the space (the CLI, the dashboard, a report) still show values, not indices.

Example::

    format_decisions({"filters": 32, "activation": "swish", "lr": 0.00721})
    # "filters=32, activation=swish, lr=0.00721"
"""

import ast
import json
import weakref
from typing import Any, Dict, List, Mapping, Optional, Tuple


def decisions_of_assignment(genome, assignment: Mapping[str, Any]) -> Dict[str, Any]:
    """`Space.decisions(dna)` for an assignment of `genome`, without building a `pg.DNA`.

    Building a DNA costs milliseconds; the search loop's fast path does without.
    Gives the same names and values as `Space.decisions` for symbolic spaces.
    """
    out = {}
    for decision_id, key, literals, _ in decision_table(genome):
        if decision_id not in assignment:
            continue  # Under a branch that was not chosen.
        value = assignment[decision_id]
        out[key] = jsonable(value) if literals is None else literals[value]
    return out


def decision_table(genome) -> List[Tuple[str, str, Optional[List[Any]], Any]]:
    """Per decision of `genome`: (id, shown name, candidate values or None for a float, spec)."""
    table = _TABLES.get(genome)
    if table is None:
        table = _TABLES[genome] = [
            (d.id, str(d.spec.name or d.id),
             [jsonable(_literal(v)) for v in d.spec.literal_values] if d.is_categorical
             else None, d.spec)
            for d in genome.decisions]
    return table


# `literal_values` formats every candidate on each access (~0.1 ms a decision).
_TABLES = weakref.WeakKeyDictionary()


def format_decisions(decisions: Optional[Mapping[str, Any]], max_chars: Optional[int] = None) -> str:
    """`name=value, ...` with floats to 4 significant digits and strings unquoted."""
    if not decisions:
        return ""
    text = ", ".join(f"{name}={format_value(value)}" for name, value in decisions.items())
    if max_chars is not None and len(text) > max_chars:
        text = text[:max_chars - 3] + "..."
    return text


def format_value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def _literal(value):
    # PyGlove gives string candidates as their repr ("'relu'").
    if isinstance(value, str):
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
    return value


def jsonable(value):
    """`value` itself when JSON can hold it, else its repr."""
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)
