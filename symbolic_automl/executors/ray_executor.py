"""`Ray`: trials run as tasks on a Ray cluster (or a local Ray started for the search).

For users who outgrow one machine: each trial is a Ray task asking for
`resources_per_trial` (CPUs, GPUs, memory, custom resources); a GPU trial
gets a fresh worker process (`max_calls=1`), so that no GPU memory outlives
its trial. A task whose worker or node dies is run again, up to
`max_retries` times, then yields `WorkerLostError` with the reason; an
exception the evaluator raises is never retried and keeps its class, message
and traceback. Intermediate reports go through a small actor to the search
process, which answers "stop" or "go on"; only the search process writes the
store.

Needs `pip install "symbolic_automl[ray]"`; on a cluster, symbolic_automl and
the evaluator's module must be importable on every node. A cluster begun with
`ray start` has token authentication on (Ray 2.60): the search process needs
its token (`RAY_AUTH_MODE=token` and `RAY_AUTH_TOKEN`, or `~/.ray/auth_token`),
else connecting fails with `AuthenticationError` as the cause.

Example::

    executor = Ray(resources_per_trial={"num_cpus": 2, "num_gpus": 1})
    result = search(space, algorithm=..., evaluator=..., max_trials=100,
                    executor=executor, parallelism=executor.capacity)
"""

import asyncio
import numbers
import time
from typing import Any, Dict, List, Optional

from symbolic_automl import trial as trial_lib
from symbolic_automl.executors import base
from symbolic_automl.executors import gpus as gpus_lib
from symbolic_automl.executors import remote

# Ray's own names for a task's resource requests.
RESOURCE_OPTIONS = ("num_cpus", "num_gpus", "memory", "resources")


