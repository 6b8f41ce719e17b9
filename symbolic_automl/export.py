"""Saving and loading symbolic models as JSON, and trained models as `.keras` files.

Nothing this module writes or reads holds a pickle, and loading JSON never runs
code from the file. PyGlove's JSON can name functions, methods and classes to
import, carry marshalled code, and, for any value it cannot convert, a pickle
(its "opaque object"): `dumps` refuses to write any of those
(`NotSerializableError`) and `loads` refuses to read them (`UnsafeJSONError`),
naming the offending path. Loading only builds classes already registered by
imported libraries.

Example::

    export.save(result.best.model, "best.json")
    model = export.load("best.json")          # the same symbolic object
    export.save_keras(result, "best.keras")   # the trained Keras model
"""

import contextlib
import importlib
import json
import os
import shutil
from typing import Any, Iterator, Optional

import pyglove as pg
from pyglove.core.utils import json_conversion

from symbolic_automl import errors
from symbolic_automl import trial as trial_lib

# PyGlove JSON tags that import or build code rather than data.
_CODE_TAGS = ("function", "method", "type")
_TYPE_KEY = pg.JSONConvertible.TYPE_NAME_KEY
# PyGlove's fallback for a value it cannot convert: `{"_type": <this>, "value":
# <base64 pickle>}`, unpickled by `pg.from_json`.
_OPAQUE_CLASS = getattr(json_conversion, "_OpaqueObject", None)
_OPAQUE_TAG = "pyglove.core.utils.json_conversion._OpaqueObject"
_EXPECTED = ("Expected JSON numbers, strings, lists and objects, and symbolic objects of "
             "registered classes (e.g. a symbolic Keras model).")


def dumps(value: Any) -> str:
    """A symbolic value as a JSON string, refusing what would need a pickle or code.

    Raises:
      NotSerializableError: `value` holds a non-symbolic object (a plain Keras
        model, an array, ...), a function, a method or a type, which `loads`
        could not read back without running code.
    """
    return json.dumps(to_json_tree(value))


def to_json_tree(value: Any, *, allow_references: bool = False) -> Any:
    """`pg.to_json(value)`, never pickling and never marshalling code.

    Args:
      value: the value to convert.
      allow_references: keep references to importable functions, methods and
        types (`{"_type": "function", "name": ...}`). Only for JSON that stays in
        this process: `loads` refuses them.

    Raises:
      NotSerializableError: as for `dumps`.
    """
    try:
        with _refusing_opaque_values():
            tree = pg.to_json(value)
    except _OpaqueValue as e:
        path = _find_path(value, e.value) or "a value inside it"
        raise errors.NotSerializableError(
            f"Cannot write {path} as JSON: it is a {type(e.value).__module__}."
            f"{type(e.value).__qualname__} ({e.value!r:.100}), not a symbolic value, and "
            f"PyGlove would pickle it. {_EXPECTED}") from None
    _check_writable(tree, "$", allow_references)
    return tree


class _OpaqueValue(Exception):

    def __init__(self, value):
        super().__init__(type(value).__name__)
        self.value = value


@contextlib.contextmanager
def _refusing_opaque_values() -> Iterator[None]:
    # `pg.to_json` asks `TYPE_CONVERTER` about a value it cannot convert and
    # pickles it when told None; answering with a function that raises stops it
    # before any pickling (an 8 MB pickle for a small Keras model). While this
    # runs, a `pg.to_json` in another thread cannot pickle either.
    original = pg.JSONConvertible.TYPE_CONVERTER

    def converter(value_type):
        found = original(value_type) if original is not None else None
        return found if found is not None else _raise_opaque

    pg.JSONConvertible.TYPE_CONVERTER = converter
    try:
        yield
    finally:
        pg.JSONConvertible.TYPE_CONVERTER = original


def _raise_opaque(value):
    raise _OpaqueValue(value)


def _find_path(root: Any, target: Any, path: str = "$") -> Optional[str]:
    """Where `target` sits inside `root`, as `$.key[index]...` (None if not found)."""
    if root is target:
        return path
    if isinstance(root, pg.Symbolic) and hasattr(root, "sym_items"):
        items = root.sym_items()
    elif isinstance(root, dict):
        items = root.items()
    elif isinstance(root, (list, tuple)):
        items = enumerate(root)
    else:
        return None
    for key, child in items:
        found = _find_path(child, target, f"{path}[{key}]" if isinstance(key, int)
                           else f"{path}.{key}")
        if found is not None:
            return found
    return None


def _code_in(node: dict, allow_references: bool = False) -> Optional[str]:
    """What code a JSON object would run when loaded, or None if it is data."""
    tag = node.get(_TYPE_KEY)
    if tag is None:
        return None
    if not isinstance(tag, str):
        return f"an object with a malformed type tag {tag!r:.100}"
    if _is_opaque_tag(tag):
        return ("a pickled Python object (PyGlove's opaque value), and unpickling it "
                "would run code")
    if tag == "function" and "code" in node:
        return (f"marshalled Python code (function {node.get('name', '?')!r:.100}), "
                "and loading it would run that code")
    if tag in _CODE_TAGS and not allow_references:
        return (f"a serialized {tag} ({node.get('name', '?')!r:.100}), and loading it "
                "would import or run code")
    return None


