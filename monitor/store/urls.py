"""Where the store lives: an SQLite file (a path) or a PostgreSQL database (a URL).

No driver is imported here, so ``critmon`` on SQLite never loads psycopg.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

URL_SCHEMES = ("postgresql://", "postgres://")

#: A store target: a path to the SQLite file, or a ``postgresql://`` URL.
StoreTarget = str | os.PathLike[str]


def is_pg_url(target: object) -> bool:
    """Whether ``target`` names a PostgreSQL database (``postgresql://...``)."""
    return isinstance(target, str) and target.startswith(URL_SCHEMES)


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (for logs, errors and the console)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "postgresql://***"
    if password is None:
        return url
    user = parts.username or ""
    netloc = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, f"{user}:***@{netloc}", parts.path, parts.query,
                       parts.fragment))


def describe_target(target: StoreTarget) -> str:
    """How to name the store in a message: the path, or the URL without its password."""
    return redact_url(target) if is_pg_url(target) else str(target)
