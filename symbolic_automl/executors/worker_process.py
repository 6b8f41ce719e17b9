"""`WorkerProcess`: evaluations run one at a time in a recycled child process.

`KerasEvaluator` lets go of what TensorFlow kept of each trial (its traced
graphs, held by the registry of custom gradients: `evaluators.custom_gradients`),
so an in-process search with it stays flat. Other evaluators may still leave
memory behind per model (a custom training loop tracing `tf.custom_gradient`, a
native library). For long searches with those, `WorkerProcess` runs
evaluations in a child process that is replaced every `trials_per_worker`
trials, so memory stays flat however many trials run.
It is a `LocalPool` of one worker that leaves GPUs as this process sees them.

Example::

    result = search(space, algorithm=..., evaluator=KerasEvaluator(...),
                    max_trials=500, executor=WorkerProcess(trials_per_worker=25))
"""

from symbolic_automl.executors import base
from symbolic_automl.executors import local_pool

# Kept for code written against the one-worker executor: a lost worker's error.
WorkerProcessError = base.WorkerLostError


class WorkerProcess(local_pool.LocalPool):
    """Evaluates in one child process, started fresh every `trials_per_worker` trials.

    Args:
      trials_per_worker: trials one child evaluates before it is replaced.
      start_method: multiprocessing start method; "spawn" (the default) is the
        one that is safe once TensorFlow has started threads.

    An evaluator's error keeps its class (with the worker's traceback as its
    `__cause__`); a child that dies gives `WorkerLostError`. See `LocalPool`.
    """

    def __init__(self, trials_per_worker: int = 25, start_method: str = "spawn"):
        super().__init__(workers=1, gpus_per_trial=None, trials_per_worker=trials_per_worker,
                         start_method=start_method)
