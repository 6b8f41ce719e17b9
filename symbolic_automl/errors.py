"""Errors raised by symbolic_automl, each naming the bad value and what was expected."""


class SymbolicAutoMLError(Exception):
    """Base class of every error raised on purpose by symbolic_automl."""


class InfeasibleError(SymbolicAutoMLError):
    """A sample of a search space that cannot become a model.

    Raise it while materializing or building a model (a cell with no
    input→output path, too many edges, ...). The trial is recorded as
    infeasible with this message as its reason, the algorithm is told, and the
    search goes on.

    Example::

        if num_edges > 9:
            raise InfeasibleError(f"{num_edges} edges, at most 9 are allowed")
    """


class RejectedError(InfeasibleError):
    """A candidate turned away by a cheap check before its full evaluation.

    Recorded with status ``rejected`` (EvoNorm-style rejection) and the message
    as its reason; `metrics` (what the check measured) become the trial's metrics.

    Example::

        raise RejectedError("accuracy 0.11 < 0.2 after 100 steps", metrics={"acc": 0.11})
    """

    def __init__(self, message: str = "", metrics: dict = None):
        super().__init__(message)
        self.metrics = dict(metrics or {})


class SearchSpaceError(SymbolicAutoMLError, ValueError):
    """A search space that is not valid (no hyper-values, wrong type, ...)."""


class DNAMismatchError(SymbolicAutoMLError, ValueError):
    """A DNA that does not fit the search space's DNASpec."""


class NotSerializableError(SymbolicAutoMLError, ValueError):
    """A value with no safe JSON form: saving it would need a pickle or marshalled code.

    Example: a symbolic object holding a plain (non-symbolic) Keras model. Such
    a trial is recorded by its decisions instead.
    """


class UnsafeJSONError(SymbolicAutoMLError, ValueError):
    """JSON that loading would turn into running code (a pickle, code, an import)."""


class StoreError(SymbolicAutoMLError):
    """A trial store that is corrupt, foreign, or belongs to another search."""


class LeaseLostError(StoreError):
    """A trial this worker was running now belongs to another worker.

    Its lease expired (this process was suspended or could not reach the store
    for longer than the lease) and another process sharing the store claimed it
    and runs it again under the same id. This worker's result for it is dropped:
    the store keeps the claimer's.
    """


class TooManyFailuresError(SymbolicAutoMLError):
    """Raised when too many trials in a row have failed."""


class ObjectiveNotReturnedError(SymbolicAutoMLError, KeyError):
    """The evaluator returned metrics without a value for an objective.

    The search stops with it when this happens on its first evaluation that
    returns metrics: the objective is misnamed, and every trial would fail.

    Attributes:
      missing: the objective names with no value.
      returned: the metric names the evaluator did return.
    """

    def __init__(self, message: str, missing=(), returned=()):
        super().__init__(message)
        self.missing = list(missing)
        self.returned = list(returned)

    def __str__(self):  # KeyError's own would show the message in quotes.
        return str(self.args[0]) if self.args else ""
