"""Saving and loading symbolic models as JSON, and trained models as `.keras` files.

Loading JSON never runs code from the file: PyGlove's JSON can name functions,
methods and classes to import (and even carry marshalled code); `loads` refuses
those and only builds classes already registered by imported libraries.

Example::

    export.save(result.best.model, "best.json")
    model = export.load("best.json")          # the same symbolic object
    export.save_keras(result, "best.keras")   # the trained Keras model
"""

import importlib
import json
import os
import shutil
from typing import Any, Optional

import pyglove as pg

from symbolic_automl import errors

# PyGlove JSON tags that import or build code rather than data.
_CODE_TAGS = ("function", "method", "type")
_TYPE_KEY = pg.JSONConvertible.TYPE_NAME_KEY


def dumps(value: Any) -> str:
    """A symbolic value as a JSON string."""
    return pg.to_json_str(value)


def loads(text: str) -> Any:
    """A symbolic value from JSON, refusing anything that would run code."""
    try:
        tree = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"Not valid JSON ({e}): {text[:200]!r}") from e
    _check_safe(tree, "$")
    return pg.from_json(tree)


def _check_safe(node: Any, path: str) -> None:
    if isinstance(node, dict):
        tag = node.get(_TYPE_KEY)
        if tag in _CODE_TAGS:
            raise ValueError(
                f"Refusing to load {path}: it is a serialized {tag} "
                f"({node.get('name', '?')}), and loading it would import or run code. "
                "Only symbolic objects of registered classes can be loaded.")
        if tag is not None and not pg.JSONConvertible.is_registered(tag):
            _import_own_module(tag)
        if tag is not None and not pg.JSONConvertible.is_registered(tag):
            raise ValueError(
                f"Refusing to load {path}: class {tag!r} is not registered. Import the "
                "module that defines it first (loading never imports modules).")
        for key, value in node.items():
            _check_safe(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _check_safe(value, f"{path}[{i}]")


def _import_own_module(type_name: str) -> None:
    """Imports this library's module that defines `type_name`, never another's."""
    module = type_name.rsplit(".", 1)[0]
    if module == "symbolic_automl" or module.startswith("symbolic_automl."):
        try:
            importlib.import_module(module)
        except ImportError:
            pass


def save(value: Any, path: str) -> str:
    """Writes a symbolic value (a model, or a trial's model) as JSON."""
    value = getattr(value, "model", value)
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
