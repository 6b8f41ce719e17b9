"""A flat, fast view of a `pg.DNASpec` for algorithms that work decision by decision.

PyGlove's `DNA` objects are symbolic and slow to build (~0.3 ms per node), so the
algorithms in this package keep candidates as *assignments*: plain dicts
`{decision id: value}` holding only the decisions that are active (a decision
under an unchosen `oneof` branch is absent). A `Genome` is compiled once from the
spec in `Algorithm._setup` and converts between assignments and `pg.DNA`.

Example::

    genome = Genome(pg.dna_spec(pg.Dict(a=pg.oneof([1, 2]), b=pg.floatv(0., 1.))))
    assignment = genome.sample(random.Random(1))     # {'a': 1, 'b': 0.13...}
    dna = genome.to_dna(assignment)                   # DNA([1, 0.13...])
    assert genome.assignment(dna) == assignment
"""

import dataclasses
import json
import math
import random as random_lib
from typing import Any, Callable, Dict, List, Optional, Tuple

import pyglove as pg

from symbolic_automl.errors import DNAMismatchError, SearchSpaceError

Assignment = Dict[str, Any]


@dataclasses.dataclass(eq=False)
class Decision:
    """One decision point of the spec, flattened.

    Attributes:
        id: the decision's id, as in `dna.to_dict('id', 'value')`.
        index: position in `Genome.decisions` (DFS order of the spec).
        num_candidates: number of candidates of a categorical decision; 0 for a float.
        low, high: range of a float decision (in the log domain when `log_scale`).
        min_value, max_value: range of a float decision's values (a plain copy
            of the spec's: symbolic attribute reads are slow).
        log_scale: whether the float's spec asked for a log scale.
        group: the decisions of one `manyof` (shared by its slots), else None.
        distinct, sorted: the `manyof` constraints of the group.
        parent: the categorical decision this one is conditional on, or None.
        parent_value: the parent's candidate index that activates this decision.
        spec: the pyglove decision point.
    """

    id: str
    index: int
    num_candidates: int
    low: float = 0.0
    high: float = 0.0
    min_value: float = 0.0
    max_value: float = 0.0
    log_scale: bool = False
    group: Optional[List["Decision"]] = None
    distinct: bool = False
    sorted: bool = False
    parent: Optional["Decision"] = None
    parent_value: Optional[int] = None
    spec: Any = None

    @property
    def is_categorical(self) -> bool:
        return self.num_candidates > 0

    def to_internal(self, value: float) -> float:
        """Maps a float decision's value to the domain algorithms model it in."""
        return math.log(value) if self.log_scale else value

    def from_internal(self, value: float) -> float:
        value = math.exp(value) if self.log_scale else value
        # exp(log(x)) may land a hair outside the range pyglove checks.
        return min(max(value, self.min_value), self.max_value)


# Compiled spec tree, kept as tuples for speed:
#   ("space", [child nodes])
#   ("choices", [Decision per slot], [candidate node per candidate index])
#   ("float", Decision)
_EMPTY = object()
_DNA_TYPE = "pyglove.core.geno.base.DNA"


def _dna_json(value: Any) -> str:
    """The text `pg.to_json_str` writes for a DNA whose compact value is `value`."""
    return json.dumps({"_type": _DNA_TYPE, "format": "compact", "value": value})


