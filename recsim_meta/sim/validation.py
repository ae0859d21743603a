"""One validation path for the fields of the frozen dataclasses that configure the simulator (``DomainConfig``,
``Task``, the specs of attributes, entities, relations, traits, utility terms, suitability and social graphs) and
the configs of the experiments, driven by each field's declared type and its range.

A field annotated ``int`` takes a Python or numpy integer (not a bool, not a float, even ``3.0``); ``float``
takes any finite real number (not a bool, NaN or infinity); ``str``, ``bool``, a class, ``X | None`` and
``tuple[X, ...]`` (a list is taken as a tuple) are what they say. A range bounds a number, and each item of
a tuple of numbers. Every failure is a ``ValueError`` that names the field, shows the value (shortened) and
says what is accepted; numpy scalars are stored as Python numbers.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Range:
    """An interval of accepted numbers: ``[low, high]``, the ends excluded where ``open_low`` / ``open_high``."""

    low: float = -math.inf
    high: float = math.inf
    open_low: bool = False
    open_high: bool = False

    def __contains__(self, value: float) -> bool:
        above = value > self.low if self.open_low else value >= self.low
        below = value < self.high if self.open_high else value <= self.high
        return above and below

    def __str__(self) -> str:
        low, high = _number(self.low), _number(self.high)
        if self.high == math.inf:
            return f"{'>' if self.open_low else '>='} {low}"
        if self.low == -math.inf:
            return f"{'<' if self.open_high else '<='} {high}"
        return f"in {'(' if self.open_low else '['}{low}, {high}{')' if self.open_high else ']'}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


POSITIVE = Range(0.0, math.inf, open_low=True)
NON_NEGATIVE = Range(0.0)
UNIT = Range(0.0, 1.0)


def shown(value: Any, limit: int = 80) -> str:
    """``repr(value)``, shortened to ``limit`` characters (an array or a long list says its size)."""
    if isinstance(value, np.ndarray) and value.size > 8:
        return f"array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, (list, tuple)) and len(value) > 8:
        return f"{type(value).__name__} of {len(value)} items starting {value[:3]!r}"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_integer(name: str, value: Any, bounds: Range | None = None) -> int:
    """``value`` as a Python int: a Python or numpy integer (not a bool) within ``bounds``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {shown(value)} ({type(value).__name__})")
    value = int(value)
    if bounds is not None and value not in bounds:
        raise ValueError(f"{name} must be {bounds}, got {shown(value)}")
    return value


def check_number(name: str, value: Any, bounds: Range | None = None) -> float:
    """``value`` as a Python float: a finite real number (not a bool) within ``bounds``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {shown(value)} ({type(value).__name__})")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {shown(value)}")
    if bounds is not None and number not in bounds:
        raise ValueError(f"{name} must be {bounds}, got {shown(value)}")
    return number


def check_value(name: str, value: Any, annotation: str, classes: dict[str, Any], bounds: Range | None) -> Any:
    """``value`` checked against the type ``annotation`` (names resolved in ``classes``) and ``bounds``."""
    options = [option.strip() for option in annotation.split("|")]
    if "None" in options:
        if value is None:
            return None
        options.remove("None")
    kind = " | ".join(options)
    if kind.startswith("tuple["):
        item = kind[len("tuple[") : -1].split(",")[0].strip()
        if not isinstance(value, (tuple, list)):
            raise ValueError(f"{name} must be a tuple of {item}, got {shown(value)} ({type(value).__name__})")
        return tuple(check_value(f"{name}[{i}]", entry, item, classes, bounds) for i, entry in enumerate(value))
    if kind == "int":
        return check_integer(name, value, bounds)
    if kind == "float":
        return check_number(name, value, bounds)
    if kind == "bool":
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{name} must be True or False, got {shown(value)}")
        return bool(value)
    if kind == "str":
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string, got {shown(value)} ({type(value).__name__})")
        return value
    if kind.startswith("dict["):
        if not isinstance(value, dict):
            raise ValueError(f"{name} must be a mapping, got {shown(value)} ({type(value).__name__})")
        return value
    if kind == "Any":
        return value
    expected = classes.get(kind)
    if expected is None:
        raise TypeError(f"cannot check {name}: unknown annotation {annotation!r}")
    if not isinstance(value, expected):
        missing = "" if "None" not in annotation else " or None"
        raise ValueError(f"{name} must be a {kind}{missing}, got {shown(value)} ({type(value).__name__})")
    return value


def check_fields(instance: Any, ranges: dict[str, Range] | None = None, prefix: str = "") -> None:
    """Check every field of the frozen dataclass ``instance`` (its annotation, and ``ranges[name]``), storing
    normalised values (numpy scalars as Python numbers, lists as tuples); errors name ``prefix + field``."""
    classes = vars(sys.modules[type(instance).__module__])
    for field in dataclasses.fields(instance):
        value = getattr(instance, field.name)
        checked = check_value(prefix + field.name, value, field.type, classes, (ranges or {}).get(field.name))
        if checked is not value:
            object.__setattr__(instance, field.name, checked)


def check_choice(name: str, value: Any, accepted: tuple[str, ...] | list[str] | dict) -> str:
    """``value`` when it is one of ``accepted``, else a ``ValueError`` listing them."""
    if not isinstance(value, str) or value not in accepted:
        raise ValueError(f"unknown {name} {shown(value)}; accepted: {', '.join(accepted)}")
    return value
