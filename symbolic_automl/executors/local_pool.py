"""`LocalPool`: trials run at the same time in N worker processes on this machine.

Each worker is a child process that evaluates one trial at a time and is
replaced every `trials_per_worker` trials, so memory stays flat however many
trials run (whatever an evaluator leaves behind per model, which
`KerasEvaluator` no longer does). Each worker sees only the GPU(s)
assigned to it (see `gpus.GPUPlan`). Intermediate reports and stop answers
flow between the trials and the search; the search alone writes the store.

The evaluator is pickled to each worker once, and each trial's model, id,
DNA, training recipe and artifact directory go down a pipe to our own child,
which sends back plain tuples (reports: step and metric numbers; the final
metrics; or an error's class, arguments and traceback text). Nothing is
pickled to a file, and the trial store holds only JSON.

Example::

    result = search(space, algorithm=..., evaluator=KerasEvaluator(...), max_trials=200,
                    executor=LocalPool(workers=2), parallelism=2)
    # One trial per GPU, or two per GPU sharing its memory:
    executor = LocalPool(gpus_per_trial=1)
    executor = LocalPool(gpus_per_trial=0.5)
"""

import collections
import contextlib
import multiprocessing
from multiprocessing import connection as mp_connection
import os
import pickle
import signal
import threading
import time
from typing import Any, Dict, List, Optional, Sequence

from symbolic_automl import trial as trial_lib
from symbolic_automl.executors import base
from symbolic_automl.executors import gpus as gpus_lib
from symbolic_automl.executors import remote

_ENVIRONMENT_LOCK = threading.Lock()