class Genome:
    """Compiled view of a `pg.DNASpec`: sampling, DNA <-> assignment, validation.

    Args:
        dna_spec: the search space's genotype (`pg.dna_spec(space)`).

    Raises:
        SearchSpaceError: the spec holds a custom decision point (`pg.evolve`),
            which decision-wise algorithms cannot model.
    """

    def __init__(self, dna_spec: pg.DNASpec):
        self.dna_spec = dna_spec
        self.decisions: List[Decision] = []
        self._root = self._compile(dna_spec, parent=None, parent_value=None)
        # A space of independent oneofs and floats (no manyof, nothing
        # conditional): its DNA value is one number per decision, in order.
        self._flat = bool(self.decisions) and all(
            d.parent is None and d.group is None for d in self.decisions)

    # ----------------------------------------------------------------- compile

    def _compile(self, spec, parent, parent_value):
        if spec.is_space:
            return ("space", [self._compile(e, parent, parent_value) for e in spec.elements])
        if spec.is_categorical:
            slot_specs = [spec] if spec.num_choices == 1 else list(spec.choice_specs)
            slots = []
            for slot_spec in slot_specs:
                decision = Decision(
                    id=str(slot_spec.id), index=len(self.decisions),
                    num_candidates=len(slot_spec.candidates),
                    distinct=bool(spec.distinct) and spec.num_choices > 1,
                    sorted=bool(spec.sorted) and spec.num_choices > 1,
                    parent=parent, parent_value=parent_value, spec=slot_spec)
                self.decisions.append(decision)
                slots.append(decision)
            for decision in slots:
                decision.group = slots if len(slots) > 1 else None
            # Each slot has its own candidate subtrees (their decision ids differ).
            candidates = [
                [self._compile(c, slot, i) for i, c in enumerate(slot.spec.candidates)]
                for slot in slots
            ]
            return ("choices", slots, candidates)
        if spec.is_numerical:
            log_scale = spec.scale in ("log", "rlog")
            low, high = spec.min_value, spec.max_value
            if log_scale:
                low, high = math.log(low), math.log(high)
            decision = Decision(
                id=str(spec.id), index=len(self.decisions), num_candidates=0,
                low=low, high=high, min_value=spec.min_value, max_value=spec.max_value,
                log_scale=log_scale,
                parent=parent, parent_value=parent_value, spec=spec)
            self.decisions.append(decision)
            return ("float", decision)
        raise SearchSpaceError(
            f"decision point {spec.id!s} is a {type(spec).__name__}; the algorithms in "
            "symbolic_automl.algorithms handle oneof/manyof/floatv decisions only "
            "(use a pyglove algorithm for pg.evolve/custom decision points)")

    # ---------------------------------------------------------------- sampling

    def sample(self, rng: random_lib.Random,
               chooser: Optional[Callable[[Decision, random_lib.Random, Assignment], Any]] = None,
               base: Optional[Assignment] = None) -> Assignment:
        """Returns a complete assignment of the active decisions.

        Args:
            rng: the random generator to draw from.
            chooser: `(decision, rng, partial_assignment) -> value` picks a value
                for one decision (default: uniform). For a manyof slot it must
                return a candidate index not yet taken when the group is distinct.
            base: an assignment whose values are kept where the decision is
                active (used to repair a mutated assignment: decisions that a
                changed parent activates are sampled, stale ones dropped).
        """
        out: Assignment = {}
        self._sample_node(self._root, rng, chooser or uniform_choice, base or {}, out)
        return out

    def _sample_node(self, node, rng, chooser, base, out):
        kind = node[0]
        if kind == "space":
            for child in node[1]:
                self._sample_node(child, rng, chooser, base, out)
        elif kind == "float":
            decision = node[1]
            value = base.get(decision.id)
            out[decision.id] = chooser(decision, rng, out) if value is None else value
        else:
            slots, candidates = node[1], node[2]
            kept = [base.get(d.id) for d in slots]
            if len(slots) > 1 and (slots[0].distinct or slots[0].sorted):
                # A group is kept only whole, so that repairs cannot break distinctness.
                if any(v is None for v in kept) or not _group_valid(slots[0], kept):
                    kept = [None] * len(slots)
            for decision, value in zip(slots, kept):
                out[decision.id] = chooser(decision, rng, out) if value is None else value
            if slots[0].sorted:
                values = sorted(out[d.id] for d in slots)
                for decision, value in zip(slots, values):
                    out[decision.id] = value
            for slot_index, decision in enumerate(slots):
                self._sample_node(
                    candidates[slot_index][out[decision.id]], rng, chooser, base, out)

    # -------------------------------------------------------------- conversion

    def to_dna(self, assignment: Assignment) -> pg.DNA:
        """Builds the `pg.DNA` of a complete assignment, spec attached."""
        nested = self._nested(self._root, assignment)
        # Type checks dominate DNA construction; the nested value is built here
        # from the spec, and `use_spec` still checks it against the spec.
        with pg.symbolic.enable_type_check(False):
            dna = pg.DNA(None if nested is _EMPTY else nested)
        return dna.use_spec(self.dna_spec)

    def to_dna_json(self, assignment: Assignment) -> str:
        """`pg.to_json_str(self.to_dna(assignment))`, without building the DNA.

        Raises:
            DNAMismatchError: the assignment misses an active decision, has a
                value out of its decision's range, or holds an inactive one.
        """
        if self._flat and len(assignment) == len(self.decisions):
            return self._flat_dna_json(assignment)
        visited = []
        nested = self._nested(self._root, assignment, visited)
        if len(visited) != len(assignment):
            extra = sorted(set(assignment) - set(visited))
            raise DNAMismatchError(
                f"Assignment {assignment!r:.200} sets decisions {extra} that are not "
                f"active (or not in the space); the active ones are {visited}")
        return _dna_json(_tuples_to_json(nested))

    def _flat_dna_json(self, assignment: Assignment) -> str:
        """`to_dna_json` of a flat genome: the same checks and text, without the tree walk."""
        values = [_checked(decision, _get(assignment, decision, None))
                  for decision in self.decisions]
        return _dna_json(values[0] if len(values) == 1 else values)

    def assignment_from_dna_json(self, text: str) -> Assignment:
        """The assignment of a DNA stored with `to_dna_json` or `pg.to_json_str`."""
        try:
            data = json.loads(text)
            if not (isinstance(data, dict) and data.get("_type") == _DNA_TYPE
                    and data.get("format") == "compact"):
                raise ValueError("not a compact pg.DNA JSON object")
            out: Assignment = {}
            self._assign(self._root, _json_to_tuples(data["value"]), out)
            return out
        except (ValueError, TypeError, KeyError, IndexError) as e:
            raise DNAMismatchError(
                f"Stored DNA {text[:200]} does not fit the DNASpec: {e}") from e

    def numbers(self, assignment: Assignment) -> List[Any]:
        """The values of all decisions in spec order (`dna.to_numbers()` of a flat space)."""
        return [assignment[d.id] for d in self.decisions]

    def _nested(self, node, assignment, visited=None):
        kind = node[0]
        if kind == "space":
            parts = [p for p in (self._nested(c, assignment, visited) for c in node[1])
                     if p is not _EMPTY]
            if not parts:
                return _EMPTY
            return parts[0] if len(parts) == 1 else parts
        if kind == "float":
            return _checked(node[1], _get(assignment, node[1], visited))
        slots, candidates = node[1], node[2]
        values = []
        for slot_index, decision in enumerate(slots):
            index = _checked(decision, _get(assignment, decision, visited))
            child = self._nested(candidates[slot_index][index], assignment, visited)
            values.append(index if child is _EMPTY else (index, child))
        return values[0] if len(values) == 1 else values

    def _assign(self, node, value, out):
        """The inverse of `_nested`: fills `out` from a nested DNA value."""
        kind = node[0]
        if kind == "space":
            children = [c for c in node[1] if _has_decisions(c)]
            parts = [value] if len(children) == 1 else value
            if len(parts) != len(children):
                raise ValueError(f"expected {len(children)} values, got {value!r:.100}")
            for child, part in zip(children, parts):
                self._assign(child, part, out)
        elif kind == "float":
            out[node[1].id] = float(value)
        else:
            slots, candidates = node[1], node[2]
            parts = [value] if len(slots) == 1 else value
            if len(parts) != len(slots):
                raise ValueError(f"expected {len(slots)} choices, got {value!r:.100}")
            for slot_index, (decision, part) in enumerate(zip(slots, parts)):
                index, child = part if isinstance(part, tuple) else (part, None)
                if not 0 <= index < decision.num_candidates:
                    raise ValueError(f"choice {index} out of range for {decision.id}")
                out[decision.id] = index
                subtree = candidates[slot_index][index]
                if _has_decisions(subtree):
                    self._assign(subtree, child, out)

    def assignment(self, dna: pg.DNA) -> Assignment:
        """Returns the assignment of a DNA (which must fit this genome's spec)."""
        try:
            if dna.spec is None:
                dna = dna.use_spec(self.dna_spec)
            return dict(dna.to_dict("id", "value"))
        except Exception as e:  # pyglove raises several types on a foreign DNA.
            raise DNAMismatchError(
                f"DNA {dna!r} does not fit the algorithm's DNASpec: {e}") from e

    def active(self, decision: Decision, assignment: Assignment) -> bool:
        return decision.id in assignment

    @staticmethod
    def key(assignment: Assignment) -> Tuple:
        """A hashable identity of an assignment (for duplicate detection)."""
        return tuple(sorted(assignment.items()))

    def validate(self, dna: pg.DNA) -> None:
        """Raises DNAMismatchError if the DNA does not fit the spec."""
        try:
            self.dna_spec.validate(dna)
        except Exception as e:
            raise DNAMismatchError(f"DNA {dna!r} does not fit the DNASpec: {e}") from e

    def space_size(self) -> float:
        """Number of distinct DNAs; `inf` when there is a float decision."""
        if any(not d.is_categorical for d in self.decisions):
            return math.inf
        return self.dna_spec.space_size


