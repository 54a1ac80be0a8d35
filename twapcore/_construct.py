"""Faster construction of the value objects built by the thousand on hot paths.

Each builder gives an object equal to calling the class (tests/core/test_simulate_speedups.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["new_named_tuple", "positional_builder"]

_T = TypeVar("_T")

# `new_named_tuple(Level, (price, qty))` is `Level(price, qty)` without the Python-level
# `__new__` a NamedTuple adds.
new_named_tuple = tuple.__new__


def positional_builder(cls: type[_T]) -> Callable[..., _T]:
    """`cls(*values)` for a frozen, slotted dataclass without `__post_init__`, twice as fast.

    A frozen dataclass's `__init__` sets each field with `object.__setattr__(self, name,
    value)`; this sets them with their slots' descriptors, the fields given positionally
    (omitted ones take their defaults), and gives an equal object. For the objects built
    once per step or fill (`SliceResult`, `Fill`, report rows).
    """
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in vars(cls):
        raise TypeError(f"{cls.__name__} is not a frozen, slotted dataclass")
    if hasattr(cls, "__post_init__") or any(
        f.default_factory is not dataclasses.MISSING or not f.init for f in fields
    ):
        raise TypeError(f"{cls.__name__} builds its fields in code: call it")
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    params_text, body = [], []
    for n, f in enumerate(fields):
        namespace[f"_set{n}"] = getattr(cls, f.name).__set__
        if f.default is dataclasses.MISSING:
            params_text.append(f"v{n}")
        else:
            namespace[f"_default{n}"] = f.default
            params_text.append(f"v{n}=_default{n}")
        body.append(f" _set{n}(o, v{n})")
    source = f"def build({', '.join(params_text)}):\n o = _new(_cls)\n"
    source += "\n".join(body) + "\n return o\n"
    exec(source, namespace)  # as `dataclasses` writes `__init__`
    build: Callable[..., _T] = namespace["build"]
    return build
