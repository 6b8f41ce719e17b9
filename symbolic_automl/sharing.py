"""One hyper-value object, one decision: its identity survives pyglove's copies.

Python code reuses a value by naming it::

    k = pg.oneof([3, 5])
    keras.Sequential([keras.Input((8, 8, 1)), Conv2D(8, k), Conv2D(8, k), ...])

and means *one* kernel size for both convolutions. PyGlove keeps a symbolic
value in one place of one tree, so assigning `k` a second time stores a copy
(`Symbolic._relocate_if_symbolic` clones a value that already has a parent),
and `pg.dna_spec` then sees two independent decisions. This module tags the
hyper-values of such a copy with the original's identity (a private
`decision token`), so that `Space` can make them one decision.

The rules follow Python's aliasing:

* a copy made because a value is placed a second time (or moved) keeps the
  tokens of the original's hyper-values: the same object, one decision;
* an explicit copy (`clone()`, `copy.deepcopy`, `pg.clone`) keeps the sharing
  *inside* the copy but gets tokens of its own, as `copy.deepcopy` keeps
  aliasing within the copied structure: `[block.clone(deep=True) for _ in
  range(3)]` is three independent blocks, each as shared inside as `block`.

Tokens live on the Python objects only: JSON does not record them (give the
shared hyper-value a `name=` to keep the sharing through JSON).

Example::

    k = pg.oneof([3, 5])
    space = pg.Dict(a=k, b=k)          # `b` holds a copy of `k`
    assert token(space.a) == token(space.b) is not None
"""

import contextlib
import itertools
import threading
from typing import Any, Optional

from pyglove.core import symbolic as _symbolic
from pyglove.core import utils as _utils
from pyglove.core.hyper import base as _hyper_base

_ATTRIBUTE = "_sa_decision_token"
_tokens = itertools.count(1)
_state = threading.local()  # `mode`: None (no copy in progress), _ALIAS, or a dict.
_ALIAS = "alias"


def token(hyper: Any) -> Optional[int]:
    """The decision token of a hyper-value, None when it was never shared or copied."""
    return getattr(hyper, "__dict__", {}).get(_ATTRIBUTE)


def _set_token(hyper, value: int) -> None:
    object.__setattr__(hyper, _ATTRIBUTE, value)


@contextlib.contextmanager
def _copy_mode(mode):
    outer = getattr(_state, "mode", None)
    if outer is not None:  # A nested copy belongs to the outermost one.
        yield
        return
    _state.mode = mode
    try:
        yield
    finally:
        _state.mode = None


_original_relocate = _symbolic.Symbolic._relocate_if_symbolic  # pylint: disable=protected-access
_original_sym_clone = _symbolic.Symbolic.sym_clone
_original_hyper_clone = _hyper_base.HyperPrimitive._sym_clone  # pylint: disable=protected-access


def _relocate_if_symbolic(self, key, value):
    # The same test pyglove makes before copying a value that has a parent.
    if isinstance(value, _symbolic.Symbolic) and value.sym_parent is not None:
        if (value.sym_parent is not self
                or _utils.KeyPath(key, self.sym_path) != value.sym_path):
            with _copy_mode(_ALIAS):
                value = value.clone()
    return _original_relocate(self, key, value)


def _sym_clone(self, deep=False, memo=None, override=None):
    with _copy_mode({}):  # Fresh tokens, one per original token, for this copy.
        return _original_sym_clone(self, deep, memo, override)


def _hyper_sym_clone(self, deep, memo=None):
    new_value = _original_hyper_clone(self, deep, memo)
    mode = getattr(_state, "mode", None)
    original = token(self)
    if mode == _ALIAS:
        if original is None:
            original = next(_tokens)
            _set_token(self, original)
        _set_token(new_value, original)
    elif original is not None and mode is not None:
        if original not in mode:
            mode[original] = next(_tokens)
        _set_token(new_value, mode[original])
    return new_value


def _install():
    if getattr(_symbolic.Symbolic, "_sa_sharing_installed", False):
        return
    _symbolic.Symbolic._relocate_if_symbolic = _relocate_if_symbolic  # pylint: disable=protected-access
    _symbolic.Symbolic.sym_clone = _sym_clone
    _hyper_base.HyperPrimitive._sym_clone = _hyper_sym_clone  # pylint: disable=protected-access
    _symbolic.Symbolic._sa_sharing_installed = True  # pylint: disable=protected-access


_install()
