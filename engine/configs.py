"""Build method config dataclasses from strings (CLI ``--set key=value``) with their declared types."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    name: str
    type: Any
    default: Any


def config_fields(config_type: type) -> list[FieldSpec]:
    hints = typing.get_type_hints(config_type)
    out = []
    for f in dataclasses.fields(config_type):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = None
        out.append(FieldSpec(f.name, hints.get(f.name, str), default))
    return out


def _parse_scalar(text: str, tp: Any) -> Any:
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if text.lower() in ("none", "null", ""):
            return None
        return _parse_scalar(text, args[0])
    if origin in (tuple, list):
        inner = args[0] if args else str
        items = [s for s in text.replace(" ", "").split(",") if s]
        values = [_parse_scalar(s, inner) for s in items]
        return tuple(values) if origin is tuple else values
    if tp is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"not a boolean: {text!r}")
    if tp in (int, float, str):
        return tp(text)
    return text


def build_config(config_type: type, overrides: dict[str, str]) -> Any:
    """``config_type(**defaults, **parsed overrides)``; unknown keys raise a ValueError naming the valid ones."""
    fields = {f.name: f for f in config_fields(config_type)}
    values = {}
    for key, text in overrides.items():
        if key not in fields:
            raise ValueError(f"{config_type.__name__} has no setting {key!r}; valid: {', '.join(fields)}")
        try:
            values[key] = _parse_scalar(text, fields[key].type)
        except ValueError as exc:
            raise ValueError(f"bad value for {key}: {exc}") from None
    return config_type(**values)


def parse_set_args(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ValueError(f"expected key=value, got {pair!r}")
        k, v = pair.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def config_from_dict(config_type: type, values: dict) -> Any:
    """Rebuild a config saved with ``asdict`` (checkpoints); keys this version no longer knows are dropped
    and list values become tuples where the field is declared as a tuple."""
    fields = {f.name: f for f in config_fields(config_type)}
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            continue
        if isinstance(value, list) and typing.get_origin(fields[key].type) is tuple:
            value = tuple(value)
        kwargs[key] = value
    return config_type(**kwargs)