class Ray(base.Executor):
    """Runs each trial as a Ray task on the cluster at `address` (default: a local Ray).

    Args:
      address: a Ray cluster address ("ray://host:10001", "auto", ...); None
        starts Ray on this machine with `ray.init()` unless Ray is already
        initialized in this process, which is then used as it is.
      resources_per_trial: the task's resource request, in Ray's names:
        `{"num_cpus": 1}` (the default), `{"num_cpus": 4, "num_gpus": 1}`,
        `{"num_gpus": 0.5}` (two trials share a GPU, with memory growth on),
        `{"memory": 2e9}`, `{"resources": {"my_accelerator": 1}}`.
      max_retries: how many times a trial is run again after its worker or
        node died (not after the evaluator raised).
      trials_per_worker: trials one Ray worker process runs before it is
        replaced (memory stays flat); GPU trials always get a fresh one.

    Ray itself stays up after `close` (`ray.shutdown()` ends it).

    Raises:
      ValueError: a bad setting; at first use, a request no node of the
        cluster can meet.
      ImportError: Ray is not installed.
    """

    def __init__(self, address: Optional[str] = None,
                 resources_per_trial: Optional[Dict[str, Any]] = None, max_retries: int = 2,
                 trials_per_worker: int = 25):
        self.address = address
        self.resources_per_trial = _check_resources(resources_per_trial)
        for name, value, low in (("max_retries", max_retries, 0),
                                 ("trials_per_worker", trials_per_worker, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}.")
        self.max_retries = max_retries
        self.trials_per_worker = trials_per_worker
        self._capacity: Optional[int] = None
        self._task = None          # The remote function, with its options.
        self._reports = None       # The actor relaying reports and stop answers.
        self._take = None          # Its pending `take` call (resolves when reports arrive).
        self._running: Dict[Any, _Running] = {}  # Task ObjectRef -> the job it runs.
        self._by_key: Dict[int, _Running] = {}
        self._next_key = 0
        self._finished: List[base.Outcome] = []
        self._evaluator = None     # (evaluator, its ObjectRef): put once per evaluator.

    @property
    def capacity(self) -> int:
        """Trials the cluster can run at once with `resources_per_trial` each."""
        if self._capacity is None:
            ray = self._ray()
            self._capacity = _capacity(self.resources_per_trial, ray.cluster_resources())
        return self._capacity

    @property
    def in_flight(self) -> int:
        return len(self._running) + len(self._finished)

    def submit(self, evaluator, job: base.Job, on_report: base.OnReport) -> None:
        """Starts the job as a Ray task (Ray queues it until resources are free).

        Raises:
          TypeError: the evaluator cannot be serialized to the cluster.
        """
        self.capacity  # pylint: disable=pointless-statement  (checks the request fits)
        if self._evaluator is None or self._evaluator[0] is not evaluator:
            try:
                self._evaluator = (evaluator, self._ray().put(evaluator))
            except Exception as e:  # pylint: disable=broad-except
                raise TypeError(f"The evaluator {type(evaluator).__name__} cannot be sent to "
                                f"Ray workers: {type(e).__name__}: {e}") from e
        if self._task is None:
            self._task = self._ray().remote(max_retries=0, retry_exceptions=False, **_task_options(
                self.resources_per_trial, self.trials_per_worker))(_ray_trial)
        if self._reports is None:
            self._reports = self._ray().remote(num_cpus=0)(_Reports).remote()
        running = _Running(job, on_report, self._evaluator[1])
        try:
            self._launch(running)
        except Exception as e:  # pylint: disable=broad-except
            self._finished.append(base.Outcome(job.trial_id, error=e))

    def wait(self, timeout: Optional[float] = None) -> List[base.Outcome]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._finished and self._running:
            ray = self._ray()
            if self._take is None:
                self._take = self._reports.take.remote()
            refs = list(self._running) + [self._take]
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _ = ray.wait(refs, num_returns=1, timeout=remaining)
            if not ready:
                break  # Timed out.
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            if self._take in ready:  # Reports first: a task's reports precede its end.
                reports, self._take = self._ray().get(self._take), None
                self._relay(reports)
            for ref in ready:
                if ref in self._running:
                    self._collect(ref)
        outcomes, self._finished = self._finished, []
        return outcomes

    def close(self) -> None:
        """Cancels running trials and ends the reports actor (Ray itself stays up)."""
        if self._running or self._reports is not None:
            ray = self._ray()
            for ref in self._running:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # pylint: disable=broad-except
                    pass  # Already finished.
            if self._reports is not None:
                ray.kill(self._reports)
        self._running, self._by_key, self._finished = {}, {}, []
        self._reports = self._take = self._evaluator = None

    def _ray(self):
        try:
            import ray  # pylint: disable=g-import-not-at-top
        except ImportError as e:
            raise ImportError('The Ray executor needs Ray: pip install "symbolic_automl[ray]"'
                              ) from e
        if not ray.is_initialized():
            ray.init(address=self.address)
        return ray

    def _launch(self, running: "_Running") -> None:
        key, self._next_key = self._next_key, self._next_key + 1
        job = running.job
        payload = (job.trial_id, job.model, job.resolved_dna(), job.training, job.artifact_dir)
        ref = self._task.remote(running.evaluator, payload, self._reports, key)
        running.key = key
        self._running[ref] = running
        self._by_key[key] = running

    def _relay(self, reports) -> None:
        for token, key, step, metrics in reports:
            running = self._by_key.get(key)
            stop = True  # A report of a trial this search no longer runs.
            try:
                if running is not None:
                    running.context.report(step, metrics)
                    stop = running.context.should_stop()
            finally:
                self._reports.answer.remote(token, bool(stop))

    def _collect(self, ref) -> None:
        from ray import exceptions  # pylint: disable=g-import-not-at-top

        running = self._running.pop(ref)
        del self._by_key[running.key]
        outcome = running.outcome
        outcome.attempts = running.attempts
        try:
            result = self._ray().get(ref)
        except exceptions.RayTaskError as e:  # Raised outside the evaluator, e.g. loading it.
            cause = getattr(e, "cause", None)
            outcome.error = cause if isinstance(cause, Exception) else remote.RemoteError(
                type(e).__name__, str(e))
        except exceptions.TaskCancelledError as e:
            outcome.error = base.WorkerLostError(f"Trial {running.job.trial_id} was cancelled: {e}")
        except exceptions.RayError as e:  # The worker or its node died.
            if running.attempts <= self.max_retries:
                running.attempts += 1
                self._launch(running)
                return
            reason = str(e).strip().splitlines()[0] if str(e).strip() else ""
            outcome.error = base.WorkerLostError(
                f"The Ray worker evaluating trial {running.job.trial_id} died "
                f"{running.attempts} time(s), max_retries={self.max_retries}; the last time: "
                f"{type(e).__name__}: {reason}")
        else:
            if result[0] == "done":
                outcome.metrics = result[1]
                outcome.stopped = bool(result[2])
            else:
                outcome.error = remote.decode_error(result[1])
        outcome.stopped = outcome.stopped or running.context.should_stop()
        self._finished.append(outcome)


class _Running:
    """A job on the cluster: its driver-side context (calls `on_report`), outcome, attempts."""

    def __init__(self, job: base.Job, on_report: base.OnReport, evaluator):
        self.job = job
        self.evaluator = evaluator
        self.context = trial_lib.TrialContext(
            job.trial_id, job.dna, training=job.training, artifact_dir=job.artifact_dir,
            on_report=lambda m: on_report(job.trial_id, m))
        self.outcome = base.Outcome(job.trial_id, measurements=self.context.measurements)
        self.attempts = 1
        self.key = None


def _ray_trial(evaluator, payload, reports, key):
    """The Ray task: evaluates one trial, relaying its reports through `reports`."""
    import ray  # pylint: disable=g-import-not-at-top

    def send_report(step, metrics):
        return ray.get(reports.report.remote(key, step, metrics))

    where = f"a Ray worker on {ray.util.get_node_ip_address()}"
    return remote.run_trial(evaluator, payload, send_report, where=where)


class _Reports:
    """A Ray actor between running trials and the search: reports in, stop answers out.

    A trial's `report` waits for the search's answer; the search's `take`
    waits until reports arrive, so it can wait on trials and reports at once.
    """

    def __init__(self):
        self._pending = []
        self._answers = {}
        self._next_token = 0
        self._arrived = None

    def _event(self) -> asyncio.Event:
        if self._arrived is None:
            self._arrived = asyncio.Event()
        return self._arrived

    async def report(self, key, step, metrics) -> bool:
        token, self._next_token = self._next_token, self._next_token + 1
        answer = asyncio.get_running_loop().create_future()
        self._answers[token] = answer
        self._pending.append((token, key, step, metrics))
        self._event().set()
        return await answer

    async def take(self):
        while not self._pending:
            self._event().clear()
            await self._event().wait()
        reports, self._pending = self._pending, []
        return reports

    async def answer(self, token, stop) -> None:
        answer = self._answers.pop(token, None)
        if answer is not None and not answer.done():
            answer.set_result(bool(stop))


def _check_resources(resources: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    if resources is None:
        return {"num_cpus": 1}
    if not isinstance(resources, dict):
        raise ValueError(f"resources_per_trial must be a dict such as {{'num_cpus': 1, "
                         f"'num_gpus': 1}}, got {resources!r}.")
    unknown = sorted(set(resources) - set(RESOURCE_OPTIONS))
    if unknown:
        raise ValueError(f"resources_per_trial has unknown keys {unknown}; expected Ray's "
                         f"names: {', '.join(RESOURCE_OPTIONS)}.")
    plain = {k: v for k, v in resources.items() if k != "resources"}
    custom = resources.get("resources") or {}
    if not isinstance(custom, dict):
        raise ValueError(f"resources_per_trial['resources'] must be a dict of custom resource "
                         f"amounts, got {custom!r}.")
    for name, value in list(plain.items()) + [(f"resources[{k!r}]", v) for k, v in custom.items()]:
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0:
            raise ValueError(f"resources_per_trial {name} must be a number >= 0, got {value!r}.")
    gpus = plain.get("num_gpus", 0)
    if gpus > 1 and gpus != int(gpus):
        raise ValueError(f"resources_per_trial num_gpus above 1 must be a whole number of "
                         f"GPUs, got {gpus!r}.")
    checked = dict(resources)
    checked.setdefault("num_cpus", 1)
    return checked


def _task_options(resources: Dict[str, Any], trials_per_worker: int) -> Dict[str, Any]:
    options = dict(resources)
    gpus = resources.get("num_gpus", 0)
    options["max_calls"] = 1 if gpus else trials_per_worker
    if 0 < gpus < 1:
        options["runtime_env"] = {"env_vars": dict(gpus_lib.SHARING_ENVIRONMENT)}
    return options


def _capacity(resources: Dict[str, Any], cluster: Dict[str, float]) -> int:
    """Trials that fit in the cluster's totals at once; ValueError when not even one."""
    wanted = {"CPU": resources.get("num_cpus", 1), "GPU": resources.get("num_gpus", 0),
              "memory": resources.get("memory", 0), **(resources.get("resources") or {})}
    wanted = {name: amount for name, amount in wanted.items() if amount}
    if not wanted:
        return max(1, int(cluster.get("CPU", 1)))
    fits = min(int(cluster.get(name, 0) / amount + 1e-9) for name, amount in wanted.items())
    if fits < 1:
        have = {name: cluster.get(name, 0) for name in wanted}
        raise ValueError(f"resources_per_trial={resources!r} asks for more than this Ray "
                         f"cluster has in all ({have}): no trial could start.")
    return fits
