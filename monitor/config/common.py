"""What every config file shares: durations, sizes, bounded field types, strict models, secrets.

Durations are written ``30s``, ``5m``, ``8h``, ``7d``, ``1w``; sizes ``20MB``, ``512KiB``. Every
duration and size field has its own bounds (an ``Annotated`` type here), so an absurd value is a
named error, never an overflow. A secret is a reference (``${ENV_VAR}`` or ``{file: PATH}``),
never a value; :func:`refuse_inline_secrets` refuses one written inline. Errors quote at most
``QUOTE_MAX`` characters of a value.
"""

from __future__ import annotations

import math
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    model_validator,
)

from monitor.core.untrusted import clean_text

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")

_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$", re.IGNORECASE)

_SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20,
               "gib": 2**30}

_ENV_REF_RE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")

URL_REF_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

_ID_RE = r"^[a-z][a-z0-9_]*$"

#: The most characters of a value an error message quotes.
QUOTE_MAX = 80

#: The longest duration ``parse_duration`` returns: far below timedelta's limit.
MAX_DURATION = timedelta(days=36500)



def quote(value: object) -> str:
    """``value`` quoted for an error message: one line, no control characters, bounded."""
    text = value if isinstance(value, str) else str(value)
    return repr(clean_text(text[: QUOTE_MAX * 4], limit=QUOTE_MAX))



def listing(items: Iterable[object], *, most: int = 10) -> str:
    """``a, b, c`` for an error message: each name bounded, at most ``most`` of them."""
    listed = list(items)
    shown = ", ".join(clean_text(item, limit=QUOTE_MAX) for item in listed[:most])
    return shown + (f" and {len(listed) - most} more" if len(listed) > most else "")



def _duration_seconds(value: object) -> float:
    """Seconds in a duration, possibly inf or nan; ValueError when it is not a duration."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _as_float(value)
    match = _DURATION_RE.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"bad duration {quote(value)}: use a number and a unit, e.g. 30s, 5m, "
                         "4h, 7d")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]



def _as_float(number: float) -> float:
    try:
        return float(number)
    except OverflowError:  # an int too large for a float
        return math.inf if number > 0 else -math.inf



def parse_duration(value: object) -> timedelta:
    """Parse ``"30s"``, ``"5m"``, ``"4h"``, ``"7d"``, ``"1w"`` (or a number of seconds).

    A duration is between 0 and ``MAX_DURATION``; anything else is a ValueError, never an
    OverflowError.
    """
    seconds = _duration_seconds(value)
    if not 0 <= seconds <= MAX_DURATION.total_seconds():  # also false for nan
        raise ValueError(f"duration {quote(value)} is out of range: use 0s to "
                         f"{format_duration(MAX_DURATION)}")
    return timedelta(seconds=seconds)



def duration_between(low: str, high: str) -> Callable[[object], timedelta]:
    """A validator: a duration from ``low`` to ``high`` (both included), or a ValueError."""
    bounds = (parse_duration(low).total_seconds(), parse_duration(high).total_seconds())

    def check(value: object) -> timedelta:
        seconds = _duration_seconds(value)
        if not bounds[0] <= seconds <= bounds[1]:  # also false for nan
            raise ValueError(f"must be between {low} and {high}, got {quote(value)}")
        return timedelta(seconds=seconds)

    return check



def format_duration(delta: timedelta) -> str:
    """Render a timedelta the way config files write it (``"4h"``, ``"90s"``)."""
    seconds = delta.total_seconds()
    if seconds == 0:
        return "0s"
    for unit in ("w", "d", "h", "m", "s"):
        size = _DURATION_UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"



def _size_bytes(value: object) -> float:
    """Bytes in a size, possibly inf; ValueError when it is not a size."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _as_float(value)
    match = _SIZE_RE.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"bad size {quote(value)}: use e.g. 20MB, 512KiB")
    return float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()]



def parse_size(value: object) -> int:
    """Parse a byte size: ``20MB``, ``512KiB`` or a plain number of bytes (at most 1 TiB)."""
    size = _size_bytes(value)
    if not 0 <= size <= 2**40:
        raise ValueError(f"size {quote(value)} is out of range: use 0 to 1TiB")
    return int(size)



def size_between(low: str, high: str) -> Callable[[object], int]:
    """A validator: a byte size from ``low`` to ``high`` (both included), or a ValueError."""
    bounds = (parse_size(low), parse_size(high))

    def check(value: object) -> int:
        size = _size_bytes(value)
        if not bounds[0] <= size <= bounds[1]:
            raise ValueError(f"must be between {low} and {high}, got {quote(value)}")
        return int(size)

    return check



Duration = Annotated[timedelta, BeforeValidator(parse_duration)]

ByteSize = Annotated[int, BeforeValidator(parse_size)]

Identifier = Annotated[str, Field(pattern=_ID_RE)]


# Bounds of every duration and size in the config files: wide enough for any real use, narrow
# enough that no value overflows a datetime, parks a job for centuries or spins a loop.
PollInterval = Annotated[timedelta, BeforeValidator(duration_between("1s", "90d"))]

Jitter = Annotated[timedelta, BeforeValidator(duration_between("0s", "90d"))]

Timeout = Annotated[timedelta, BeforeValidator(duration_between("1s", "10m"))]

FetchSize = Annotated[int, BeforeValidator(size_between("1KiB", "1GiB"))]

PublicationLag = Annotated[timedelta, BeforeValidator(duration_between("0s", "730d"))]

StaleAfter = Annotated[timedelta, BeforeValidator(duration_between("1m", "3650d"))]

Retention = Annotated[timedelta, BeforeValidator(duration_between("1d", "36500d"))]

AlertHold = Annotated[timedelta, BeforeValidator(duration_between("0s", "365d"))]

Window = Annotated[timedelta, BeforeValidator(duration_between("0s", "365d"))]

LongWindow = Annotated[timedelta, BeforeValidator(duration_between("1m", "3650d"))]

HalfLife = Annotated[timedelta, BeforeValidator(duration_between("1h", "3650d"))]

GroupWait = Annotated[timedelta, BeforeValidator(duration_between("0s", "1d"))]

GroupInterval = Annotated[timedelta, BeforeValidator(duration_between("0s", "7d"))]

RepeatInterval = Annotated[timedelta, BeforeValidator(duration_between("1m", "365d"))]

Backoff = Annotated[timedelta, BeforeValidator(duration_between("1s", "7d"))]

GiveUpAfter = Annotated[timedelta, BeforeValidator(duration_between("1m", "90d"))]



class StrictModel(BaseModel):
    """A frozen model that rejects unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)



# --------------------------------------------------------------------------- secrets


class SecretRef(StrictModel):
    """Where a secret comes from: an environment variable or a file (e.g. a systemd credential).

    In YAML a secret is written ``${SLACK_BOT_TOKEN}`` or ``{file: /run/credentials/x/token}``;
    the value is resolved when the config is loaded and never stored or printed.
    """

    env: str | None = None
    file: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: object) -> object:
        if isinstance(value, str):
            match = _ENV_REF_RE.match(value.strip())
            if not match:
                raise ValueError(
                    "a secret must be written as ${ENV_VAR} or {file: PATH}, never inline"
                )
            return {"env": match.group(1)}
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret needs exactly one of env or file")
        return self

    def describe(self) -> str:
        """Say where the secret comes from, without its value."""
        return f"${{{self.env}}}" if self.env else f"file {self.file}"

    def resolve(self, environ: Mapping[str, str], credentials_dir: str | None) -> SecretStr:
        """Read the secret value, or raise ValueError saying what is missing."""
        if self.env:
            value = environ.get(self.env)
            if not value:
                raise ValueError(f"environment variable {self.env} is not set")
            return SecretStr(value)
        assert self.file is not None
        path = Path(self.file)
        if not path.is_absolute() and credentials_dir:
            path = Path(credentials_dir) / path
        try:
            return SecretStr(path.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None



_SECRET_WORDS = ("key", "token", "secret", "signature", "password", "passwd", "passphrase",
                 "credential", "credentials")



def is_secret_name(name: str) -> bool:
    """Whether a query parameter name says its value is a secret.

    ``api_key``, ``apiKey``, ``access_token``, ``X-Amz-Signature``, ``client_secret``,
    ``password``, ``sig``, ``auth``; not ``keyword`` or ``author``.
    """
    words = re.split(r"[^a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower())
    return any(word in ("sig", "pwd", "auth") or word.endswith(_SECRET_WORDS)
               or word.startswith("passw") for word in words)



def refuse_inline_secrets(url: str) -> None:
    """Raise ValueError when ``url`` holds a secret written out instead of ``${ENV_VAR}``.

    A password in the userinfo and the value of a secret-looking query parameter (see
    :func:`is_secret_name`) must each be exactly one reference. The message names the
    parameter, never its value.
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"cannot parse the url: {clean_text(exc, limit=QUOTE_MAX)}") from None
    if parts.password and not _ENV_REF_RE.match(parts.password):
        raise ValueError("the url holds a password inline: write it as ${ENV_VAR} "
                         "(https://user:${API_PASSWORD}@host/...) and set the variable")
    for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if value and is_secret_name(name) and not _ENV_REF_RE.match(value):
            raise ValueError(f"query parameter {quote(name)} holds a secret inline: write its "
                             "value as ${ENV_VAR} (e.g. api_key=${FRED_API_KEY}) and set the "
                             "variable")
