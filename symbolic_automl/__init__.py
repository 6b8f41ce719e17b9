"""symbolic_automl: search over Keras models by symbolic programming."""

from symbolic_automl.errors import (
    DNAMismatchError,
    InfeasibleError,
    RejectedError,
    SearchSpaceError,
    StoreError,
    SymbolicAutoMLError,
    TooManyFailuresError,
)

__version__ = "0.1.0"
