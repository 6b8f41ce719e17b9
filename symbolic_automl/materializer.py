"""A fast `pg.materialize` for flat symbolic spaces, compiled once per space.

`pg.materialize` clones the whole space and rebinds it, tens of milliseconds
per call on a 20-decision space. For a space whose decisions are all
`pg.oneof` / `pg.floatv` with plain candidates (no hyper-value nested inside a
candidate), the materialized model is the space's JSON with each hyper-value
replaced by its chosen candidate's JSON: this module precomputes those pieces
and only rebuilds the objects along the way, which is a fraction of the cost.
Spaces outside that shape (conditional, `manyof`, custom decisions) return
`None` from `compile` and keep using `pg.materialize`.

The filled-in JSON is also the model's record (`export.dumps(model)`), so the
search loop need not serialize the model it just built (`with_json`).

Example::

    fast = compile(space)
    model = fast(dna.to_numbers()) if fast else pg.materialize(space, dna)
    model, text = fast.with_json(dna.to_numbers())   # text: None if not writable
"""

import json
from typing import Any, List, Optional, Sequence, Tuple, Union

import pyglove as pg

from symbolic_automl import export


def compile(value: Any, spec: Union[None, pg.DNASpec, Sequence[pg.DNASpec]] = None
            ) -> Optional["Materializer"]:  # pylint: disable=redefined-builtin
    """A `Materializer` (numbers -> materialized value), or None if the space is not flat.

    The function takes one value per place in spec order, as
    `dna.to_numbers()` gives them: a candidate index per `oneof`, a float per
    `floatv`.

    Args:
        value: the symbolic space.
        spec: `pg.dna_spec(value)`, when the caller has it (it is slow to make),
            or the decision specs of each of its hyper-values in order (a space
            whose places share decisions has one number per place here).
    """
    try:
        # Never a pickled value nor marshalled code in the template: `pg.from_json`
        # would unpickle it on every call (and rebuild a lambda with PyGlove's
        # globals). Such spaces keep `pg.materialize`.
        template = export.to_json_tree(value, allow_references=True)
    except (TypeError, ValueError):
        return None
    spec = spec if spec is not None else pg.dna_spec(value)
    elements = spec.elements if isinstance(spec, pg.DNASpec) else spec
    slots: List[Any] = []
    for element in elements:
        if element.is_categorical and element.num_choices == 1:
            for candidate in element.candidates:
                if candidate.elements:  # A nested decision: conditional space.
                    return None
            hyper = _get(value, element.location.keys)
            if not isinstance(hyper, pg.hyper.OneOf):
                return None
            try:
                candidates = [_Piece(export.to_json_tree(c, allow_references=True))
                              for c in hyper.candidates]
            except (TypeError, ValueError):
                return None
            slots.append((element.location.keys, candidates))
        elif element.is_numerical:
            slots.append((element.location.keys, None))
        else:
            return None
    paths = [_json_path(template, keys) for keys, _ in slots]
    if any(p is None for p in paths):
        return None
    for path in paths:
        _set(template, path, None)  # The hyper-values' own JSON is not copied per call.
    fill = [(path, candidates) for (_, candidates), path in zip(slots, paths)]
    return Materializer(template, fill)


class Materializer:
    """The compiled materializer of one flat space (see the module docstring).

    Calling it with one number per place (a candidate index per `oneof`, a
    float per `floatv`) returns the model `pg.materialize` would.
    """

    def __init__(self, template, fill):
        # A tree of its own per call: parsing the text in C is the cheapest deep copy.
        self._template_text = json.dumps(template)
        self._fill = fill
        # The filled-in tree is the model's record when neither the template
        # nor a chosen candidate refers to code (`export.dumps` would refuse it).
        self._maybe_writable = export.is_writable(template)
        self._always_writable = self._maybe_writable and all(
            piece.writable for _, candidates in fill if candidates for piece in candidates)

    def __call__(self, numbers: Sequence[Any]) -> Any:
        return _build(self._filled(numbers))

    def with_json(self, numbers: Sequence[Any]) -> Tuple[Any, Optional[str]]:
        """The model and its record, `export.dumps(model)`; None when that would raise."""
        tree = self._filled(numbers)
        text = None
        if self._always_writable or (self._maybe_writable and all(
                candidates is None or candidates[number].writable
                for (_, candidates), number in zip(self._fill, numbers))):
            text = json.dumps(tree)
        return _build(tree), text

    def _filled(self, numbers: Sequence[Any]) -> Any:
        tree = json.loads(self._template_text)
        for (path, candidates), number in zip(self._fill, numbers):
            _set(tree, path, number if candidates is None else candidates[number].copy())
        return tree


_PRIMITIVES = (str, int, float, bool, type(None))


def _build(tree: Any) -> Any:
    """`pg.from_json(tree)`, with a shortcut for schemaless dicts of plain values.

    `pg.Dict(d)` checks and relocates each value, ~15 us a key; for a dict
    without a `_type` whose values are JSON primitives (a hyper-parameter
    dict), that work is a no-op per value, and a fresh schemaless `pg.Dict`
    holding them equals PyGlove's (`materializer_test` checks equality, paths
    and later rebinds). Everything else is PyGlove's own `from_json`.
    """
    if not isinstance(tree, dict) or pg.JSONConvertible.TYPE_NAME_KEY in tree:
        return pg.from_json(tree)
    children = {k: v if isinstance(v, _PRIMITIVES) else _build(v) for k, v in tree.items()}
    if any(not isinstance(v, _PRIMITIVES) for v in children.values()):
        return pg.Dict(children)  # PyGlove relocates the symbolic children.
    model = pg.Dict()
    dict.update(model, children)
    return model


class _Piece:
    """A candidate's JSON, copied cheaply: primitives as they are, trees via text."""

    def __init__(self, tree):
        self._primitive = not isinstance(tree, (dict, list))
        self.tree = tree
        self.writable = export.is_writable(tree)
        self._text = None if self._primitive else json.dumps(tree)

    def copy(self):
        return self.tree if self._primitive else json.loads(self._text)


def _get(value, keys):
    for key in keys:
        value = value.sym_getattr(key) if isinstance(value, pg.Object) else value[key]
    return value


def _json_path(tree, keys) -> Optional[List[Any]]:
    """Maps symbolic key path steps onto the JSON tree (tuples carry a marker)."""
    path, node = [], tree
    for key in keys:
        if isinstance(node, dict) and key in node:
            path.append(key)
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int):
            offset = 1 if node and node[0] == "__tuple__" else 0
            if key + offset >= len(node):
                return None
            path.append(key + offset)
            node = node[key + offset]
        else:
            return None
    return path


def _set(tree, path, value):
    for step in path[:-1]:
        tree = tree[step]
    tree[path[-1]] = value
