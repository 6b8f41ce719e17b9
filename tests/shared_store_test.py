"""Several workers on one `TrialStore`: leases, claims, the finish feed, the budget."""

import gc
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pyglove as pg
import pytest

import symbolic_automl as sa
from symbolic_automl import leases
from symbolic_automl import trial as trial_lib


def _trial(dna=0):
    return sa.Trial(id=0, dna=pg.DNA(dna), status=trial_lib.RUNNING, created=1.0,
                    started=1.0)


def _finish(store, trial, reward=1.0):
    trial.status, trial.reward, trial.finished = "completed", reward, time.time()
    store.finish(trial)


def _set(path, sql, params=()):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(sql, params)
    db.close()


def _run_in_threads(work, stores):
    """`work(store)` for each store in a thread of its own, all at once."""
    threads = [threading.Thread(target=work, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "trials.sqlite")


def test_a_live_lease_outlasts_its_length_and_is_never_taken(path):
    owner = sa.TrialStore(path, lease_seconds=1.0)
    trial = _trial()
    owner.add(trial)
    other = sa.TrialStore(path, lease_seconds=1.0)
    time.sleep(2.2)  # Over two lease lengths: only the heartbeat keeps it.
    assert other.claim_expired() == []
    with pytest.raises(sa.StoreError, match="trial 1 is running in worker .*refusing to take"):
        other.restart(trial)
    (worker, until), = other.owners().values()
    assert worker == owner.worker and until > time.time()
    owner.add_measurement(trial.id, sa.Measurement(1, {"loss": 0.5}, 0.1))
    _finish(owner, trial, reward=0.5)
    (stored,) = other.trials()
    assert stored.status == "completed" and stored.attempts == 1
    assert other.owners() == {}


def test_an_expired_lease_is_claimed_once_and_its_old_owner_loses_it(path):
    owner = sa.TrialStore(path)
    trial = _trial()
    owner.add(trial)
    owner.add_measurement(trial.id, sa.Measurement(1, {"loss": 0.5}, 0.1))
    claimer = sa.TrialStore(path)
    assert claimer.claim_expired() == []
    # As if the owner had stopped beating: suspended, or cut off from the file.
    _set(path, "UPDATE trials SET lease_until=?", (time.time() - 1,))
    (claimed,) = claimer.claim_expired()
    assert (claimed.id, claimed.attempts, claimed.measurements) == (1, 2, [])
    assert claimer.claim_expired() == [] and owner.claim_expired() == []
    # The old owner's heartbeat no longer renews it, and its writes are refused.
    assert owner.renew_leases() == 0
    with pytest.raises(sa.LeaseLostError, match="trial 1 was claimed by worker"):
        owner.add_measurement(trial.id, sa.Measurement(2, {"loss": 0.4}, 0.2))
    with pytest.raises(sa.LeaseLostError, match="its outcome .completed. is dropped"):
        _finish(owner, trial, reward=0.1)
    _finish(claimer, claimed, reward=0.9)
    (stored,) = owner.trials()
    assert (stored.status, stored.reward, stored.attempts) == ("completed", 0.9, 2)


def test_two_workers_claiming_at_once_never_get_the_same_trial(path):
    dead = sa.TrialStore(path)
    for i in range(6):
        dead.add(_trial(i))
    dead.close(release=False)
    _set(path, "UPDATE trials SET lease_until=0")
    workers = [sa.TrialStore(path) for _ in range(3)]
    got = {}
    barrier = threading.Barrier(len(workers))

    def claim(store):
        barrier.wait()
        got[store.worker] = [t.id for t in store.claim_expired(limit=2)]

    _run_in_threads(claim, workers)
    claimed = sorted(i for ids in got.values() for i in ids)
    assert claimed == [1, 2, 3, 4, 5, 6] and all(len(ids) == 2 for ids in got.values())
    owners = workers[0].owners()
    assert all(owners[i][0] == w for w, ids in got.items() for i in ids)


def test_a_closed_worker_hands_its_running_trials_back(path):
    owner = sa.TrialStore(path)
    owner.add(_trial())
    other = sa.TrialStore(path)
    assert other.claim_expired() == []
    owner.close()  # E.g. the search was interrupted: re-run at once, not after the lease.
    assert [t.id for t in other.claim_expired()] == [1]


def _dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_trial_of_a_dead_process_of_this_machine_is_claimable_before_its_lease_ends(path):
    store = sa.TrialStore(path)
    dead, remote = _trial(0), _trial(1)
    store.add(dead)
    store.add(remote)
    node = store.worker.rsplit(":", 2)[0]
    far = time.time() + 3600
    _set(path, "UPDATE trials SET owner=?, lease_until=? WHERE id=1",
         (f"{node}:{_dead_pid()}:0badc0de", far))
    # A live-looking process elsewhere keeps its lease: its pid means nothing here.
    _set(path, "UPDATE trials SET owner=?, lease_until=? WHERE id=2",
         (f"elsewhere#12345678:{os.getpid()}:0badc0de", far))
    assert [t.id for t in sa.TrialStore(path).claim_expired()] == [1]


def test_a_zombie_counts_as_gone_and_a_live_process_does_not():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    node = leases.worker_id().rsplit(":", 2)[0]
    deadline = time.time() + 10
    while time.time() < deadline:  # Exited, but not reaped: a zombie.
        with open(f"/proc/{process.pid}/stat") as f:
            if f.read().rpartition(")")[2].split()[0] == "Z":
                break
        time.sleep(0.01)
    assert leases.is_gone(f"{node}:{process.pid}:token")
    process.wait()
    assert leases.is_gone(f"{node}:{process.pid}:token")
    assert not leases.is_gone(f"{node}:{os.getppid()}:token")
    assert not leases.is_gone(f"{node}:{os.getpid()}:token")
    assert not leases.is_gone("not a worker id") and not leases.is_gone(None)


def test_finished_since_feeds_each_trial_other_workers_finished_once_in_order(path):
    me, other = sa.TrialStore(path), sa.TrialStore(path)
    mine = _trial(0)
    me.add(mine)
    theirs = [_trial(i) for i in (1, 2, 3)]
    for t in theirs:
        other.add(t)
    _finish(other, theirs[1], reward=0.2)
    _finish(me, mine, reward=0.0)
    _finish(other, theirs[0], reward=0.1)
    trials, cursor = me.finished_since(0)
    assert [(t.id, t.reward) for t in trials] == [(3, 0.2), (2, 0.1)]  # In finish order.
    assert me.finished_since(cursor) == ([], cursor)
    _finish(other, theirs[2], reward=0.3)
    trials, cursor = me.finished_since(cursor)
    assert [t.id for t in trials] == [4]
    everything, snapshot_cursor = me.snapshot()
    assert len(everything) == 4 and snapshot_cursor == cursor


def test_the_budget_is_exact_when_workers_add_at_once(path):
    workers = [sa.TrialStore(path) for _ in range(4)]
    added = {w.worker: [] for w in workers}

    def run(store):
        while True:
            trial = _trial()
            if store.add(trial, budget=20) is None:
                return
            added[store.worker].append(trial.id)
            _finish(store, trial)

    _run_in_threads(run, workers)
    ids = sorted(i for got in added.values() for i in got)
    assert ids == list(range(1, 21))
    assert workers[0].counts()["completed"] == 20


def test_lease_length_comes_from_the_environment_and_is_checked(path, monkeypatch):
    monkeypatch.setenv(leases.LEASE_SECONDS_ENV, "2.5")
    assert sa.TrialStore(path).lease_seconds == 2.5
    assert sa.TrialStore(path, lease_seconds=7).lease_seconds == 7.0
    monkeypatch.setenv(leases.LEASE_SECONDS_ENV, "soon")
    with pytest.raises(ValueError, match=r"\$SYMBOLIC_AUTOML_LEASE_SECONDS must be a positive "
                                         r"number of seconds, got 'soon'"):
        sa.TrialStore(path)
    with pytest.raises(ValueError, match="lease_seconds must be .* got 0"):
        sa.TrialStore(path, lease_seconds=0)


def test_a_store_dropped_without_close_stops_its_heartbeat(path):
    def beating():
        return [t for t in threading.enumerate() if t.name == "symbolic_automl-heartbeat"]

    before = len(beating())
    store = sa.TrialStore(path, lease_seconds=0.2)
    store.add(_trial())
    assert len(beating()) == before + 1
    del store
    gc.collect()
    deadline = time.time() + 5
    while len(beating()) > before and time.time() < deadline:
        time.sleep(0.01)
    assert len(beating()) == before


# Two processes running `sa.search` on one root_dir. Each evaluation appends
# "trial_id pid" to a log; a worker with $HANG_AT hangs in its HANG_AT-th
# evaluation (after writing `hanging`), to be killed there.
SEARCH = textwrap.dedent("""
    import os, sys, time
    import pyglove as pg
    import symbolic_automl as sa

    root_dir, budget, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    parallelism = int(os.environ.get("PARALLELISM", "1"))
    hang_at = int(os.environ.get("HANG_AT", "0"))
    evaluations = []

    seen = set()  # Trials the early-stopping policy heard of.

    class Watching(pg.tuning.EarlyStoppingPolicy):
        def should_stop_early(self, trial):
            seen.add(trial.id)
            return False

    def evaluate(model, context):
        evaluations.append(context.trial_id)
        context.report(1, {"reward": 0.0})
        with open(os.path.join(root_dir, "evaluations.log"), "a") as log:
            log.write(f"{context.trial_id} {os.getpid()}\\n")
        if len(evaluations) == hang_at:
            open(os.path.join(root_dir, "hanging"), "w").close()
            time.sleep(float(os.environ.get("HANG_SECONDS", "600")))
        time.sleep(0.02)
        return {"reward": model.a * 10 + model.b}

    open(os.path.join(root_dir, f"ready-{name}"), "w").close()
    while not os.path.exists(os.path.join(root_dir, "go")):
        time.sleep(0.01)
    algorithm = pg.evolution.regularized_evolution(population_size=6, tournament_size=3,
                                                   seed=len(name))
    result = sa.search(pg.Dict(a=pg.oneof(list(range(10))), b=pg.floatv(0.0, 1.0)),
                       algorithm=algorithm, evaluator=evaluate, max_trials=budget,
                       root_dir=root_dir, progress=False, parallelism=parallelism,
                       early_stopping=Watching())
    # Every trial of every worker reached this worker's algorithm and policy.
    print("feedbacks", algorithm.num_feedbacks, "trials", len(result.trials),
          "stopping policy saw", len(seen))
""")


def _start_workers(tmp_path, budget, hang=None, hang_seconds=600, parallelism=1,
                   lease_seconds=60):
    root_dir = tmp_path / "run"
    root_dir.mkdir()
    script = tmp_path / "search.py"
    script.write_text(SEARCH)
    # A dead worker's trials are claimed at once (its pid is gone), whatever the
    # lease; only a live but silent one waits for the lease to run out.
    env = dict(os.environ, **{leases.LEASE_SECONDS_ENV: str(lease_seconds)})
    workers = {}
    for name in ("first", "second"):
        worker_env = (dict(env, HANG_AT=str(hang), HANG_SECONDS=str(hang_seconds),
                           PARALLELISM=str(parallelism))
                      if hang and name == "first" else env)
        workers[name] = subprocess.Popen(
            [sys.executable, str(script), str(root_dir), str(budget), name], env=worker_env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not all((root_dir / f"ready-{name}").exists() for name in workers):
        assert time.time() < deadline, "the workers did not start"
        time.sleep(0.01)
    (root_dir / "go").touch()  # Both begin searching at the same moment.
    return root_dir, workers


def _evaluations(root_dir):
    counts = {}
    pairs = (root_dir / "evaluations.log").read_text().splitlines()
    for pair in pairs:
        trial_id, pid = map(int, pair.split())
        counts.setdefault(trial_id, []).append(pid)
    return counts


def _check_budget_exact(root_dir, budget):
    trials = sa.TrialStore(str(root_dir / "trials.sqlite")).trials()
    assert [t.id for t in trials] == list(range(1, budget + 1))  # None lost, none extra.
    assert [t.status for t in trials] == ["completed"] * budget
    assert all(t.reward == t.model.a * 10 + t.model.b for t in trials)  # None overwritten.
    return trials


@pytest.mark.slow
def test_two_processes_share_one_store_and_finish_the_budget_exactly(tmp_path):
    budget = 30
    root_dir, workers = _start_workers(tmp_path, budget)
    outputs = {}
    for name, process in workers.items():
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-3000:]
        outputs[name] = out
    trials = _check_budget_exact(root_dir, budget)
    assert all(t.attempts == 1 for t in trials)
    evaluations = _evaluations(root_dir)
    assert sorted(evaluations) == list(range(1, budget + 1))
    assert all(len(pids) == 1 for pids in evaluations.values())  # Each trial run once.
    by_worker = {p.pid: sum(pids == [p.pid] for pids in evaluations.values())
                 for p in workers.values()}
    assert all(n > 0 for n in by_worker.values()), by_worker  # Both did share the work.
    for out in outputs.values():
        assert f"feedbacks {budget} trials {budget} stopping policy saw {budget}" in out


@pytest.mark.slow
def test_a_sigkilled_workers_trials_run_again_once_in_the_other(tmp_path):
    budget = 20
    # The victim keeps 2 trials in flight (one evaluating, one queued).
    root_dir, workers = _start_workers(tmp_path, budget, hang=4, parallelism=2)
    victim, survivor = workers["first"], workers["second"]
    deadline = time.time() + 120
    while not (root_dir / "hanging").exists():
        assert time.time() < deadline and victim.poll() is None, "the victim never hung"
        time.sleep(0.01)
    store = sa.TrialStore(str(root_dir / "trials.sqlite"))
    leased = sorted(i for i, (owner, _) in store.owners().items()
                    if f":{victim.pid}:" in owner)
    assert len(leased) == 2
    victim.kill()  # SIGKILL, mid-evaluation: no cleanup, its leases just stop.
    victim.communicate()
    out, err = survivor.communicate(timeout=300)
    assert survivor.returncode == 0, err[-3000:]
    trials = _check_budget_exact(root_dir, budget)
    evaluations = _evaluations(root_dir)
    (killed,) = [i for i, pids in evaluations.items() if len(pids) > 1]
    assert evaluations[killed] == [victim.pid, survivor.pid]  # Re-run once, by the survivor.
    (queued,) = set(leased) - {killed}
    assert evaluations[queued] == [survivor.pid]  # Never started in the victim.
    assert all(len(pids) == 1 for i, pids in evaluations.items() if i != killed)
    assert [t.id for t in trials if t.attempts != 1] == leased  # Each claimed once.
    assert f"feedbacks {budget} trials {budget}" in out


@pytest.mark.slow
def test_a_suspended_worker_loses_its_lease_and_drops_its_result(tmp_path):
    budget = 16
    # A lease of 3 s: short, yet long enough for a live worker's heartbeat (every
    # 0.75 s) on a loaded machine.
    root_dir, workers = _start_workers(tmp_path, budget, hang=3, hang_seconds=0.5,
                                       lease_seconds=3)
    victim, survivor = workers["first"], workers["second"]
    deadline = time.time() + 120
    while not (root_dir / "hanging").exists():
        assert time.time() < deadline and victim.poll() is None, "the victim never hung"
        time.sleep(0.01)
    victim.send_signal(signal.SIGSTOP)  # Alive, but silent: its lease runs out.
    [taken] = [int(line.split()[0]) for line in
               (root_dir / "evaluations.log").read_text().splitlines()
               if int(line.split()[1]) == victim.pid][-1:]
    store = sa.TrialStore(str(root_dir / "trials.sqlite"))
    while len(_evaluations(root_dir)[taken]) < 2:  # The survivor runs it again.
        assert time.time() < deadline, "the survivor never took the trial over"
        time.sleep(0.01)
    victim.send_signal(signal.SIGCONT)  # It finishes its run, and finds the trial gone.
    errs = {}
    for process in (victim, survivor):
        out, errs[process.pid] = process.communicate(timeout=300)
        assert process.returncode == 0, errs[process.pid][-3000:]
        assert f"feedbacks {budget} trials {budget}" in out
    assert f"trial {taken} was claimed by worker" in errs[victim.pid]  # Dropped, and said so.
    trials = _check_budget_exact(root_dir, budget)
    evaluations = _evaluations(root_dir)
    assert evaluations[taken] == [victim.pid, survivor.pid]
    assert all(len(pids) == 1 for i, pids in evaluations.items() if i != taken)
    assert trials[taken - 1].attempts == 2
    assert store.owners() == {}


@pytest.mark.parametrize("seed", range(5))
def test_our_evolution_does_not_propose_what_another_worker_evaluated(seed):
    from symbolic_automl import algorithms  # pylint: disable=g-import-not-at-top

    space = sa.Space(pg.Dict(a=pg.oneof(list(range(8)))))
    algorithm = algorithms.regularized_evolution(population_size=4, tournament_size=2,
                                                 seed=seed)
    algorithm.setup(space.dna_spec)
    others = [space.genome.assignment(pg.DNA(i).use_spec(space.dna_spec)) for i in range(7)]
    for i, assignment in enumerate(others):  # What the other worker finished, fed back.
        if i % 3:
            algorithm.feedback(assignment, float(i))
        else:
            algorithm.feedback_infeasible(assignment)
    evaluated = {space.genome.key(a) for a in others}
    # The only candidate no worker evaluated (a random pick would be one of 7/8).
    assert space.genome.key(algorithm.propose_assignment()) not in evaluated