class LocalPool(base.Executor):
    """Runs up to `workers` trials at once, each in its own recycled worker process.

    Args:
      workers: worker processes, i.e. trials at once (`capacity`). Default:
        as many as the GPUs hold when `gpus_per_trial` > 0, else one per CPU.
      gpus_per_trial: 0 (default): CPU trials; on a machine with GPUs the
        workers see none. n >= 1: n whole GPUs per trial. A fraction such as
        0.5: two trials share each GPU, with memory growth on
        (`TF_FORCE_GPU_ALLOW_GROWTH`, `XLA_PYTHON_CLIENT_PREALLOCATE=false`).
        None: GPUs are not managed (every worker sees this process's GPUs).
      trials_per_worker: trials one worker evaluates before it is replaced.
      start_method: multiprocessing start method; "spawn" (the default) is
        the one that is safe once TensorFlow has started threads.
      gpus: the GPUs to hand out, as `CUDA_VISIBLE_DEVICES` names them;
        default: those `CUDA_VISIBLE_DEVICES` or `nvidia-smi -L` show.
      threads_per_worker: CPU threads each worker's TensorFlow uses
        (`TF_NUM_INTRAOP_THREADS`, `TF_NUM_INTEROP_THREADS`, `OMP_NUM_THREADS`)
        unless this process's environment already sets them. Default: the
        CPUs divided among the workers when there are several, so that N
        workers on N cores do not each start N threads.

    The evaluator and each model are pickled to the workers: define custom
    classes at module level, and pass data as arrays (not `tf.data` pipelines).

    Raises:
      ValueError: a setting that is out of range or that the GPUs cannot meet.
    """

    def __init__(self, workers: Optional[int] = None, gpus_per_trial: Optional[float] = 0,
                 trials_per_worker: int = 25, start_method: str = "spawn", *,
                 gpus: Optional[Sequence[str]] = None, threads_per_worker: Optional[int] = None):
        _check_positive_int("trials_per_worker", trials_per_worker)
        if start_method not in multiprocessing.get_all_start_methods():
            raise ValueError(f"start_method must be one of "
                             f"{multiprocessing.get_all_start_methods()}, got {start_method!r}.")
        self.plan = gpus_lib.GPUPlan(gpus_per_trial, gpus)
        slots = self.plan.slots
        if workers is None:
            workers = slots if slots is not None else _cpu_count()
        _check_positive_int("workers", workers)
        if slots is not None and workers > slots:
            raise ValueError(
                f"workers={workers} with gpus_per_trial={gpus_per_trial!r} needs "
                f"{workers * gpus_per_trial:g} GPUs, but {len(self.plan.gpus)} are visible "
                f"({','.join(self.plan.gpus)}): at most {slots} workers.")
        if threads_per_worker is not None:
            _check_positive_int("threads_per_worker", threads_per_worker)
        elif workers > 1:
            threads_per_worker = max(1, _cpu_count() // workers)
        self.workers = workers
        self.gpus_per_trial = gpus_per_trial
        self.trials_per_worker = trials_per_worker
        self.threads_per_worker = threads_per_worker
        self._context = multiprocessing.get_context(start_method)
        self._slots: List[Optional[_Worker]] = [None] * workers
        self._queue = collections.deque()
        self._finished: List[base.Outcome] = []
        self._retiring: List[Any] = []
        self._pickled = None  # (evaluator, its pickle): pickled once per evaluator.

    @property
    def capacity(self) -> int:
        return self.workers

    @property
    def in_flight(self) -> int:
        running = sum(w is not None and w.running is not None for w in self._slots)
        return len(self._queue) + running + len(self._finished)

    def worker_environment(self, slot: int) -> Dict[str, str]:
        """The environment variables the worker in `slot` (0-based) starts with."""
        if not 0 <= slot < self.workers:
            raise ValueError(f"slot must be in [0, {self.workers}), got {slot!r}.")
        environment = self.plan.environment(slot)
        if self.threads_per_worker is not None:
            for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
                if name not in os.environ:
                    environment[name] = str(self.threads_per_worker)
        return environment

    def submit(self, evaluator, job: base.Job, on_report: base.OnReport) -> None:
        """Starts the job in an idle worker, or queues it until one is free.

        Raises:
          TypeError: the evaluator cannot be pickled to a worker.
        """
        self._pickle(evaluator)
        self._queue.append((evaluator, job, on_report))
        self._dispatch()

    def wait(self, timeout: Optional[float] = None) -> List[base.Outcome]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._dispatch()
            if self._finished:
                outcomes, self._finished = self._finished, []
                return outcomes
            busy = [w for w in self._slots if w is not None and w.running is not None]
            if not busy:
                return []
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return []
            handles = {}
            for worker in busy:
                handles[worker.connection] = handles[worker.process.sentinel] = worker
            ready = mp_connection.wait(list(handles), timeout=remaining)
            for worker in {id(handles[h]): handles[h] for h in ready}.values():
                self._serve(worker)

    def close(self) -> None:
        """Stops every worker (running trials are killed; queued jobs are dropped)."""
        self._queue.clear()
        self._finished = []
        processes = list(self._retiring)
        for i, worker in enumerate(self._slots):
            if worker is None:
                continue
            if worker.running is not None:
                worker.process.kill()
            else:
                _send_quietly(worker.connection, None)
            worker.connection.close()
            processes.append(worker.process)
            self._slots[i] = None
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        self._retiring = []

    def _pickle(self, evaluator) -> bytes:
        if self._pickled is None or self._pickled[0] is not evaluator:
            try:
                self._pickled = (evaluator, pickle.dumps(evaluator))
            except Exception as e:  # pylint: disable=broad-except
                raise TypeError(
                    f"The evaluator {type(evaluator).__name__} cannot be sent to worker "
                    f"processes: {type(e).__name__}: {e}. Its data and settings must be "
                    "picklable (arrays, not tf.data pipelines; classes defined at module "
                    "level), or evaluate in process.") from e
        return self._pickled[1]

    def _dispatch(self) -> None:
        """Hands queued jobs to idle workers, starting or replacing workers as needed."""
        for process in [p for p in self._retiring if not p.is_alive()]:
            process.join()  # Reaped: retired workers exit as soon as they read their stop.
            self._retiring.remove(process)
        for slot in range(self.workers):
            if not self._queue:
                return
            worker = self._slots[slot]
            if worker is not None and worker.running is not None:
                continue
            evaluator, job, on_report = self._queue.popleft()
            try:
                if worker is None or not worker.alive():
                    self._retire(slot)
                    worker = self._start(slot, evaluator)
                elif worker.evaluator is not evaluator:  # Swapped without a new process.
                    worker.connection.send(("evaluator", self._pickle(evaluator)))
                    worker.evaluator = evaluator
                worker.start_job(job, on_report)
            except Exception as e:  # pylint: disable=broad-except
                # A model that cannot be pickled fails its own trial, not the pool.
                self._finished.append(base.Outcome(job.trial_id, error=e))

    def _start(self, slot: int, evaluator) -> "_Worker":
        parent, child = self._context.Pipe()
        environment = self.worker_environment(slot)
        try:
            with _environment(environment):  # Inherited by a spawned child from its start.
                process = self._context.Process(
                    target=worker_main, args=(child, environment, self._pickle(evaluator)),
                    daemon=True, name=f"symbolic_automl-worker-{slot}")
                process.start()
        finally:
            child.close()
        worker = _Worker(process, parent, evaluator)
        self._slots[slot] = worker
        return worker

    def _retire(self, slot: int) -> None:
        worker = self._slots[slot]
        if worker is not None:
            _send_quietly(worker.connection, None)
            worker.connection.close()
            self._retiring.append(worker.process)
            self._slots[slot] = None

    def _serve(self, worker: "_Worker") -> None:
        """Handles what a worker sent: reports (answered), its outcome, or its death."""
        try:
            while worker.running is not None and worker.connection.poll():
                self._handle(worker, worker.connection.recv())
            if worker.running is not None and not worker.process.is_alive():
                raise EOFError
        except (EOFError, OSError):
            self._lost(worker)

    def _handle(self, worker: "_Worker", message) -> None:
        running = worker.running
        kind = message[0]
        if kind == "report":
            stop = True  # Should the search fail to answer, the trial stops.
            try:
                running.context.report(message[1], message[2])
                stop = running.context.should_stop()
            finally:
                worker.connection.send(bool(stop))
            return
        outcome = running.outcome
        if kind == "done":
            outcome.metrics = message[1]
            outcome.stopped = bool(message[2]) or running.context.should_stop()
        else:
            outcome.error = remote.decode_error(message[1])
            outcome.stopped = running.context.should_stop()
        worker.running = None
        worker.trials_done += 1
        self._finished.append(outcome)
        if worker.trials_done >= self.trials_per_worker:
            # Replace it now, so the new one starts while the search works.
            slot = self._slots.index(worker)
            self._retire(slot)
            try:
                self._start(slot, worker.evaluator)
            except Exception:  # pylint: disable=broad-except
                self._slots[slot] = None  # Tried again, failing its job, at the next one.

    def _lost(self, worker: "_Worker") -> None:
        running = worker.running
        worker.process.join(timeout=5)
        code = worker.process.exitcode
        how = f"exit code {code}"
        if code is not None and code < 0:
            try:
                how = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                pass
        running.outcome.error = base.WorkerLostError(
            f"The worker process evaluating trial {running.job.trial_id} died ({how}); "
            "out of memory, or a crash in native code?")
        running.outcome.stopped = running.context.should_stop()
        worker.running = None
        worker.connection.close()
        self._slots[self._slots.index(worker)] = None  # Replaced at the next job.
        self._finished.append(running.outcome)


class _Running:
    """A job in a worker: its driver-side context (which calls `on_report`) and outcome."""

    def __init__(self, job: base.Job, on_report: base.OnReport):
        self.job = job
        self.context = trial_lib.TrialContext(
            job.trial_id, job.dna, training=job.training, artifact_dir=job.artifact_dir,
            on_report=lambda m: on_report(job.trial_id, m))
        self.outcome = base.Outcome(job.trial_id, measurements=self.context.measurements)


class _Worker:
    """One worker process, the evaluator it holds, and the job it runs (if any)."""

    def __init__(self, process, connection, evaluator):
        self.process = process
        self.connection = connection
        self.evaluator = evaluator
        self.trials_done = 0
        self.running: Optional[_Running] = None

    def alive(self) -> bool:
        return self.process.is_alive()

    def start_job(self, job: base.Job, on_report: base.OnReport) -> None:
        self.connection.send(("trial", (job.trial_id, job.model, job.resolved_dna(),
                                        job.training, job.artifact_dir)))
        self.running = _Running(job, on_report)


def worker_main(connection, environment: Dict[str, str], pickled_evaluator: bytes) -> None:
    """A worker process: evaluates the trials sent down `connection` until told to stop."""
    os.environ.update(environment)  # Before the evaluator's modules import TF or JAX.
    parent = multiprocessing.parent_process()
    if parent is not None:  # A search killed mid-trial takes its workers with it.
        threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()

    def load(pickled):
        try:
            return pickle.loads(pickled), None
        except Exception as e:  # pylint: disable=broad-except
            return None, remote.encode_error(e, "a worker process, loading the evaluator")

    evaluator, load_error = load(pickled_evaluator)

    def send_report(step, metrics):
        connection.send(("report", step, metrics))
        return connection.recv()

    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):  # The search process is gone.
            return
        if message is None:
            return
        if message[0] == "evaluator":
            evaluator, load_error = load(message[1])
            continue
        if load_error is not None:
            connection.send(("error", load_error))
            continue
        connection.send(remote.run_trial(evaluator, message[1], send_report))


def _exit_with(parent) -> None:
    parent.join()
    os._exit(1)  # pylint: disable=protected-access


@contextlib.contextmanager
def _environment(values: Dict[str, str]):
    """Sets environment variables for the duration (restoring the old values)."""
    with _ENVIRONMENT_LOCK:
        saved = {name: os.environ.get(name) for name in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def _send_quietly(connection, message) -> None:
    try:
        connection.send(message)
    except (OSError, ValueError):
        pass  # Already gone.


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
