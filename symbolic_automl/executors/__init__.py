"""Executors: where trials' evaluations run (see `base.Executor` for the contract)."""

from symbolic_automl.executors.base import Executor, Job, OnReport, Outcome, WorkerLostError
from symbolic_automl.executors.in_process import InProcess
from symbolic_automl.executors.worker_process import WorkerProcess, WorkerProcessError