def _get(assignment, decision, visited):
    try:
        value = assignment[decision.id]
    except KeyError:
        raise DNAMismatchError(
            f"Assignment {assignment!r:.200} misses the active decision {decision.id!r}") from None
    if visited is not None:
        visited.append(decision.id)
    return value


def _checked(decision: Decision, value: Any) -> Any:
    """A decision's value as the DNA holds it; DNAMismatchError if out of its range."""
    if decision.num_candidates:
        if not (isinstance(value, int) and 0 <= value < decision.num_candidates):
            raise DNAMismatchError(
                f"Decision {decision.id!r} takes a candidate index in "
                f"[0, {decision.num_candidates}), got {value!r}")
        return value
    if not (isinstance(value, (int, float))
            and decision.min_value <= value <= decision.max_value):
        raise DNAMismatchError(
            f"Decision {decision.id!r} is a float in [{decision.min_value}, "
            f"{decision.max_value}], got {value!r}")
    return float(value)


def _has_decisions(node) -> bool:
    return node[0] != "space" or any(_has_decisions(c) for c in node[1])


def _tuples_to_json(value):
    # pg.to_json's encoding: a tuple (a conditional choice) is ["__tuple__", ...].
    if isinstance(value, tuple):
        return ["__tuple__"] + [_tuples_to_json(v) for v in value]
    if isinstance(value, list):
        return [_tuples_to_json(v) for v in value]
    return value


def _json_to_tuples(value):
    if isinstance(value, list):
        if value and value[0] == "__tuple__":
            return tuple(_json_to_tuples(v) for v in value[1:])
        return [_json_to_tuples(v) for v in value]
    return value


def _group_valid(decision: Decision, values) -> bool:
    if decision.distinct and len(set(values)) != len(values):
        return False
    return not decision.sorted or list(values) == sorted(values)


def uniform_choice(decision: Decision, rng: random_lib.Random, partial: Assignment):
    """Default chooser: a uniform value, honouring a manyof group's distinctness."""
    if not decision.is_categorical:
        return decision.from_internal(rng.uniform(decision.low, decision.high))
    if decision.distinct:
        taken = {partial[d.id] for d in decision.group if d.id in partial and d is not decision}
        free = [i for i in range(decision.num_candidates) if i not in taken]
        return rng.choice(free)
    return rng.randrange(decision.num_candidates)
