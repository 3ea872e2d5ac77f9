"""How a setting is declared once: its type, default and bounds, from which its error text derives.

A group of settings is a `SettingsGroup`: one pydantic-settings class whose fields read
`<env_prefix><FIELD>` (or the field's alias) from the environment and `.env`. A bound is written
once, in the field (`Field(5000, gt=0)`), and `allowed()` turns it into the tail of the error
message ("must be a whole number of milliseconds greater than 0 (e.g. 5000)").
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple, get_args, get_origin

import annotated_types as at
from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ENV_PREFIX", "Problem", "SettingsGroup", "describe"]

ENV_PREFIX = "AUTO_SCALER_"
UNITS = {"_ms": "milliseconds", "_days": "days"}
MASK = "********"


class Problem(NamedTuple):
    """A bad value: the field reported, what is wrong, and the other fields the rule compares it
    with (the rule is not judged when one of them is itself invalid)."""

    field: str
    message: str
    involves: tuple[str, ...] = ()


class SettingsGroup(BaseSettings):
    """Settings of one part of the system, read from the environment and `.env`.

    Subclasses set `env_prefix` (default `AUTO_SCALER_`); a field with a `validation_alias`
    reads that variable instead. `problems()` returns what involves several fields or the shape
    of a value; the bounds of single values are in the fields.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        frozen=True,
    )
    # What each string field allows, for those whose rule is not a bound (shown after "must be").
    ALLOWED: ClassVar[dict[str, str]] = {}

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable that sets `field`."""
        alias = cls.model_fields[field].validation_alias
        if isinstance(alias, str):
            return alias
        if isinstance(alias, AliasChoices):
            return str(alias.choices[0])
        return str(cls.model_config.get("env_prefix", ENV_PREFIX)) + field.upper()

    @classmethod
    def env_names(cls) -> list[str]:
        return [cls.env_name(f) for f in cls.model_fields]

    @classmethod
    def allowed(cls, field: str) -> str:
        """What `field` accepts, as the tail of "must be ..."."""
        if field in cls.ALLOWED:
            return cls.ALLOWED[field]
        return describe(field, cls.model_fields[field])

    def problems(self) -> list[Problem]:
        """Problems that involve several fields or the shape of a value."""
        return []

    @classmethod
    def shown(cls, field: str, value: object) -> str:
        """`value` of `field` as an error message may show it: secrets masked."""
        if (
            isinstance(value, SecretStr)
            or _base_type(cls.model_fields[field].annotation) is SecretStr
        ):
            return MASK if value else "(empty)"
        return str(value)

    def public_items(self) -> Iterator[tuple[str, Any]]:
        """(variable, value) for every field, secrets masked."""
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = MASK if value.get_secret_value() else None
            elif isinstance(value, Path):
                value = str(value)
            yield type(self).env_name(name), value


def describe(name: str, info: FieldInfo) -> str:
    """The rule a field's type and bounds make, e.g. 'a whole number of at least 1 (e.g. 10)'."""
    kind = _base_type(info.annotation)
    if kind is bool:
        return "true or false"
    if get_origin(kind) is Literal:
        words = [str(a) for a in get_args(kind)]
        return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]
    if kind not in (int, float):
        return "a valid value"
    unit = next((u for suffix, u in UNITS.items() if name.endswith(suffix)), "")
    noun = "a whole number" if kind is int else "a number"
    zero = _extra(info, "zero")
    text = noun + (f" of {unit}" if unit else "") + _range(info.metadata, zero, bool(unit))
    default = info.default
    if isinstance(default, int | float) and not isinstance(default, bool) and default:
        text += f" (e.g. {default:g})" if kind is float else f" (e.g. {default})"
    return text


def _range(metadata: list[Any], zero: str | None, has_unit: bool) -> str:
    low: Any = None
    high: Any = None
    low_open = False
    for m in metadata:
        if isinstance(m, at.Ge):
            low = m.ge
        elif isinstance(m, at.Gt):
            low, low_open = m.gt, True
        elif isinstance(m, at.Le):
            high = m.le
    zero_word = f"0 ({zero})" if zero else "0"
    if low is not None and high is not None:
        if low_open:
            return f" greater than {low} and at most {high}"
        return f" from {zero_word if low == 0 else low} to {high}"
    if low is not None:
        if low_open:
            return f" greater than {low}"
        if low == 0:
            return f", {zero_word} or more"
        return f", at least {low}" if has_unit else f" of at least {low}"
    if high is not None:
        return f" of at most {high}"
    return ""


def _extra(info: FieldInfo, key: str) -> str | None:
    extra = info.json_schema_extra
    value = extra.get(key) if isinstance(extra, dict) else None
    return str(value) if value is not None else None


def _base_type(annotation: Any) -> Any:
    """`X` for `X | None`, `Optional[X]` and `X`."""
    if get_origin(annotation) in (types.UnionType, typing.Union):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation
