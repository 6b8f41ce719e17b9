"""DARTS genotypes in the reference format (Liu et al. 2019, `cnn/genotypes.py`).

A genotype lists, for each cell type, two `(op_name, input_index)` pairs per
intermediate node, in node order, and which states the cell concatenates into its
output. States 0 and 1 are the outputs of the two previous cells; state `i + 2` is
intermediate node `i`. The string form is the namedtuple's repr, as printed by the
reference code's logs, and `parse_genotype` reads it back without evaluating code.

Example::

    from symbolic_automl.spaces.darts import genotype

    g = genotype.parse_genotype(str(genotype.DARTS_V2))
    assert g == genotype.DARTS_V2
"""

import ast
import collections
from typing import Any, List, Sequence, Tuple, Union

from symbolic_automl import errors

Genotype = collections.namedtuple("Genotype", "normal normal_concat reduce reduce_concat")

# The cell found by second-order DARTS on CIFAR-10 (reference `genotypes.DARTS_V2`,
# 2.76% test error, 3.3M parameters at 36 channels / 20 cells).
DARTS_V2 = Genotype(
    normal=[
        ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 1), ("skip_connect", 0),
        ("skip_connect", 0), ("dil_conv_3x3", 2),
    ],
    normal_concat=[2, 3, 4, 5],
    reduce=[
        ("max_pool_3x3", 0), ("max_pool_3x3", 1),
        ("skip_connect", 2), ("max_pool_3x3", 1),
        ("max_pool_3x3", 0), ("skip_connect", 2),
        ("skip_connect", 2), ("max_pool_3x3", 1),
    ],
    reduce_concat=[2, 3, 4, 5],
)

DARTS = DARTS_V2

# The other published cells of the reference `genotypes.py`.
# NASNet-A (Zoph et al. 2018): five nodes per cell.
NASNet = Genotype(
    normal=[
        ("sep_conv_5x5", 1), ("sep_conv_3x3", 0),
        ("sep_conv_5x5", 0), ("sep_conv_3x3", 0),
        ("avg_pool_3x3", 1), ("skip_connect", 0),
        ("avg_pool_3x3", 0), ("avg_pool_3x3", 0),
        ("sep_conv_3x3", 1), ("skip_connect", 1),
    ],
    normal_concat=[2, 3, 4, 5, 6],
    reduce=[
        ("sep_conv_5x5", 1), ("sep_conv_7x7", 0),
        ("max_pool_3x3", 1), ("sep_conv_7x7", 0),
        ("avg_pool_3x3", 1), ("sep_conv_5x5", 0),
        ("skip_connect", 3), ("avg_pool_3x3", 2),
        ("sep_conv_3x3", 2), ("max_pool_3x3", 1),
    ],
    reduce_concat=[4, 5, 6],
)

# AmoebaNet-A (Real et al. 2019); its reduction cell uses `conv_7x1_1x7`.
AmoebaNet = Genotype(
    normal=[
        ("avg_pool_3x3", 0), ("max_pool_3x3", 1),
        ("sep_conv_3x3", 0), ("sep_conv_5x5", 2),
        ("sep_conv_3x3", 0), ("avg_pool_3x3", 3),
        ("sep_conv_3x3", 1), ("skip_connect", 1),
        ("skip_connect", 0), ("avg_pool_3x3", 1),
    ],
    normal_concat=[4, 5, 6],
    reduce=[
        ("avg_pool_3x3", 0), ("sep_conv_3x3", 1),
        ("max_pool_3x3", 0), ("sep_conv_7x7", 2),
        ("sep_conv_7x7", 0), ("avg_pool_3x3", 1),
        ("max_pool_3x3", 0), ("max_pool_3x3", 1),
        ("conv_7x1_1x7", 0), ("sep_conv_3x3", 5),
    ],
    reduce_concat=[3, 4, 6],
)

# First-order DARTS.
DARTS_V1 = Genotype(
    normal=[
        ("sep_conv_3x3", 1), ("sep_conv_3x3", 0),
        ("skip_connect", 0), ("sep_conv_3x3", 1),
        ("skip_connect", 0), ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0), ("skip_connect", 2),
    ],
    normal_concat=[2, 3, 4, 5],
    reduce=[
        ("max_pool_3x3", 0), ("max_pool_3x3", 1),
        ("skip_connect", 2), ("max_pool_3x3", 0),
        ("max_pool_3x3", 0), ("skip_connect", 2),
        ("skip_connect", 2), ("avg_pool_3x3", 0),
    ],
    reduce_concat=[2, 3, 4, 5],
)

PUBLISHED = {"NASNet": NASNet, "AmoebaNet": AmoebaNet, "DARTS_V1": DARTS_V1,
             "DARTS_V2": DARTS_V2}


def _invalid(text, why):
    return errors.SearchSpaceError(
        f"Cannot read a DARTS genotype from {text!r}: {why}. Expected the reference "
        "format, e.g. \"Genotype(normal=[('sep_conv_3x3', 0), ...], "
        "normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])\".")


def parse_genotype(text: str) -> Genotype:
    """Reads a genotype from its reference string form, without `eval`.

    Accepts `Genotype(...)` with the four fields as keyword or positional
    arguments, whose values are literals (lists/tuples of `(str, int)` pairs and
    lists of ints; `range(2, 6)` as in the reference's concat is accepted too).

    Raises:
      SearchSpaceError: the text is not a genotype in that form.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_genotype expects a str, got {type(text).__name__}.")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise _invalid(text, f"not a Python expression ({e.msg})") from None
    call = tree.body
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
            and call.func.id == "Genotype"):
        raise _invalid(text, "it is not a call of Genotype(...)")
    if len(call.args) > len(Genotype._fields):
        raise _invalid(text, f"{len(call.args)} positional fields, at most 4 expected")
    values = {}
    for field, node in zip(Genotype._fields, call.args):
        values[field] = _literal(node, text)
    for keyword in call.keywords:
        if keyword.arg not in Genotype._fields:
            raise _invalid(text, f"unknown field {keyword.arg!r}")
        if keyword.arg in values:
            raise _invalid(text, f"field {keyword.arg!r} given twice")
        values[keyword.arg] = _literal(keyword.value, text)
    missing = [f for f in Genotype._fields if f not in values]
    if missing:
        raise _invalid(text, f"missing field(s) {missing}")
    return make_genotype(**values)


def _literal(node, text):
    # `range(a, b)` is how the reference writes concat lists; allow it and nothing else.
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "range" and not node.keywords):
        return list(range(*[_literal(a, text) for a in node.args]))
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise _invalid(text, f"{ast.unparse(node)!r} is not a literal") from None


def make_genotype(normal, normal_concat, reduce, reduce_concat) -> Genotype:
    """Builds a `Genotype`, checking the shape of each field.

    Pairs become tuples and concats lists, so that genotypes compare equal however
    they were written.

    Raises:
      SearchSpaceError: a field that is not a list of `(op_name, input_index)` pairs
        with an even length, or a concat that is not a list of state indices.
    """
    return Genotype(
        normal=_pairs(normal, "normal"),
        normal_concat=_concat(normal_concat, "normal_concat"),
        reduce=_pairs(reduce, "reduce"),
        reduce_concat=_concat(reduce_concat, "reduce_concat"),
    )


def _pairs(value: Any, field: str) -> List[Tuple[str, int]]:
    if not isinstance(value, (list, tuple)):
        raise errors.SearchSpaceError(
            f"Genotype field {field!r} must be a list of (op_name, input_index) pairs, "
            f"got {value!r}.")
    pairs = []
    for pair in value:
        if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                or not isinstance(pair[0], str) or not _is_index(pair[1])):
            raise errors.SearchSpaceError(
                f"Genotype field {field!r} has {pair!r}; expected an "
                "(op_name, input_index) pair such as ('sep_conv_3x3', 0).")
        pairs.append((pair[0], int(pair[1])))
    if not pairs or len(pairs) % 2:
        raise errors.SearchSpaceError(
            f"Genotype field {field!r} has {len(pairs)} pairs; expected a positive even "
            "number (two inputs per intermediate node).")
    return pairs


def _concat(value: Any, field: str) -> List[int]:
    if isinstance(value, range):
        value = list(value)
    if (not isinstance(value, (list, tuple)) or not value
            or not all(_is_index(i) for i in value)):
        raise errors.SearchSpaceError(
            f"Genotype field {field!r} must be a non-empty list of state indices, "
            f"got {value!r}.")
    return [int(i) for i in value]


def _is_index(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def format_genotype(genotype: Genotype) -> str:
    """The reference's string form: the namedtuple repr with lists."""
    g = make_genotype(*genotype)
    return repr(g)


def as_genotype(value: Union[Genotype, str, Sequence]) -> Genotype:
    """Accepts a `Genotype`, its string form, or a 4-sequence of its fields."""
    if isinstance(value, str):
        return parse_genotype(value)
    if isinstance(value, dict):
        return make_genotype(**value)
    if isinstance(value, (list, tuple)) and len(value) == 4:
        return make_genotype(*value)
    raise errors.SearchSpaceError(
        f"Expected a DARTS Genotype or its string form, got {value!r}.")
