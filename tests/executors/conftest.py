"""Executor test fixtures: the evaluators' module on the workers' path, and one Ray per session.

Ray takes ~10 s to start on 2 cores, so every test module that needs it shares
one local Ray (`ray.init(num_cpus=2)`), started on first use and shut down at
the end of the session. Under pytest-xdist every test that uses Ray is in one
group, so one worker process starts it, not each.
"""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)  # Spawned workers inherit sys.path.


def _uses_ray(item) -> bool:
    callspec = getattr(item, "callspec", None)
    return ("ray_session" in getattr(item, "fixturenames", ())
            or (callspec is not None
                and any(v == "ray" for v in callspec.params.values() if isinstance(v, str))))


def pytest_collection_modifyitems(items):
    for item in items:
        if _uses_ray(item):
            item.add_marker(pytest.mark.xdist_group("ray"))


@pytest.fixture(scope="session")
def ray_session():
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        # Ray workers get the evaluators' module from PYTHONPATH.
        path = os.pathsep.join(p for p in (HERE, os.environ.get("PYTHONPATH")) if p)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR", runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield ray
    ray.shutdown()
