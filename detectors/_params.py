"""Explicit hyper-parameter checks, run by each detector's ``fit`` (never by ``__init__``)."""

from __future__ import annotations

import math
from collections.abc import Collection
from numbers import Integral, Real


def _fail(owner: object, name: str, expected: str, value: object) -> ValueError:
    return ValueError(
        f"The {name!r} parameter of {type(owner).__name__} must be {expected}; got {value!r}."
    )


def check_real(
    owner: object, name: str, value: object, *, low: float, strict: bool = False
) -> float:
    """Return ``value`` as a float if it is a finite real number ``>= low`` (``> low`` if strict)."""
    bound = f"> {low:g}" if strict else f">= {low:g}"
    expected = f"a finite real number {bound}"
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise _fail(owner, name, expected, value)
    if value < low or (strict and value == low):
        raise _fail(owner, name, expected, value)
    return float(value)


def check_int(owner: object, name: str, value: object, *, low: int) -> int:
    """Return ``value`` as an int if it is an integer ``>= low``."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise _fail(owner, name, f"an integer >= {low}", value)
    return int(value)


def check_option(owner: object, name: str, value: object, options: Collection[str]) -> str:
    """Return ``value`` if it is one of ``options``."""
    if not isinstance(value, str) or value not in options:
        raise _fail(owner, name, "one of " + ", ".join(repr(o) for o in sorted(options)), value)
    return value
