"""One proposal type for both kinds of algorithm; the assignment path builds no pg.DNA."""

import pyglove as pg
import pytest

import symbolic_automl as sa
from symbolic_automl import algorithms
from symbolic_automl import genome as genome_lib
from symbolic_automl import proposals

SPACE = pg.Dict(a=pg.oneof([1, pg.Dict(b=pg.oneof([2, 3]), c=pg.floatv(0.0, 1.0))]),
                d=pg.manyof(2, [4, 5, 6]), e=pg.floatv(1e-3, 1.0, scale="log"))


def test_the_adapter_follows_what_the_algorithm_speaks():
    space = sa.Space(SPACE)
    assert isinstance(proposals.proposer_for(algorithms.Evolution(seed=1), space),
                      proposals.AssignmentProposer)
    assert isinstance(proposals.proposer_for(pg.geno.Random(seed=1), space),
                      proposals.DNAProposer)


def test_both_kinds_of_proposal_materialize_and_record_the_same(dna_only):
    space = sa.Space(SPACE)
    fast = proposals.proposer_for(algorithms.Evolution(seed=4), space)
    slow = proposals.proposer_for(dna_only(algorithms.Evolution(seed=4)), space)
    fast.setup()
    slow.setup()
    for _ in range(5):
        a, b = fast.propose(), slow.propose()
        assert isinstance(a.genotype, dict) and isinstance(b.genotype, pg.DNA)
        assert a.dna == b.dna and a.dna_json() == b.dna_json()
        assert pg.eq(space.materialize_proposal(a), space.materialize_proposal(b))
        assert pg.eq(space.materialize_proposal(b), pg.materialize(SPACE, b.dna))
        fast.feedback(a, 1.0)
        slow.feedback(b, 1.0)


def test_a_recorded_trial_gives_back_its_proposal(tmp_path):
    result = sa.search(SPACE, algorithm=algorithms.Evolution(seed=2),
                       evaluator=lambda model, context: {"reward": 1.0}, max_trials=4,
                       root_dir=str(tmp_path), progress=False)
    space = sa.Space(SPACE)
    stored = sa.TrialStore.in_dir(str(tmp_path)).trials()
    for kind in (algorithms.Evolution(seed=2), pg.geno.Random(seed=2)):
        proposer = proposals.proposer_for(kind, space)
        for trial, original in zip(stored, result.trials):
            proposal = proposer.proposal_of(trial)
            assert proposal.trial_id == trial.id and proposal.dna == original.dna


def test_the_assignment_path_builds_no_dna(monkeypatch, tmp_path):
    # A flat space compiles to a direct materializer (a conditional one builds
    # its model from a DNA).
    flat = pg.Dict(x=pg.oneof(list(range(10))), y=pg.floatv(0.0, 1.0))
    built = []
    to_dna = genome_lib.Genome.to_dna
    monkeypatch.setattr(genome_lib.Genome, "to_dna",
                        lambda self, assignment: built.append(1) or to_dna(self, assignment))
    result = sa.search(flat, algorithm=algorithms.Evolution(seed=3),
                       evaluator=lambda model, context: {"reward": model.y}, max_trials=12,
                       root_dir=str(tmp_path), progress=False)
    assert len(result.trials) == 12 and built == []
    assert result.trials[0].dna is not None and built == [1]  # Built when asked for.


def test_a_proposal_needs_exactly_one_genotype():
    with pytest.raises(ValueError, match="needs a dna or an assignment"):
        proposals.Proposal(1)
    with pytest.raises(ValueError, match="needs a dna or an assignment"):
        proposals.Proposal(1, dna=pg.DNA(0), assignment={"x": 0})
    with pytest.raises(ValueError, match="needs the genome"):
        proposals.Proposal(1, assignment={"x": 0})


def test_fixed_dna_proposes_once_per_run_whatever_the_history():
    fixed = proposals.FixedDNA(dna=pg.DNA(1))
    fixed.setup(pg.dna_spec(pg.Dict(x=pg.oneof([1, 2]))))
    fixed.recover([(pg.DNA(1), None)])  # An earlier, failed attempt.
    assert fixed.propose() == pg.DNA(1)
    with pytest.raises(StopIteration):
        fixed.propose()
