"""A conversion point's container glob (`mozilla/*`, `Firefox::*`, `[a-c]?`), rendered once for every reader.

The glob means what `fnmatch.fnmatchcase` means, in all three renderings kept here: Python
(`container_matches`), Django (`container_q`, a `Q`) and the engine's raw SQL (`container_sql`).
Empty or `*` matches every container. No other module translates a glob.
"""

from __future__ import annotations

import re
from functools import lru_cache

from django.db.models import Q

from baloo_site.bulk import is_postgresql


def glob_to_regex(pattern: str) -> str | None:
    """A container glob as a regular expression, None if it matches nothing.

    The result means what `fnmatch.fnmatchcase` means, and reads the same in Python, PostgreSQL
    (`~`) and SQLite (Django's REGEXP): literals are escaped, `*` is any text, `?` one character,
    `[...]` a set (`[!...]` its complement, `a-z` a range), and an unclosed `[` is a plain bracket.
    """

    def literal(char: str) -> str:
        return char if char.isalnum() or char == "_" else "\\" + char

    out = ["(?s)^"]
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        i += 1
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[":
            j = i
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:
                out.append("\\[")
                continue
            content, i = pattern[i:j], j + 1
            negate = content.startswith("!")
            content = content[1:] if negate else content
            items, k = [], 0
            while k < len(content):
                if k + 2 < len(content) and content[k + 1] == "-":
                    low, high = content[k], content[k + 2]
                    if low <= high:  # a reversed range matches nothing, as in fnmatch
                        items.append(literal(low) + "-" + literal(high))
                    k += 3
                else:
                    items.append(literal(content[k]))
                    k += 1
            if not items:
                if not negate:
                    return None
                out.append(".")
                continue
            out.append(("[^" if negate else "[") + "".join(items) + "]")
        else:
            out.append(literal(char))
    out.append("$")
    return "".join(out)


def matches_everything(pattern: str | None) -> bool:
    return not pattern or pattern == "*"


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern | None:
    regex = glob_to_regex(pattern)
    return None if regex is None else re.compile(regex)


def container_matches(pattern: str | None, container: str) -> bool:
    """Whether a container matches the glob, in Python."""
    if matches_everything(pattern):
        return True
    compiled = _compiled(pattern)
    return compiled is not None and compiled.match(container or "") is not None


def container_q(pattern: str | None, *, field: str = "container") -> Q | None:
    """The glob as a condition on a model's container field: `Q()` for every container, None for none."""
    if matches_everything(pattern):
        return Q()
    regex = glob_to_regex(pattern)
    return None if regex is None else Q(**{f"{field}__regex": regex})


def container_sql(pattern: str | None, *, column: str = "a.container") -> tuple[str, list[str]] | None:
    """The glob as raw SQL on `column` with its parameters, or None when every container matches."""
    if matches_everything(pattern):
        return None
    postgresql = is_postgresql()
    if "[" not in pattern:
        if postgresql:
            escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return f"{column} LIKE %s", [escaped.replace("*", "%").replace("?", "_")]
        # SQLite's GLOB is case-sensitive and means the same as fnmatch for * and ? (LIKE is not).
        return f"{column} GLOB %s", [pattern]
    regex = glob_to_regex(pattern)
    if regex is None:
        return "1 = 0", []
    return (f"{column} ~ %s" if postgresql else f"{column} REGEXP %s"), [regex]
