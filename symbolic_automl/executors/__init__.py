"""Executors: where trials' evaluations run (see `base.Executor` for the contract).

`InProcess` (the default) runs them here, one at a time; `WorkerProcess` in one
recycled child process; `LocalPool` in N worker processes at once, each seeing
only its GPUs; `Ray` as tasks on a Ray cluster (`pip install symbolic_automl[ray]`).
"""

from symbolic_automl.executors.base import Executor, Job, OnReport, Outcome, WorkerLostError
from symbolic_automl.executors.in_process import InProcess
from symbolic_automl.executors.local_pool import LocalPool
from symbolic_automl.executors.ray_executor import Ray
from symbolic_automl.executors.remote import RemoteError
from symbolic_automl.executors.worker_process import WorkerProcess, WorkerProcessError
