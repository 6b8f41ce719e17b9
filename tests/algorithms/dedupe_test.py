"""`sa.no_duplicates` and `sa.UniformChange`: no repeated trials, rewards of repeats, recover."""

import pyglove as pg
import pytest

import symbolic_automl
from symbolic_automl import algorithms as sa
from symbolic_automl.algorithms import conformance
from symbolic_automl.algorithms import dedupe


def _space():
    return pg.Dict(x=pg.oneof(list(range(4))), y=pg.oneof(list(range(3))))


SPEC = pg.dna_spec(_space())


def _dna(x, y):
    return pg.DNA([x, y]).use_spec(SPEC)


@pg.members([
    ("script", pg.typing.List(pg.typing.Tuple([pg.typing.Int(), pg.typing.Int()]))),
])
class _Scripted(pg.DNAGenerator):
    """Proposes a fixed list of (x, y) in order and records what it is told."""

    def _setup(self):
        self.told = []
        self.recovered = []
        self._next = 0

    def recover(self, history):
        for dna, reward in history:
            self.recovered.append((tuple(dna.to_numbers()), reward))
            self._num_proposals += 1

    def _propose(self):
        if self._next >= len(self.script):
            raise StopIteration("script done")
        dna = _dna(*self.script[self._next])
        self._next += 1
        return dna

    def _feedback(self, dna, reward):
        self.told.append((tuple(dna.to_numbers()), reward))

    def feedback_infeasible(self, dna):
        self.told.append((tuple(dna.to_numbers()), "infeasible"))


def _wrapped(script, max_retries=5):
    algo = sa.no_duplicates(_Scripted(script), max_retries=max_retries, seed=0)
    algo.setup(SPEC)
    return algo


def _numbers(dna):
    return tuple(dna.to_numbers())


def test_a_repeat_gets_its_recorded_reward_and_is_not_proposed():
    algo = _wrapped([(0, 0), (0, 0), (1, 2)])
    first = algo.propose()
    algo.feedback(first, 0.5)
    second = algo.propose()
    assert _numbers(second) == (1, 2)
    # The inner algorithm heard the reward of (0, 0) twice: once evaluated, once repeated.
    assert algo.inner.told == [((0, 0), 0.5), ((0, 0), 0.5)]
    assert algo.num_duplicates == 1 and algo.num_fallbacks == 0
    assert algo.num_proposals == 2 and algo.num_feedbacks == 1


def test_a_pending_repeat_is_skipped_silently_and_an_infeasible_one_is_told_so():
    algo = _wrapped([(0, 0), (0, 0), (1, 1), (1, 1), (2, 2)])
    assert _numbers(algo.propose()) == (0, 0)            # no feedback yet: pending
    assert _numbers(algo.propose()) == (1, 1)
    assert algo.inner.told == []
    algo.feedback_infeasible(_dna(1, 1))                   # the loop's own DNA object
    assert _numbers(algo.propose()) == (2, 2)
    assert algo.inner.told == [((1, 1), "infeasible"), ((1, 1), "infeasible")]


def test_after_max_retries_repeats_a_random_unseen_dna_is_proposed_and_kept_from_inner():
    algo = _wrapped([(0, 0)] * 20, max_retries=3)
    first = algo.propose()
    algo.feedback(first, 1.0)
    replacement = algo.propose()
    assert _numbers(replacement) != (0, 0)
    assert replacement.metadata[dedupe.FALLBACK_METADATA] is True
    assert algo.num_duplicates == 3 and algo.num_fallbacks == 1
    algo.feedback(replacement, 2.0)
    # The inner algorithm never proposed the replacement, so it does not hear of it.
    assert algo.inner.told == [((0, 0), 1.0)] * 4
    algo.feedback_infeasible(replacement)
    assert len(algo.inner.told) == 4


