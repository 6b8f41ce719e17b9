"""`Seeded`: an algorithm that first proposes given DNAs, then its own.

Each seed's result reaches the wrapped algorithm as history (`recover`), as if
it had proposed the seed itself: an evolution's population starts from the
seeds and it never proposes them again. Resume replays the same way.

Example::

    algorithm = flows.Seeded(sa.regularized_evolution(population_size=5, seed=1),
                             seeds=[t.dna for t in proxy_result.top(5)])
"""

from typing import Any, Optional, Tuple, Union

import pyglove as pg



@pg.members([
    ("algorithm", pg.typing.Object(pg.DNAGenerator), "Proposes once the seeds are used."),
    ("seeds", pg.typing.List(pg.typing.Object(pg.DNA)), "DNAs proposed first, in order."),
])
class Seeded(pg.DNAGenerator):
    """Proposes `seeds` first, then `algorithm`'s proposals; every result feeds `algorithm`."""

    def _setup(self) -> None:
        self.algorithm.setup(self.dna_spec)
        self._seed_dnas = []
        for i, dna in enumerate(self.seeds):
            dna = dna.clone(deep=True)
            try:
                dna.use_spec(self.dna_spec)
            except Exception as e:  # pylint: disable=broad-except  (pg raises several kinds)
                raise ValueError(f"Seed {i} ({dna!r}) does not fit the search space: "
                                 f"{type(e).__name__}: {e}") from e
            self._seed_dnas.append(dna)
        # Seeds whose result the algorithm has not heard yet.
        self._unheard = list(self._seed_dnas)

    @property
    def multi_objective(self) -> bool:
        return bool(getattr(self.algorithm, "multi_objective", False))

    def _propose(self) -> pg.DNA:
        if self.num_proposals < len(self._seed_dnas):
            return self._seed_dnas[self.num_proposals].clone(deep=True)
        return self.algorithm.propose()

    def _feedback(self, dna: pg.DNA, reward: Union[float, Tuple[float, ...]]) -> None:
        if dna in self._unheard:
            self._unheard.remove(dna)
            self.algorithm.recover([(dna, reward)])
        else:
            self.algorithm.feedback(dna, reward)

    def feedback_infeasible(self, dna: Any) -> None:
        """Passes an infeasible trial on, to algorithms that learn from them."""
        tell = getattr(self.algorithm, "feedback_infeasible", None)
        if tell is not None:
            tell(dna)

    def _replay(self, trial_id: int, dna: pg.DNA,
                reward: Optional[Union[float, Tuple[float, ...]]]) -> None:
        if trial_id < len(self._seed_dnas):
            if reward is not None:  # Else it runs again, and is heard then.
                self._feedback(dna, reward)
        else:
            self.algorithm.recover([(dna, reward)])