def _is_opaque_tag(tag: str) -> bool:
    if tag == _OPAQUE_TAG or tag.endswith("._OpaqueObject"):
        return True
    cls = pg.JSONConvertible.class_from_typename(tag)
    return (_OPAQUE_CLASS is not None and isinstance(cls, type)
            and issubclass(cls, _OPAQUE_CLASS))


def is_writable(tree: Any) -> bool:
    """Whether `dumps` would write this JSON tree (of `to_json_tree(..., allow_references=True)`)."""
    return all(_code_in(node) is None for node, _ in _json_nodes(tree, "$"))


def _check_writable(node: Any, path: str, allow_references: bool) -> None:
    for child, child_path in _json_nodes(node, path):
        problem = _code_in(child, allow_references)
        if problem is not None:
            raise errors.NotSerializableError(
                f"Cannot write {child_path} as JSON: it is {problem}. {_EXPECTED}")


def _json_nodes(node: Any, path: str):
    """Every JSON object in a tree, with its path, parents first."""
    stack = [(node, path)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            yield node, path
            stack.extend((v, f"{path}.{k}") for k, v in reversed(list(node.items())))
        elif isinstance(node, list):
            stack.extend((v, f"{path}[{i}]") for i, v in reversed(list(enumerate(node))))


def loads(text: str) -> Any:
    """A symbolic value from JSON, refusing anything that would run code.

    Raises:
      UnsafeJSONError: the JSON holds a pickle, marshalled code, a function,
        method or type to import, or a class that is not registered; the
        message names its path (e.g. `$.layers[2]`).
      ValueError: `text` is not JSON.
    """
    try:
        tree = json.loads(text)
    except (json.JSONDecodeError, TypeError) as e:
        raise ValueError(f"Not valid JSON ({e}): {str(text)[:200]!r}") from e
    _check_safe(tree, "$")
    return pg.from_json(tree)


def _check_safe(tree: Any, path: str) -> None:
    for node, node_path in _json_nodes(tree, path):
        problem = _code_in(node)
        if problem is not None:
            raise errors.UnsafeJSONError(
                f"Refusing to load {node_path}: it is {problem}. {_EXPECTED}")
        tag = node.get(_TYPE_KEY)
        if tag is not None and not pg.JSONConvertible.is_registered(tag):
            _import_own_module(tag)
        if tag is not None and not pg.JSONConvertible.is_registered(tag):
            raise errors.UnsafeJSONError(
                f"Refusing to load {node_path}: class {tag!r} is not registered. Import the "
                "module that defines it first (loading never imports modules).")


def _import_own_module(type_name: str) -> None:
    """Imports this library's module that defines `type_name`, never another's."""
    module = type_name.rsplit(".", 1)[0]
    if module == "symbolic_automl" or module.startswith("symbolic_automl."):
        try:
            importlib.import_module(module)
        except ImportError:
            pass


def decisions_json(decisions: dict) -> str:
    """The record of a model that is not fully symbolic: `{"decisions": {...}}`.

    A define-by-run function's Keras model (or a symbolic object wrapping one)
    has no safe JSON form; its decisions rebuild it (`space.materialize`).
    """
    return dumps(pg.Dict(decisions=decisions))


def is_decisions(value: Any) -> bool:
    """Whether a loaded model record is a `decisions_json` record."""
    return isinstance(value, dict) and set(value) == {"decisions"}


def save(value: Any, path: str) -> str:
    """Writes a symbolic value (a model, or a trial's model) as JSON.

    A trial recorded by its decisions (define-by-run) writes its decisions.

    Raises:
      NotSerializableError: the value has no safe JSON form (see `dumps`).
    """
    if isinstance(value, trial_lib.Trial):
        value = value.model
    if value is None:
        raise ValueError("Nothing to save: the trial has no symbolic model.")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(dumps(value))
    return path


def load(path: str) -> Any:
    """Reads a symbolic value written by `save`."""
    with open(path) as f:
        return loads(f.read())


def keras_model_path(root_dir: str, trial_id: int) -> str:
    """Where the Keras evaluator keeps the trained model of a trial."""
    return os.path.join(root_dir, "models", f"trial_{trial_id}.keras")


def save_keras(result_or_root_dir: Any, path: str, trial_id: Optional[int] = None) -> str:
    """Copies the trained `.keras` model of a trial (the best by default) to `path`.

    The Keras evaluator saves trained models of the best trials under
    `root_dir/models/`; this picks one out.
    """
    root_dir = getattr(result_or_root_dir, "root_dir", result_or_root_dir)
    if trial_id is None:
        best = getattr(result_or_root_dir, "best", None)
        if best is None:
            raise ValueError("No completed trial to export; pass trial_id=...")
        trial_id = best.id
    if root_dir is None:
        raise ValueError("This search kept no files (root_dir=None): no .keras model to export.")
    source = keras_model_path(root_dir, trial_id)
    if not os.path.exists(source):
        raise errors.SymbolicAutoMLError(
            f"No trained model saved for trial {trial_id} ({source} is missing): the "
            "evaluator keeps the models of the top trials only (keep_models=...).")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    shutil.copyfile(source, path)
    return path
