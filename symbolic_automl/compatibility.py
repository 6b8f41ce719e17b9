"""Resuming a store: refuse what would mix incomparable trials, carry on the rest.

A store's first search records what its trials' numbers mean: the objectives
and their directions, the evaluator's training recipe, the search space's
fingerprint and, for a define-by-run space, its function's code. A later search
on the same `root_dir` resumes only if all of these are the same; otherwise it
is refused with a `StoreError` naming what changed, old and new. (The
objectives and directions may change while no trial has a reward yet.)

What does not refuse: the data arrays being other objects (each run loads
them anew), where trials run (executor, devices, distribution strategy, XLA),
callbacks and verbosity. An evaluator states its recipe with a `recipe()`
method returning `{setting: text}` (see `KerasEvaluator.recipe`); one that
states none (a plain function) is not compared, so fixing a bug in it and
resuming is allowed.

Example::

    check_or_record(store, space, evaluator, ["val_accuracy"], ["max"])
    # StoreError: runs/a/trials.sqlite was searched with training.epochs = 3;
    # this search has 5. ...
"""

import functools
import hashlib
import inspect
import json
import re
import sys
import time
import types
from typing import Any, Dict, List, Optional, Sequence

from absl import logging
import pyglove as pg

from symbolic_automl import errors
from symbolic_automl import trial as trial_lib

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_MISSING = object()


def check_or_record(store, space, evaluator, objectives: Sequence[str],
                    directions: Sequence[str]) -> None:
    """Records what a new store's trials mean, or refuses a resume that changes it.

    Args:
      store: the `TrialStore`.
      space: the search's `Space`.
      evaluator: the search's evaluator.
      objectives: the objective metric names.
      directions: "max" or "min", one per objective.

    Raises:
      StoreError: the store was searched with other objectives, directions,
        training recipe, define-by-run code or search space.
    """
    current = {
        "objectives": list(objectives),
        "directions": list(directions),
        "evaluator_recipe": evaluator_recipe(evaluator),
        "space_code": space_code(space),
        "space_fingerprint": space.fingerprint(),
    }
    if store.get_meta("space_fingerprint") is None:
        for key, value in current.items():
            store.set_meta(key, value)
        store.set_meta("space", space.to_json_str())
        store.set_meta("created", time.time())
        return
    # The specific differences first: a recipe with hyper-values is also part of
    # the space, and "training.epochs: 3 -> 5" says more than two fingerprints.
    for key, value in current.items():
        recorded = store.get_meta(key, _MISSING)
        if recorded is _MISSING:
            # Written before this was recorded: nothing to compare with.
            store.set_meta(key, value)
        elif recorded is None or value is None:
            # No recipe stated (an evaluator that is a plain function), or a
            # symbolic space on one side (then the fingerprints differ).
            if key == "evaluator_recipe" and recorded is None:
                store.set_meta(key, value)
            continue
        elif key == "space_code" and recorded.get("python") != value["python"]:
            logging.warning("%s: the define-by-run code was recorded under Python %s, this is "
                            "%s; bytecode differs between versions, so it is not compared.",
                            store.path, recorded.get("python"), value["python"])
            store.set_meta(key, value)
        elif recorded != value:
            if key in ("objectives", "directions") and not any(
                    t.has_reward for t in store.trials()):
                # No trial has a reward to compare with: e.g. the first trial
                # stopped the search because the objective was misnamed.
                store.set_meta(key, value)
                continue
            raise errors.StoreError(
                f"{store.path} was searched with {_difference(key, recorded, value)}. "
                "Resuming would mix trials whose numbers mean different things: use a new "
                "root_dir for this search (or restore the recorded setting).")


def _difference(key: str, old: Any, new: Any) -> str:
    if key == "objectives":
        return f"objective {old}; this search has {new}"
    if key == "directions":
        return f"direction {old}; this search has {new}"
    if key == "space_fingerprint":
        return (f"a different search space (fingerprint {old}; this space's is {new})")
    if key == "space_code":
        if old.get("function") != new.get("function"):
            return (f"the define-by-run function {old.get('function')}; this search has "
                    f"{new.get('function')}")
        return (f"another body of the define-by-run function {old['function']} (code "
                f"{old['bytecode_hash']}; this search's is {new['bytecode_hash']})")
    old, new = dict(old or {}), dict(new or {})
    changed = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    return "; ".join(f"{k} = {old.get(k, '(not set)')}, this search has {new.get(k, '(not set)')}"
                     for k in changed)


