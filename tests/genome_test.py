"""Genome: assignments <-> DNA on every conformance space; Algorithm base behaviour."""

import random

import pyglove as pg
import pytest

from symbolic_automl import algorithms as sa
from symbolic_automl.algorithms import conformance
from symbolic_automl.errors import DNAMismatchError, SearchSpaceError


@pytest.mark.parametrize("space_name", list(conformance.SPACES))
def test_roundtrip_with_pyglove_dna(space_name):
    space = conformance.SPACES[space_name]()
    spec = pg.dna_spec(space)
    genome = sa.Genome(spec)
    rng = random.Random(0)
    for _ in range(30):
        assignment = genome.sample(rng)
        dna = genome.to_dna(assignment)
        spec.validate(dna)
        assert dna == pg.DNA(dna.to_numbers(flatten=False))  # same as a normally built DNA
        assert genome.assignment(dna) == assignment
        theirs = pg.random_dna(spec, rng)
        assert genome.to_dna(genome.assignment(theirs)) == theirs


def test_repair_keeps_values_and_fills_activated_branch():
    space = pg.Dict(a=pg.oneof([pg.Dict(b=pg.oneof([1, 2, 3])), 0]), c=pg.floatv(0.0, 1.0))
    genome = sa.Genome(pg.dna_spec(space))
    repaired = genome.sample(random.Random(0), base={"a": 0, "c": 0.25, "stale": 1})
    assert repaired["a"] == 0 and repaired["c"] == 0.25 and "a[=0/2].b" in repaired
    assert "stale" not in repaired


def test_foreign_dna_and_custom_decisions_are_clear_errors():
    genome = sa.Genome(pg.dna_spec(pg.Dict(a=pg.oneof([1, 2]))))
    with pytest.raises(DNAMismatchError, match="does not fit"):
        genome.assignment(pg.DNA([0, 1, 2]))
    with pytest.raises(SearchSpaceError, match="oneof/manyof/floatv"):
        sa.Genome(pg.dna_spec(pg.Dict(p=pg.evolve(
            [1], lambda k, v, p: v, weights=lambda *a: [1.0]))))


def test_avoiding_duplicates_stops_when_space_is_used_up():
    algorithm = sa.TPE(seed=0, n_startup_trials=2)
    algorithm.setup(pg.dna_spec(pg.Dict(a=pg.oneof([1, 2, 3]))))
    seen = set()
    for _ in range(3):
        dna = algorithm.propose()
        seen.add(tuple(dna.to_numbers()))
        algorithm.feedback(dna, 1.0)
    assert len(seen) == 3
    with pytest.raises(StopIteration, match="used up"):
        algorithm.propose()


def test_feedback_infeasible_is_counted_and_other_generators_need_none():
    algorithm = sa.evolution_with_rejection(population_size=2, tournament_size=2, seed=0)
    algorithm.setup(pg.dna_spec(pg.Dict(a=pg.oneof(list(range(5))))))
    algorithm.feedback_infeasible(algorithm.propose())
    assert algorithm.num_infeasible == 1 and algorithm.population == []
    with pytest.raises(ValueError, match="tournament_size \\(3\\) must be at most"):
        sa.evolution_with_rejection(population_size=2, tournament_size=3).setup(
            pg.dna_spec(pg.Dict(a=pg.oneof([1, 2]))))


@pytest.mark.parametrize("space, flat", [
    (pg.Dict(a=pg.oneof([1, pg.Dict(x=pg.oneof([3, 4]), y=pg.floatv(0.0, 1.0))]),
             b=pg.manyof(2, [1, 2, pg.Dict(z=pg.floatv(0.0, 2.0))], distinct=False),
             c=pg.floatv(1e-3, 1.0, scale="log"), d=pg.oneof([5]), e=7), False),
    # Flat spaces take a shortcut that must write the same text.
    (pg.Dict(a=pg.oneof([1, 2, 3]), c=pg.floatv(1e-3, 1.0, scale="log"), d=pg.oneof([5]),
             e=7, f=pg.List([pg.oneof(["x", "y"]), pg.floatv(-1.0, 1.0)])), True),
    (pg.Dict(a=pg.oneof([1, 2, 3])), True),
    (pg.Dict(c=pg.floatv(0.0, 1.0)), True),
])
def test_dna_json_without_a_dna_equals_pyglove_json(space, flat):
    genome = sa.Genome(pg.dna_spec(space))
    assert genome._flat == flat  # pylint: disable=protected-access
    for seed in range(40):
        assignment = genome.sample(random.Random(seed))
        text = genome.to_dna_json(assignment)
        assert text == pg.to_json_str(genome.to_dna(assignment))
        assert genome.assignment_from_dna_json(text) == assignment


@pytest.mark.parametrize("assignment, match", [
    ({"a": 0}, "misses the active decision 'b'"),
    ({"a": 0, "b": 1.5}, r"'b' is a float in \[0.0, 1.0\], got 1.5"),
    ({"a": 2, "b": 0.5}, r"'a' takes a candidate index in \[0, 2\), got 2"),
    ({"a": 0, "b": 0.5, "zz": 1}, r"sets decisions \['zz'\] that are not active"),
    ({"a": 0, "zz": 1}, "misses the active decision 'b'"),
    ({"a": 0, "b": "0.5"}, r"'b' is a float in \[0.0, 1.0\], got '0.5'"),
])
def test_an_assignment_that_does_not_fit_is_named(assignment, match):
    genome = sa.Genome(pg.dna_spec(pg.Dict(a=pg.oneof([1, 2]), b=pg.floatv(0.0, 1.0))))
    with pytest.raises(DNAMismatchError, match=match):
        genome.to_dna_json(assignment)


def test_a_stored_dna_of_another_space_is_named():
    genome = sa.Genome(pg.dna_spec(pg.Dict(a=pg.oneof([1, 2]), b=pg.floatv(0.0, 1.0))))
    with pytest.raises(DNAMismatchError, match="does not fit the DNASpec"):
        genome.assignment_from_dna_json(pg.to_json_str(pg.DNA([5, 0.5])))
