"""YAML files: mappings read with clear errors, and configs of frozen dataclasses whose unknown keys are named
with the accepted ones."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import yaml

Config = TypeVar("Config")


def read_mapping(path: str | Path, what: str = "config") -> dict[str, Any]:
    """The YAML mapping in ``path`` (empty for an empty file); ``ValueError`` naming a file that cannot be read
    or parsed, or that holds something else than a mapping. ``what`` names the file in the message."""
    try:
        values = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"cannot read the {what} {path}: {error}") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold a mapping of {what} keys, got {type(values).__name__}")
    return values


def read_config(cls: type[Config], path: str | Path, **overrides: Any) -> Config:
    """``cls(**values)`` from the mapping in ``path`` updated with ``overrides`` (a dotted key such as
    ``adaptation.memory`` sets one key of a mapping value); ``ValueError`` naming a file that cannot be read, a
    file that is not a mapping, a dotted key whose value is not a mapping, or unknown keys (with the accepted
    ones)."""
    values = read_mapping(path)
    for key, value in overrides.items():
        head, dot, rest = key.partition(".")
        if not dot:
            values[key] = value
        elif isinstance(values.get(head, {}), dict):
            values[head] = {**values.get(head, {}), rest: value}
        else:
            raise ValueError(f"{path}: cannot set {key!r}: {head!r} is {values[head]!r}, not a mapping")
    accepted = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(accepted))
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; accepted: {', '.join(accepted)}")
    return cls(**values)


def config_yaml(config: Any) -> str:
    """The YAML ``read_config`` reads back into an equal config (tuples written as lists)."""
    values = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}
    return yaml.safe_dump(values, sort_keys=False)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["key=value", ...]`` (a command line's ``--set``) as a mapping, each value read as YAML (``6`` an int,
    ``[0, 5]`` a list, ``1e-3`` a float); ``ValueError`` naming an item without ``=``."""
    overrides = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not key:
            raise ValueError(f"--set takes KEY=VALUE, got {item!r}")
        overrides[key] = yaml.safe_load(value)
        if isinstance(overrides[key], str):  # YAML 1.1 reads 1e-3 as a string (it wants 1.0e-3)
            try:
                overrides[key] = float(value)
            except ValueError:
                pass
    return overrides


class _OverridesAction(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None) -> None:
        try:
            setattr(namespace, self.dest, parse_overrides(values))
        except ValueError as error:
            parser.error(str(error))


def add_overrides_argument(parser: argparse.ArgumentParser) -> None:
    """A ``--set KEY=VALUE ...`` option whose value is the mapping of ``parse_overrides`` (``{}`` when absent); a
    bad item is a usage error that names it."""
    parser.add_argument(
        "--set",
        nargs="+",
        default={},
        metavar="KEY=VALUE",
        action=_OverridesAction,
        help="config keys to override (YAML values)",
    )
