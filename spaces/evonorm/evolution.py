"""`GraphEvolution`: Pareto-tournament aging evolution with EvoNorm's node mutation.

The paper's mutation picks an intermediate node and replaces its op, its
inputs, or both, with random ones (inputs among the nodes before it). Here the
node is drawn among the nodes the output depends on (mutating an unused node
cannot change the layer), the kind of change uniformly among op / inputs /
both, and a changed op or input always differs from the old one. Everything
else is `ParetoTournamentEvolution`: the first `population_size` completed
candidates are random graphs, rejected candidates never enter the
population, and each parent is drawn uniformly from the Pareto front (over the
K anchor accuracies) of a random `tournament_size` sample.

Example::

    algo = graph_evolution(population_size=16, tournament_size=4, seed=1)
    symbolic_automl.search(graph_space(10), algo, evaluator, ...,
                           objective=["acc_resnet", "acc_mobilenet"])
"""

import ast
import random as random_lib
import re
from typing import Dict, List

from symbolic_automl.algorithms import ParetoTournamentEvolution
from symbolic_automl.errors import SearchSpaceError
from symbolic_automl.genome import Assignment

from .primitives import NUM_INITIAL, PRIMITIVES

_DECISION = re.compile(r"^nodes\[(\d+)\]\.(op|inputs\[([01])\])$")
MUTATION_KINDS = ("op", "inputs", "both")


class GraphEvolution(ParetoTournamentEvolution):
    """`ParetoTournamentEvolution` whose mutation changes one live node's op and/or inputs.

    Works on the genotype of `graph_space` (decisions `nodes[i].op`,
    `nodes[i].inputs[0]`, `nodes[i].inputs[1]`).
    """

    def _setup_algorithm(self) -> None:
        super()._setup_algorithm()
        nodes: Dict[int, Dict] = {}
        for decision in self.genome.decisions:
            match = _DECISION.match(decision.id)
            if match is None:
                raise SearchSpaceError(
                    f"GraphEvolution needs the genotype of evonorm.graph_space (decisions "
                    f"nodes[i].op, nodes[i].inputs[j]); got decision {decision.id!r}")
            index = int(match.group(1))
            key = "op" if match.group(2) == "op" else int(match.group(3))
            nodes.setdefault(index, {})[key] = decision
        self._nodes = [nodes[i] for i in sorted(nodes)]
        op_decision = self._nodes[0]["op"]
        self._ops: List[str] = [ast.literal_eval(v) for v in op_decision.spec.literal_values]
        self._arity = [PRIMITIVES[op].arity for op in self._ops]

    def live_nodes(self, assignment: Assignment) -> List[int]:
        """Nodes the output depends on, in the graph an assignment selects."""
        needed, stack = set(), [len(self._nodes) - 1]
        while stack:
            i = stack.pop()
            if i in needed:
                continue
            needed.add(i)
            node = self._nodes[i]
            arity = self._arity[assignment[node["op"].id]]
            for j in range(arity):
                source = assignment[node[j].id]  # Candidate index == node index.
                if source >= NUM_INITIAL:
                    stack.append(source - NUM_INITIAL)
        return sorted(needed)

    def mutate(self, parent: Assignment, rng: random_lib.Random) -> Assignment:
        child = dict(parent)
        node = self._nodes[rng.choice(self.live_nodes(parent))]
        kind = rng.choice(MUTATION_KINDS)
        if kind in ("op", "both") and len(self._ops) > 1:
            old = child[node["op"].id]
            child[node["op"].id] = rng.choice([i for i in range(len(self._ops)) if i != old])
        if kind in ("inputs", "both"):
            arity = self._arity[child[node["op"].id]]
            old = [child[node[j].id] for j in range(arity)]
            sources = node[0].num_candidates
            if sources ** arity > 1:
                new = old
                while new == old:  # Some input changes.
                    new = [rng.randrange(sources) for _ in range(arity)]
                for j, value in enumerate(new):
                    child[node[j].id] = value
        return child


def graph_evolution(population_size: int = 50, tournament_size: int = 10,
                    seed=None) -> GraphEvolution:
    """EvoNorm's evolution: Pareto tournaments over the anchors, node mutation.

    Example::

        graph_evolution(population_size=16, tournament_size=4, seed=1)
    """
    return GraphEvolution(seed=seed, population_size=population_size,
                          tournament_size=tournament_size)
