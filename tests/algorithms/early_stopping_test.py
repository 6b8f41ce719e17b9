"""Median stopping, successive halving and Hyperband on synthetic trial histories."""

import pyglove as pg
import pytest

from symbolic_automl.algorithms import early_stopping

_DNA = pg.DNA(0)


def _trial(trial_id, values, status="PENDING", metric=None):
    measurements = [
        pg.tuning.Measurement(step=step, elapse_secs=float(step),
                              reward=None if metric else v,
                              metrics={metric: v} if metric else {})
        for step, v in enumerate(values, start=1)]
    return pg.tuning.Trial(id=trial_id, dna=_DNA, status=status,
                           measurements=measurements, created_time=0)


def _feed(policy, trial_id, values):
    """Reports `values` one step at a time; returns the first step it was stopped at."""
    for n in range(1, len(values) + 1):
        if policy.should_stop_early(_trial(trial_id, values[:n])):
            return n
    return None


def test_median_stops_below_median_after_grace_period():
    policy = early_stopping.MedianStopping(grace_steps=2, min_trials=3)
    for i, level in enumerate([0.5, 0.6, 0.7]):
        assert _feed(policy, i, [level] * 5) is None
    # Below the median (0.6) from the start, but never stopped during the grace period.
    assert _feed(policy, 10, [0.1, 0.2, 0.3, 0.9, 0.9]) == 2
    assert _feed(policy, 11, [0.65] * 5) is None


def test_median_needs_min_trials_and_reads_named_metric():
    policy = early_stopping.MedianStopping(metric="loss", maximize=False, grace_steps=1,
                                           min_trials=2)
    policy.should_stop_early(_trial(0, [0.2, 0.1], metric="loss"))
    # One other trial only: no decision yet.
    assert not policy.should_stop_early(_trial(1, [5.0, 5.0], metric="loss"))
    policy.should_stop_early(_trial(2, [0.3, 0.2], metric="loss"))
    assert policy.should_stop_early(_trial(3, [5.0, 5.0], metric="loss"))  # loss too high


def test_successive_halving_keeps_top_third_per_rung():
    policy = early_stopping.SuccessiveHalving(min_resource=1, eta=3, max_resource=9)
    assert policy.rung_steps(100) == [1, 3]
    stopped = {}
    # Increasing quality: each new trial beats all earlier ones, so it always goes on;
    # then decreasing: from the third worse trial on, the rung-1 cut removes them.
    for i, level in enumerate([0.1, 0.2, 0.3, 0.25, 0.15, 0.05]):
        stopped[i] = _feed(policy, i, [level] * 9)
    assert [stopped[i] for i in range(3)] == [None, None, None]
    assert stopped[5] == 1 and stopped[4] == 1
    # Decisions are remembered: asking again at a later step gives the same answer.
    assert policy.should_stop_early(_trial(5, [0.05] * 4))


def test_successive_halving_recover_equals_live_state():
    values = {i: [0.1 * ((i * 7) % 5)] * 4 for i in range(8)}
    live = early_stopping.SuccessiveHalving(min_resource=1, eta=2, max_resource=8)
    for i, v in values.items():
        _feed(live, i, v)
    resumed = early_stopping.SuccessiveHalving(min_resource=1, eta=2, max_resource=8)
    resumed.recover([_trial(i, v, status="COMPLETED") for i, v in values.items()])
    probe = _trial(100, [0.15] * 4)
    assert resumed.should_stop_early(probe) == live.should_stop_early(probe)
    assert resumed._rungs == live._rungs


def test_hyperband_deals_trials_to_brackets_with_their_own_rungs():
    policy = early_stopping.Hyperband(min_resource=1, max_resource=9, eta=3)
    brackets = [policy.bracket_of(i) for i in range(17)]
    assert brackets.count(0) == 9 and brackets.count(1) == 5 and brackets.count(2) == 3
    # Bracket 2 has no rung below max_resource: its trials always run to the end.
    last = brackets.index(2)
    assert _feed(policy, last, [0.0] * 9) is None
    # In bracket 0 (rungs at 1 and 3), a trial worse than earlier ones is cut at step 1.
    for i in range(3):
        _feed(policy, i, [0.9] * 9)
    assert _feed(policy, 3, [0.1] * 9) == 1


def test_policies_compose_like_pyglove_ones():
    # `|` and `&` short-circuit, so a later policy only learns from the calls it gets.
    policy = (early_stopping.MedianStopping(grace_steps=0, min_trials=1)
              | early_stopping.SuccessiveHalving(min_resource=1, eta=2))
    _feed(policy, 0, [0.9, 0.9])
    assert policy.should_stop_early(_trial(1, [0.1]))
    assert not policy.should_stop_early(_trial(2, [0.95]))
    with pytest.raises(Exception):
        early_stopping.SuccessiveHalving(eta=1)
