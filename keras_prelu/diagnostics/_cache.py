"""Per-model caches of compiled functions, so repeated diagnostics of one model trace once."""

import weakref

_STORE = weakref.WeakKeyDictionary()


def cached(model, key, factory):
    """`factory()` the first time `(model, key)` is asked for, the same object afterwards.

    Entries go away with the model. `key` must be hashable.
    """
    entries = _STORE.setdefault(model, {})
    if key not in entries:
        entries[key] = factory()
    return entries[key]


def loss_key(loss):
    """A hashable stand-in for a loss argument: the name of a string, else the object's id."""
    return loss if loss is None or isinstance(loss, str) else ("id", id(loss))
