"""The trial's side of an out-of-process executor, and how its ending travels back.

A worker (a `LocalPool` process, a Ray task) runs `run_trial`, which returns
plain values only: `("done", metrics, stopped)` or `("error", encoded)`, where
an evaluator's exception is encoded as its class's module and name, its
arguments (when they are plain numbers and strings), its message and its
traceback text. The search process turns that back into an exception of the
same class (`decode_error`), with the worker's traceback as its `__cause__`
(as `concurrent.futures` does), so a trial that raised `ValueError` in a
worker is recorded exactly as one that raised it in process.

Example::

    status, *rest = run_trial(evaluator, (trial_id, model, dna, None, None),
                              send_report=lambda step, metrics: False)
    error = decode_error(rest[0]) if status == "error" else None
"""

import builtins
import os
import sys
import traceback
from typing import Any, Callable, Dict, Tuple

from symbolic_automl import errors
from symbolic_automl import trial as trial_lib

# (step, metrics) -> True when the search asks the trial to stop.
SendReport = Callable[[int, Dict[str, float]], bool]

_PLAIN = (str, int, float, bool, type(None))


class RemoteTraceback(Exception):
    """The traceback of an error raised in a worker: the `__cause__` of the error we re-raise."""

    def __str__(self):
        return self.args[0] if self.args else ""


class RemoteError(errors.SymbolicAutoMLError):
    """An evaluator's error from a worker whose class the search process cannot rebuild.

    Attributes:
      type_name: the original class, as `module.QualifiedName`.
    """

    def __init__(self, type_name: str, message: str):
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name


class RemoteContext(trial_lib.TrialContext):
    """The trial context inside a worker: reports go to the search, stop answers come back."""

    def __init__(self, trial_id, dna, training, artifact_dir, send_report: SendReport):
        super().__init__(trial_id, dna, training=training, artifact_dir=artifact_dir)
        self._send_report = send_report

    def report(self, step, metrics):
        super().report(step, metrics)
        measurement = self.measurements[-1]
        if self._send_report(measurement.step, measurement.metrics):
            self.stop()


def run_trial(evaluator, payload: Tuple[Any, ...], send_report: SendReport,
              where: str = "a worker process") -> Tuple[Any, ...]:
    """Evaluates one job in a worker; returns `("done", metrics, stopped)` or `("error", ...)`.

    Args:
      evaluator: the evaluator, already in the worker.
      payload: `(trial_id, model, dna, training, artifact_dir)`.
      send_report: relays one intermediate report to the search and returns
        its stop answer.
      where: names the worker in the error's traceback text.
    """
    trial_id, model, dna, training, artifact_dir = payload
    context = RemoteContext(trial_id, dna, training, artifact_dir, send_report)
    try:
        metrics = evaluator(model, context)
    except Exception as e:  # pylint: disable=broad-except
        return ("error", encode_error(e, where))
    return ("done", metrics, context.should_stop())


def encode_error(error: BaseException, where: str = "a worker process") -> Tuple[Any, ...]:
    """An exception as plain values: (module, qualified name, args, message, traceback, metrics)."""
    cls = type(error)
    args = tuple(error.args) if all(isinstance(a, _PLAIN) for a in error.args) else None
    text = "".join(traceback.format_exception(cls, error, error.__traceback__))
    text = f"(raised in {where}, pid {os.getpid()})\n{text}"
    metrics = getattr(error, "metrics", None) if isinstance(error, errors.RejectedError) else None
    return (cls.__module__, cls.__qualname__, args, str(error), text, metrics)


def decode_error(encoded: Tuple[Any, ...]) -> Exception:
    """The exception `encode_error` described, of the same class when this process has it.

    The class is looked up among modules already imported here (nothing is
    imported, so no code runs that the search did not already load); a class
    that is missing or cannot be rebuilt from its arguments gives a
    `RemoteError` carrying its name and message.
    """
    module_name, qualname, args, message, text, metrics = encoded
    cls = _find_class(module_name, qualname)
    error = None
    if cls is not None:
        try:
            if issubclass(cls, errors.RejectedError):
                error = cls(message, metrics=metrics)
            else:
                error = cls(*args) if args is not None else cls(message)
        except Exception:  # pylint: disable=broad-except
            error = None  # Its constructor wants other arguments.
    if error is None:
        error = RemoteError(f"{module_name}.{qualname}", message)
    error.__cause__ = RemoteTraceback(text)
    return error


def _find_class(module_name: str, qualname: str):
    owner = builtins if module_name == "builtins" else sys.modules.get(module_name)
    for part in qualname.split("."):
        owner = getattr(owner, part, None)
    if isinstance(owner, type) and issubclass(owner, Exception):
        return owner
    return None