def test_a_stuck_algorithm_gets_fewer_tries_until_it_proposes_something_new():
    algo = _wrapped([(0, 0)] * 9 + [(1, 1), (0, 0), (0, 0), (0, 0), (2, 2)], max_retries=4)
    algo.feedback(algo.propose(), 1.0)
    tries = []
    for _ in range(6):
        before = algo.num_duplicates
        dna = algo.propose()
        tries.append((algo.num_duplicates - before, algo.num_fallbacks))
        if _numbers(dna) == (1, 1):
            algo.feedback(dna, 2.0)
    # 4 tries, then 2, 1, 1 (a replacement each time); then one try finds the new
    # (1, 1), after which there are 4 tries again (3 repeats, then (2, 2) unless
    # a random replacement took it already).
    assert tries[:5] == [(4, 1), (2, 2), (1, 3), (1, 4), (0, 4)]
    assert tries[5][0] >= 3


def test_never_a_duplicate_and_stops_when_the_space_is_used_up():
    algo = sa.pyglove_algorithms.regularized_evolution(population_size=4, tournament_size=2, seed=3)
    proposals, _ = conformance.simulate(algo, SPEC, 100)
    keys = [_numbers(d) for d in proposals]
    assert len(keys) == len(set(keys)) == SPEC.space_size == 12
    assert algo.num_duplicates > 0  # PyGlove's evolution did repeat itself here
    with pytest.raises(StopIteration, match="All 12 DNAs"):
        algo.propose()


def test_inner_stop_iteration_ends_the_search():
    algo = _wrapped([(0, 0), (1, 1)])
    algo.propose(), algo.propose()
    with pytest.raises(StopIteration):
        algo.propose()


def test_recover_replays_a_seeded_run_exactly():
    def make():
        return sa.pyglove_algorithms.regularized_evolution(population_size=5, tournament_size=2, seed=11)
    spec = pg.dna_spec(conformance.SPACES["categorical"]())
    uninterrupted, _ = conformance.simulate(make(), spec, 60)
    stored = []
    first, rewards = conformance.simulate(make(), spec, 30, stored=stored)
    resumed = make()
    resumed.setup(spec)
    resumed.recover([(pg.from_json_str(s), r) for s, r in zip(stored, rewards)])
    assert resumed.num_proposals == 30 and resumed.num_feedbacks == 30
    rest, _ = conformance.simulate(resumed, spec, 30, setup=False)
    assert [_numbers(d) for d in first + rest] == [_numbers(d) for d in uninterrupted]


def test_recover_without_replay_rebuilds_seen_dnas_and_rewards():
    history = [(_dna(0, 0), 1.0), (_dna(1, 1), None), (_dna(2, 2), 3.0)]
    algo = _wrapped([(3, 0), (0, 0), (2, 2), (1, 1), (3, 2)])
    algo.recover(history)
    # The re-proposal (3, 0) differed from the history (as an unseeded algorithm's
    # would): the wrapper started over and passed the history to the inner recover.
    assert algo.inner.recovered == [((0, 0), 1.0), ((1, 1), None), ((2, 2), 3.0)]
    assert algo.num_proposals == 3 and algo.num_feedbacks == 2
    # (0, 0) and (2, 2) are repeats told their recorded rewards, (1, 1) is
    # pending, (3, 0) and (3, 2) are new.
    assert _numbers(algo.propose()) == (3, 0)
    assert _numbers(algo.propose()) == (3, 2)
    assert algo.inner.told == [((0, 0), 1.0), ((2, 2), 3.0)]
    assert algo.num_duplicates == 3


def test_recover_without_replay_keeps_random_replacements_from_the_inner_algorithm():
    replacement = _dna(3, 1).set_metadata(dedupe.FALLBACK_METADATA, True)
    algo = _wrapped([(0, 0), (3, 1), (2, 0)])
    algo.recover([(_dna(1, 0), 1.0), (replacement, 2.0)])
    assert algo.inner.recovered == [((1, 0), 1.0)]
    assert algo.num_proposals == 2
    assert _numbers(algo.propose()) == (0, 0)
    assert _numbers(algo.propose()) == (2, 0)  # (3, 1) was seen: a repeat
    assert algo.inner.told == [((3, 1), 2.0)]


