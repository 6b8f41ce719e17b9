"""`search()`'s arguments, checked before anything runs or touches the disk.

A wrong argument either slipped through (`max_trials=True` is an int, `progress="no"`
is truthy) or failed late, after trials had run or the store file existed. Each
check here raises a `TypeError` or `ValueError` that names the argument, the bad
value and what was expected, with the likely fix where there is one.

Example::

    check_search_arguments(max_trials=True)
    # TypeError: search(max_trials=True): expected a positive int (trials to
    # evaluate), got a bool.
"""

import numbers
import os
from typing import Any, Callable, Dict, Optional, Sequence

import pyglove as pg

from symbolic_automl import errors


def check_search_arguments(**arguments: Any) -> None:
    """Checks the named `search()` arguments; those not given are not checked.

    Raises:
      TypeError, ValueError: naming the argument, its value and what was expected.
    """
    if arguments.get("max_trials") is None and _is_int(arguments.get("evaluator")):
        evaluator = arguments["evaluator"]
        raise TypeError(
            f"search's third argument is the evaluator, got {evaluator!r}: pass "
            f"max_trials={evaluator} by keyword (sa.search(model, algorithm, "
            f"max_trials={evaluator}) uses the model's recorded compile/fit).")
    for name, value in arguments.items():
        check = _CHECKS.get(name)
        if check is not None:
            check(name, value)


def check_objectives_returned(objectives: Sequence[str], metrics: Dict[str, Any],
                              stop_after: Optional[int] = None) -> None:
    """Refuses metrics that hold no value for one of the objectives.

    Args:
      objectives: the search's objective names.
      metrics: what the evaluator returned.
      stop_after: the id of the trial that returned them, when this is the
        search's first evaluation: the error then stops the search.

    Raises:
      ObjectiveNotReturnedError: naming the missing objectives and the metrics
        the evaluator did return.
    """
    missing = [name for name in objectives if name not in metrics]
    if not missing:
        return
    names = ", ".join(repr(n) for n in missing)
    message = (f"The evaluator returned no {names} (the objective); it returned "
               f"{sorted(metrics)}.")
    if stop_after is not None:
        message = (f"Stopping the search: trial {stop_after}, the first to return metrics, "
                   f"has no value for the objective {names}; the evaluator returned "
                   f"{sorted(metrics)}. Pass search(objective=...) one of those and run again "
                   "(the same root_dir takes it while no trial has a reward); every trial "
                   "would fail the same way.")
    raise errors.ObjectiveNotReturnedError(message, missing, sorted(metrics))


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _bad(name: str, value: Any, expected: str, hint: str = "", error=ValueError):
    got = f", got a {type(value).__name__}" if error is TypeError else ""
    return error(f"search({name}={value!r:.100}): expected {expected}{got}."
                 f"{' ' + hint if hint else ''}")


def _int_at_least(minimum: int, meaning: str, none_means: str = "") -> Callable[[str, Any], None]:
    expected = f"{'a positive' if minimum == 1 else 'a non-negative'} int ({meaning})"
    if none_means:
        expected = f"None ({none_means}) or {expected}"

    def check(name, value):
        if value is None and none_means:
            return
        if not _is_int(value):
            raise _bad(name, value, expected, error=TypeError)
        if value < minimum:
            raise _bad(name, value, expected)
    return check


def _check_progress(name, value):
    if not isinstance(value, bool):
        raise _bad(name, value, "True or False (show a progress bar)", error=TypeError)


def _directory(meaning: str) -> Callable[[str, Any], None]:
    expected = f"None or a non-empty directory path ({meaning})"

    def check(name, value):
        if value is None:
            return
        if not isinstance(value, (str, os.PathLike)):
            raise _bad(name, value, expected, error=TypeError)
        path = os.fspath(value)
        if not isinstance(path, str) or not path.strip():
            raise _bad(name, value, expected)
        if os.path.exists(path) and not os.path.isdir(path):
            raise _bad(name, value, expected, "That path is an existing file.")
    return check


def _check_executor(name, value):
    from symbolic_automl import executors  # pylint: disable=g-import-not-at-top

    if value is None or isinstance(value, executors.Executor):
        return
    choices = [f"executors.{n}({a})" for n, a in (("InProcess", ""), ("WorkerProcess", ""),
                                                  ("LocalPool", "workers=2"), ("Ray", ""))
               if hasattr(executors, n)]
    hint = f"Pass an instance from symbolic_automl.executors: {', '.join(choices)}."
    if isinstance(value, type) and issubclass(value, executors.Executor):
        hint = f"Pass an instance, e.g. executors.{value.__name__}(), not the class."
    raise _bad(name, value, "None (run in this process) or a symbolic_automl.executors.Executor",
               hint, error=TypeError)


# What to suggest for a string such as "median": the shipped policies, by prefix.
_POLICIES = ("MedianStopping(metric='val_accuracy', grace_steps=2)",
             "SuccessiveHalving(min_resource=1, eta=3, max_resource=9)",
             "Hyperband(min_resource=1, max_resource=9, eta=3)")


def _check_early_stopping(name, value):
    if value is None or isinstance(value, pg.tuning.EarlyStoppingPolicy):
        return
    matches = [p for p in _POLICIES
               if isinstance(value, str) and value.strip() and
               p.lower().startswith(value.strip().lower().replace("_", ""))]
    hint = (f"Pass a policy object from symbolic_automl.algorithms.early_stopping, e.g. "
            f"{(matches or _POLICIES)[0]}.")
    if isinstance(value, type) and issubclass(value, pg.tuning.EarlyStoppingPolicy):
        hint = f"Pass an instance, e.g. {value.__name__}(...), not the class."
    raise _bad(name, value, "None or a pg.tuning.EarlyStoppingPolicy", hint, error=TypeError)


_CHECKS: Dict[str, Callable[[str, Any], None]] = {
    "max_trials": _int_at_least(1, "trials to evaluate"),
    "parallelism": _int_at_least(1, "trials in flight", none_means="the executor's capacity"),
    "keep_models": _int_at_least(0, "best trained models to keep on disk"),
    "max_consecutive_failures": _int_at_least(1, "failed trials in a row before stopping"),
    "max_rejections": _int_at_least(1, "rejected trials before stopping",
                                    none_means="10 x max_trials"),
    "progress": _check_progress,
    "root_dir": _directory("where the trial store and models go; None keeps them in memory"),
    "tensorboard_dir": _directory("where TensorBoard HParams go"),
    "executor": _check_executor,
    "early_stopping": _check_early_stopping,
}
