"""`search`: propose → materialize → evaluate → feedback → record, resumable.

Example::

    import pyglove as pg
    import symbolic_automl as sa
    from symbolic_automl import algorithms as sa_algorithms
    from symbolic_automl import keras

    space = keras.Sequential([keras.Input(shape=(8, 8, 1)),
                              keras.layers.Conv2D(pg.oneof([16, 32]), 3),
                              keras.layers.Flatten(), keras.layers.Dense(10)])
    result = sa.search(space, algorithm=sa_algorithms.regularized_evolution(seed=1),
                       evaluator=sa.evaluators.KerasEvaluator(x, y, (xv, yv)),
                       max_trials=20, root_dir="runs/cnn")
    print(result.best)

Running the same call again with the same `root_dir` resumes: finished trials
are kept, the algorithm replays the history (`recover`), every interrupted
trial runs again under its own id, and new ids continue.

`search` checks its arguments and wires the parts, each in its own module:
`proposals` (the algorithm behind one `Proposal` type), `loop` (the trial
loop, N trials in flight), `recording` (every store write, kept models),
`objectives` (metrics -> reward) and `weight_sharing_run` (supernet search,
then one ordinary trial).
"""

import sys
from typing import Any, Callable, Optional, Sequence, Union

import pyglove as pg

from symbolic_automl import arguments
from symbolic_automl import callbacks as callbacks_lib
from symbolic_automl import executors
from symbolic_automl import loop as loop_lib
from symbolic_automl import objectives as objectives_lib
from symbolic_automl import proposals
from symbolic_automl import recording
from symbolic_automl import space as space_lib
from symbolic_automl import trial as trial_lib
from symbolic_automl import weight_sharing_run

Objective = objectives_lib.Objective


