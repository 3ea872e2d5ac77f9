"""The watched table's name (`AUTO_SCALER_REACT_TABLE`), parsed once and quoted for SQL.

A part written plainly (`mailboxes`) is folded to lower case, as PostgreSQL folds an unquoted
name; a part in double quotes (`"Mail Boxes"`, `""` for a quote inside) is kept exactly. Every
use in SQL goes through `sql`, which quotes each part, so no name can inject anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["TABLE_NAME_ALLOWED", "TableName", "parse_table_name"]

MAX_PART_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1: longer names are silently truncated there
TABLE_NAME_ALLOWED = (
    "a table name, optionally schema-qualified: mailboxes or app.mailboxes (letters, digits, "
    '_ and $, not starting with a digit; put other names in double quotes, e.g. app."Mail Boxes")'
)
_PART = re.compile(r'([A-Za-z_][A-Za-z0-9_$]*)|"((?:[^"\x00]|"")+)"')


@dataclass(frozen=True, kw_only=True)
class TableName:
    """A table as the database names it: `name` in `schema` (None: the search path's)."""

    schema: str | None
    name: str

    @property
    def sql(self) -> str:
        """The name quoted for SQL: `"app"."mailboxes"`."""
        return ".".join(_quote(part) for part in (self.schema, self.name) if part is not None)

    def __str__(self) -> str:
        return ".".join(
            part if re.fullmatch(r"[a-z_][a-z0-9_$]*", part) else _quote(part)
            for part in (self.schema, self.name)
            if part is not None
        )


def parse_table_name(text: str) -> TableName:
    """Parse `name` or `schema.name`; raises ValueError saying what is wrong."""
    parts: list[str] = []
    rest = text.strip()
    while True:
        found = _PART.match(rest)
        if found is None:
            raise ValueError(f"must be {TABLE_NAME_ALLOWED}")
        plain, quoted = found.groups()
        part = plain.lower() if plain is not None else quoted.replace('""', '"')
        try:
            size = len(part.encode())
        except UnicodeEncodeError:  # a lone surrogate: undecodable bytes in the environment
            raise ValueError(f"{part!r} is not valid UTF-8 text") from None
        if size > MAX_PART_BYTES:
            raise ValueError(f"'{part}' is longer than {MAX_PART_BYTES} bytes, PostgreSQL's limit")
        parts.append(part)
        rest = rest[found.end() :]
        if not rest:
            break
        if not rest.startswith(".") or len(parts) == 2:
            raise ValueError(f"must be {TABLE_NAME_ALLOWED}")
        rest = rest[1:]
    if len(parts) == 1:
        return TableName(schema=None, name=parts[0])
    return TableName(schema=parts[0], name=parts[1])


def _quote(part: str) -> str:
    return '"' + part.replace('"', '""') + '"'