def test_search_resumes_where_it_stopped(tmp_path):
    def evaluate(model, context):
        return {"reward": float(model.x * 3 + model.y)}

    def run(root, trials):
        return symbolic_automl.search(
            _space(), sa.pyglove_algorithms.regularized_evolution(population_size=3, tournament_size=2, seed=4),
            evaluate, max_trials=trials, root_dir=str(root), progress=False)

    uninterrupted = run(tmp_path / "a", 10)
    run(tmp_path / "b", 6)
    resumed = run(tmp_path / "b", 10)
    assert [_numbers(t.dna) for t in resumed.trials] == [
        _numbers(t.dna) for t in uninterrupted.trials]
    assert len({_numbers(t.dna) for t in resumed.trials}) == 10


def test_multi_objective_passes_through():
    algo = sa.nsga2(population_size=3, seed=1)
    assert algo.multi_objective
    algo.setup(SPEC)
    for _ in range(10):
        dna = algo.propose()
        algo.feedback(dna, (float(dna.to_numbers()[0]), -float(dna.to_numbers()[1])))
    assert all(isinstance(pg.evolution.get_fitness(d), tuple) for d in algo.inner.population)
    assert not sa.pyglove_algorithms.regularized_evolution(seed=1).multi_objective


def test_setting_up_twice_proposes_the_same():
    algo = sa.pyglove_algorithms.regularized_evolution(population_size=3, tournament_size=2, seed=5)
    first, _ = conformance.simulate(algo, SPEC, 8)
    second, _ = conformance.simulate(algo, SPEC, 8)
    assert [_numbers(d) for d in first] == [_numbers(d) for d in second]


def test_dedupe_false_returns_pyglove_objects():
    assert isinstance(sa.pyglove_algorithms.regularized_evolution(seed=1, dedupe=False), pg.evolution.Evolution)
    assert isinstance(sa.hill_climb(seed=1, dedupe=False), pg.evolution.Evolution)
    algo = sa.pyglove_algorithms.regularized_evolution(seed=1)
    assert isinstance(algo, sa.NoDuplicates)
    assert isinstance(algo.algorithm, pg.evolution.Evolution)
    assert pg.query(algo.algorithm, where=lambda v: isinstance(v, sa.UniformChange))


@pytest.mark.parametrize("bad,match", [
    ("random", "got str 'random'"),
    (sa.random, r"got function .*call it"),
    (None, "got NoneType None"),
])
def test_wrapping_a_non_generator_is_refused(bad, match):
    with pytest.raises(TypeError, match=match):
        sa.no_duplicates(bad)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_max_retries_below_one_is_refused(bad):
    with pytest.raises(ValueError, match=f"max_retries must be an int >= 1.*got {bad!r}"):
        sa.no_duplicates(sa.random(seed=1), max_retries=bad)


def test_uniform_change_always_changes_the_dna():
    spec = pg.dna_spec(pg.Dict(a=pg.oneof([1, 2]), b=pg.oneof([1, 2])))
    parent = pg.DNA([0, 1]).use_spec(spec)
    changing = sa.UniformChange(seed=1)
    assert all(_numbers(changing.mutate(parent)) != (0, 1) for _ in range(200))
    plain = pg.evolution.mutators.Uniform(seed=1)
    assert any(_numbers(plain.mutate(parent)) == (0, 1) for _ in range(200))
    # A DNA that cannot change comes back as the last draw instead of looping.
    single = pg.dna_spec(pg.Dict(a=pg.oneof([1]), b=pg.oneof([1, 2])))
    assert _numbers(sa.UniformChange(seed=1, max_tries=3).mutate(
        pg.DNA([0, 0]).use_spec(single))) in {(0, 0), (0, 1)}