def search(space: Any,
           algorithm: Any,
           evaluator: Optional[Callable[[Any, trial_lib.TrialContext], dict]] = None,
           max_trials: Optional[int] = None,
           root_dir: Optional[str] = None,
           *,
           objective: Optional[Objective] = None,
           direction: Optional[Union[str, Sequence[str]]] = None,
           early_stopping: Optional[pg.tuning.EarlyStoppingPolicy] = None,
           max_consecutive_failures: int = 5,
           max_rejections: Optional[int] = None,
           keep_models: int = 3,
           executor: Optional[Any] = None,
           parallelism: Optional[int] = None,
           progress: bool = True,
           callbacks: Optional[Sequence[Any]] = None,
           tensorboard_dir: Optional[str] = None,
           study: Optional[str] = None,
           parent_id: Optional[int] = None) -> trial_lib.Result:
    """Searches `space` with `algorithm`, scoring candidates with `evaluator`.

    Args:
      space: a symbolic value with hyper-values (e.g. a symbolic Keras model) or
        a define-by-run function; see `Space`.
      algorithm: a `pg.DNAGenerator` (PyGlove's or ours), or a weight-sharing
        algorithm from `symbolic_automl.algorithms`.
      evaluator: `callable(model, context) -> dict of metrics`, e.g. a
        `KerasEvaluator`. Its `training` recipe may hold hyper-values, which
        join the search space. Leave it out for a symbolic Keras model on which
        `compile(...)` and `fit(x, y, validation_data=...)` were called: those
        arguments are the recipe (see `symbolic_automl.keras.facade`).
      max_trials: number of evaluated trials, counted across resumes; trials
        turned away by a cheap check (status "rejected") do not count.
      root_dir: where the trial store (one SQLite file) and trained models go;
        `None` keeps everything in memory. Several processes of one machine
        may run the same search on one root_dir at once: each joins as a
        worker, `max_trials` counts all of theirs, each algorithm hears every
        worker's results, and a killed worker's trials run again elsewhere
        (a live one's never; a hung one's after its lease,
        `$SYMBOLIC_AUTOML_LEASE_SECONDS`, default 60 s, runs out).
      objective: metric name(s) whose value is the reward; defaults to the
        evaluator's `objective`, else "reward". Several names = multi-objective.
      direction: "max" or "min", one per objective; defaults to the evaluator's
        `direction` (a recorded recipe scoring a loss says "min"), else "max".
      early_stopping: a `pg.tuning.EarlyStoppingPolicy` consulted on every
        intermediate report.
      max_consecutive_failures: stop with `TooManyFailuresError` after this
        many failed trials in a row.
      max_rejections: stop once this many trials have been rejected in all
        (default: 10 x max_trials), so a too-strict check cannot loop forever.
      keep_models: how many best trained `.keras` models to keep on disk.
      executor: where evaluations run: `executors.InProcess()` (default);
        `executors.WorkerProcess(trials_per_worker=...)`, one recycled child
        process, which keeps memory flat over long searches;
        `executors.LocalPool(workers=N, gpus_per_trial=...)`, N such processes
        at once, each seeing only its GPU(s); `executors.Ray(address=...)`, Ray
        tasks on a cluster (`pip install "symbolic_automl[ray]"`).
      parallelism: how many trials to keep in flight on the executor (default:
        its `capacity`, 1 for `InProcess`). The algorithm proposes the next
        trials before the earlier ones are fed back; outcomes are recorded and
        fed back in the order they arrive.
      progress: show a progress bar.
      callbacks: observers of the search (`symbolic_automl.callbacks.Callback`),
        told when it begins, on each intermediate report, as each trial ends,
        and when it ends.
      tensorboard_dir: write TensorBoard HParams here (one run per trial, named
        by its id); a shortcut for
        `callbacks=[symbolic_automl.reporting.tensorboard.HParamsLogger(dir)]`.
      study: the name of this search in `root_dir`'s store, when several searches
        share one experiment (None: its main search). Its trials, metadata and
        resume are apart from the other studies'; ids stay unique in the file.
        `symbolic_automl.flows` names the inner searches of a nested search.
      parent_id: the trial (of another study) whose evaluation runs this search;
        every trial records it as `Trial.parent_id`.

    Returns:
      A `Result` with every trial, `best`, `top(k)` and `pareto_front()`.
    """
    arguments.check_search_arguments(
        evaluator=evaluator, max_trials=max_trials, root_dir=root_dir,
        early_stopping=early_stopping, max_consecutive_failures=max_consecutive_failures,
        max_rejections=max_rejections, keep_models=keep_models, executor=executor,
        parallelism=parallelism, progress=progress, tensorboard_dir=tensorboard_dir)
    if evaluator is None:
        evaluator = _recorded_evaluator(space)
    if not callable(evaluator):
        raise TypeError(f"evaluator must be callable as evaluator(model, context), got "
                        f"{type(evaluator).__name__}: {evaluator!r:.100}")
    weight_sharing = weight_sharing_run.is_weight_sharing(algorithm)
    if not (weight_sharing or isinstance(algorithm, pg.DNAGenerator)):
        raise TypeError(f"algorithm must be a pg.DNAGenerator (e.g. "
                        f"symbolic_automl.algorithms.regularized_evolution(seed=1)) or a "
                        f"weight-sharing algorithm, got {type(algorithm).__name__}: "
                        f"{algorithm!r:.100}")
    objectives = objectives_lib.Objectives.resolve(objective, direction, evaluator)
    observers = callbacks_lib.check(callbacks)
    if tensorboard_dir is not None:
        from symbolic_automl.reporting import tensorboard  # pylint: disable=g-import-not-at-top
        observers.append(tensorboard.HParamsLogger(tensorboard_dir))
    executor = executor or executors.InProcess()
    searched = _search_space(space, evaluator, weight_sharing)
    recorder = recording.Recorder(root_dir, searched, objectives, keep_models,
                                  study=study, parent_id=parent_id, evaluator=evaluator)

    def make_loop(dna_generator, trial_evaluator, trial_executor=None):
        return loop_lib.TrialLoop(
            searched, proposals.proposer_for(dna_generator, searched), trial_evaluator,
            recorder, objectives, executor=trial_executor or executor,
            parallelism=parallelism if trial_executor is None else None,
            early_stopping=early_stopping, max_consecutive_failures=max_consecutive_failures,
            max_rejections=10 * max_trials if max_rejections is None else max_rejections,
            observers=observers,
            # One derived trial: its metrics may lack the objective (inherited weights).
            stop_on_missing_objective=not weight_sharing)

    result = None
    try:
        callbacks_lib.notify(observers, "on_search_begin", callbacks_lib.SearchInfo(
            searched, objectives.names, objectives.directions, list(recorder.trials),
            root_dir), raise_errors=True)
        if weight_sharing:
            weight_sharing_run.run(algorithm, searched, evaluator, recorder, make_loop)
        else:
            make_loop(algorithm, evaluator).run(max_trials, progress)
        result = recorder.result()
        return result
    finally:
        try:
            callbacks_lib.notify(observers, "on_search_end", result)
        finally:
            try:
                executor.close()
            finally:
                recorder.close()


def _recorded_evaluator(space):
    """The evaluator a symbolic Keras model's recorded compile/fit describe."""
    facade = sys.modules.get("symbolic_automl.keras.facade")
    if facade is not None and isinstance(space, facade.KerasModelFacade):
        return space.recorded_evaluator()
    raise TypeError(
        "search needs evaluator=... (e.g. sa.KerasEvaluator(x, y, validation_data=...)), "
        "or a symbolic Keras model on which compile(...) and fit(x, y, validation_data=...) "
        f"were called to record the training recipe; got a {type(space).__name__} space.")


def _search_space(space: Any, evaluator: Any, weight_sharing: bool) -> space_lib.Space:
    """The `Space` searched: the model's hyper-values, and its training recipe's."""
    value = space.value if isinstance(space, space_lib.Space) else space
    training = getattr(evaluator, "training", None)
    if training is not None and not pg.is_deterministic(training) and not (
            space_lib.value_callable(value) and weight_sharing):
        # The recipe's hyper-values join the model's: one genotype for both, in
        # either style; each trial materializes a `Trainable(model, training)`.
        return space_lib.Space(value, training=training)
    return space_lib.Space(space)
