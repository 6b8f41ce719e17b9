"""The primitives of the EvoNorm layer-graph space (Liu et al. 2020, Table 1).

Each primitive is a name, an arity and a formula template. Element-wise ops:
add, mul, div, max (binary); neg, sigmoid, tanh, exp, log (= sign(x)·ln|x|),
abs, square, sqrt (= sign(x)·√|x|) (unary). Aggregates (unary, the result
broadcasts back to the input's shape): the mean μ_I(x) and the standard
deviation s_I(x) = √(s²_I(x) + ε) over the index set I of a batch (b,w,h),
an instance (w,h) or a group of channels (w,h,c/g).

Example::

    PRIMITIVES["div"].arity            # 2
    PRIMITIVES["group_std"].render("x")   # 's_{w,h,c/g}(x)'
"""

import dataclasses
from typing import Dict, Tuple


@dataclasses.dataclass(frozen=True)
class Primitive:
    """One op of the space.

    Attributes:
        name: the op's name in a graph (`Node.op`).
        arity: 1 or 2 (unary ops read only their first input).
        template: the formula, `{0}` / `{1}` standing for the inputs.
        precedence: binding strength of the rendered formula (higher binds
            tighter), so that `render` puts parentheses only where needed.
        aggregate: None, or the index set it reduces over: "batch", "instance",
            "group".
    """

    name: str
    arity: int
    template: str
    precedence: int
    aggregate: str = None

    def render(self, *operands: str) -> str:
        return self.template.format(*operands)


# Precedences: sums < products/quotients < prefix minus < function calls/atoms.
_SUM, _PRODUCT, _PREFIX, _ATOM = 1, 2, 3, 4

_ALL = (
    Primitive("add", 2, "{0} + {1}", _SUM),
    Primitive("mul", 2, "{0}·{1}", _PRODUCT),
    Primitive("div", 2, "{0} / {1}", _PRODUCT),
    Primitive("max", 2, "max({0}, {1})", _ATOM),
    Primitive("neg", 1, "-{0}", _PREFIX),
    Primitive("sigmoid", 1, "σ({0})", _ATOM),
    Primitive("tanh", 1, "tanh({0})", _ATOM),
    Primitive("exp", 1, "exp({0})", _ATOM),
    Primitive("log", 1, "sign·log|{0}|", _ATOM),
    Primitive("abs", 1, "|{0}|", _ATOM),
    Primitive("square", 1, "{0}²", _ATOM),
    Primitive("sqrt", 1, "sign·√|{0}|", _ATOM),
    Primitive("batch_mean", 1, "μ_{{b,w,h}}({0})", _ATOM, "batch"),
    Primitive("batch_std", 1, "s_{{b,w,h}}({0})", _ATOM, "batch"),
    Primitive("instance_mean", 1, "μ_{{w,h}}({0})", _ATOM, "instance"),
    Primitive("instance_std", 1, "s_{{w,h}}({0})", _ATOM, "instance"),
    Primitive("group_mean", 1, "μ_{{w,h,c/g}}({0})", _ATOM, "group"),
    Primitive("group_std", 1, "s_{{w,h,c/g}}({0})", _ATOM, "group"),
)

PRIMITIVES: Dict[str, Primitive] = {p.name: p for p in _ALL}

# Every primitive: the space of the B-series search.
ALL_OPS: Tuple[str, ...] = tuple(PRIMITIVES)
# Batch-independent primitives: the space of the S-series search (no batch aggregates).
BATCH_INDEPENDENT_OPS: Tuple[str, ...] = tuple(
    p.name for p in _ALL if p.aggregate != "batch")

# Names of the initial nodes, by index: a node input `i < NUM_INITIAL` reads one of them.
INITIAL_NODES: Tuple[str, ...] = ("x", "0", "v0", "v1")
NUM_INITIAL = len(INITIAL_NODES)


def check_op(name: str) -> Primitive:
    """The primitive called `name`, or a ValueError naming the known ones."""
    try:
        return PRIMITIVES[name]
    except KeyError:
        raise ValueError(f"Unknown EvoNorm primitive {name!r}; expected one of "
                         f"{', '.join(ALL_OPS)}") from None


def fallback_groups(groups: int, channels: int) -> int:
    """The reference's group count: lowered from `groups` until it divides `channels`.

    tensorflow/tpu resnet_model.py: `while num_groups > 1 and C % num_groups: num_groups -= 1`.
    """
    if groups < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    while groups > 1 and channels % groups:
        groups -= 1
    return groups