def evaluator_recipe(evaluator) -> Optional[Dict[str, str]]:
    """`{setting: text}` that decides what the evaluator's numbers mean, if it says."""
    recipe = getattr(evaluator, "recipe", None)
    if not callable(recipe):
        return None
    return {str(k): str(v) for k, v in recipe().items()}


def space_code(space) -> Optional[Dict[str, str]]:
    """The define-by-run function's name and code hash; None for a symbolic space."""
    if not space.is_define_by_run:
        return None
    function = _function(inspect.unwrap(space.value))
    if function is None:
        return None
    return {"function": _qualified_name(function), "bytecode_hash": code_hash(function),
            "python": f"{sys.version_info[0]}.{sys.version_info[1]}"}


def code_hash(function) -> str:
    """A hash of the function's bytecode, constants and names (not its comments).

    Nested functions, lambdas and comprehensions are code objects among the
    constants and hash the same way. Bytecode differs between Python versions.
    """
    digest = hashlib.sha256()

    def add(code: types.CodeType):
        digest.update(code.co_code)
        digest.update(repr(code.co_names).encode())
        for constant in code.co_consts:
            if isinstance(constant, types.CodeType):
                add(constant)
            else:
                digest.update(repr(constant).encode())

    add(function.__code__)
    return digest.hexdigest()[:16]


def _function(value) -> Optional[types.FunctionType]:
    """The plain function behind a function, bound method or `functools.partial`."""
    while isinstance(value, functools.partial):
        value = value.func
    value = getattr(value, "__func__", value)
    return value if isinstance(value, types.FunctionType) else None


def _qualified_name(value) -> str:
    return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', value)}"


def stable_text(value: Any) -> str:
    """A text of `value` that is the same in every run (no memory addresses).

    Symbolic values are formatted without their default fields (a field added
    later with a default changes nothing), Keras objects by their config,
    arrays by shape and dtype, functions by name.
    """
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {stable_text(v)}" for k, v in sorted(
            value.items(), key=lambda kv: str(kv[0]))) + "}"
    if isinstance(value, (list, tuple)) and not isinstance(value, pg.Symbolic):
        return "[" + ", ".join(stable_text(v) for v in value) + "]"
    if isinstance(value, pg.Symbolic):
        text = pg.format(value, compact=True, hide_default_values=True)
    elif hasattr(value, "shape") and hasattr(value, "dtype"):
        text = f"array(shape={tuple(value.shape)}, dtype={value.dtype})"
    elif callable(getattr(value, "get_config", None)) and not isinstance(value, type):
        try:
            config = json.dumps(value.get_config(), sort_keys=True, default=str)
        except Exception:  # pylint: disable=broad-except
            config = "?"
        text = f"{_qualified_name(type(value))}({config})"
    elif isinstance(value, (types.FunctionType, type)):
        text = _qualified_name(value)
    else:
        text = repr(value)
    return _ADDRESS.sub("", text)


def symbolic_fields(value: pg.Object, prefix: str) -> Dict[str, str]:
    """`{prefix.field: stable_text}` for the fields of `value` not at their default."""
    fields = {prefix: _qualified_name(type(value))}
    schema = type(value).__schema__
    for key, field_value in value.sym_init_args.items():
        field = schema.get_field(key)
        if field is not None and pg.eq(field_value, field.default_value):
            continue
        fields[f"{prefix}.{key}"] = stable_text(field_value)
    return fields


def trailing_failures(trials: Sequence[trial_lib.Trial]) -> List[trial_lib.Trial]:
    """The failed trials that ended last, in a row: the consecutive-failure count on resume.

    Trials count in the order they finished; rejected trials neither count nor
    break the run (as in the loop), and an interrupted trial (still running)
    is not finished.
    """
    finished = sorted((t for t in trials if t.status not in (trial_lib.RUNNING,
                                                              trial_lib.REJECTED)),
                      key=lambda t: (t.finished or 0.0, t.id))
    run: List[trial_lib.Trial] = []
    for trial in reversed(finished):
        if trial.status != trial_lib.FAILED:
            break
        run.append(trial)
    return run[::-1]
