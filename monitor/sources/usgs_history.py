"""Earlier USGS Mineral Commodity Summaries editions, fetched on demand (``critmon data fetch``).

Only the MCS 2026 release is bundled, so without this the supply-risk score has no structural
factor (world production by country, net import reliance) before February 2026. Each MCS
edition since 2020 is a USGS data release on ScienceBase. This module fetches an edition's
long-format release table (the layout of the bundled ``MCS2026_Commodities_Data.csv``), parses
it with the MCS 2026 parser (:func:`monitor.sources.usgs.parse_mcs_commodities`: same
qualifiers, same series names) and stores it under the source ``usgs_mcs{edition}`` with the
edition's real publication date (:func:`monitor.sources.bundled.mcs_published_at`: end of
January of the edition's year), so ``--as-of``, the report and the backtest see it only from
then on.

Where an edition comes from, first match wins:

1. ``--url EDITION=URL``: a CSV, or a zip holding one ``*Commodities_Data*.csv`` (http, https
   or a file:// path to a file downloaded by hand);
2. its ScienceBase item (:data:`MCS_SCIENCEBASE_ITEMS`): the item's JSON file list
   (``https://www.sciencebase.gov/catalog/item/<id>?format=json``) is read and the file whose
   name matches :data:`RELEASE_FILE_PATTERN` is fetched, with the same rules as a link found on
   a landing page (http(s) only; no internal address from a public page).

An edition whose item has no long-format table (the releases of 2022-2024 ship one world-data
CSV per commodity instead) fails with a message saying so; nothing stored is touched by a
failed edition.
"""

from __future__ import annotations

import io
import json
import re
import urllib.parse
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from monitor.core.errors import MonitorError, SourceError, SourceFormatError
from monitor.core.models import Measure, Observation
from monitor.core.untrusted import clean_text
from monitor.sources.bundled import mcs_published_at, mcs_source
from monitor.sources.http import redact_url
from monitor.sources.polling import Fetcher
from monitor.sources.usgs import build_commodity_map, parse_mcs_commodities
from monitor.store.database import Store

__all__ = [
    "FIRST_EDITION",
    "MCS_SCIENCEBASE_ITEMS",
    "RELEASE_FILE_PATTERN",
    "SCIENCEBASE_ITEM_URL",
    "EditionResult",
    "fetch_mcs_editions",
    "parse_editions",
    "parse_release",
    "sciencebase_file_url",
]

#: The first MCS edition published as a data release.
FIRST_EDITION = 2020
#: ScienceBase items of the MCS data releases (DOIs in docs/sources.md). 2020 and 2021 have no
#: item here: pass ``--url`` for them.
MCS_SCIENCEBASE_ITEMS: Mapping[int, str] = {
    2022: "6197ccbed34eb622f692ee1c",  # doi:10.5066/P9KKMCP4
    2023: "63b5f411d34e92aad3caa57f",  # doi:10.5066/P9WCYUI6
    2024: "65a6e45fd34e5af967a46749",  # doi:10.5066/P144BA54
    2025: "677eaf95d34e760b392c4970",  # doi:10.5066/P13XCP3R
    2026: "696a75d5d4be0228872d3bf8",  # doi:10.5066/P1WKQ63T
}
SCIENCEBASE_ITEM_URL = "https://www.sciencebase.gov/catalog/item/{item}?format=json"
#: The long-format release table inside an item (or inside a zip).
RELEASE_FILE_PATTERN = r"(?i)commodities[_ ]data[^/]*\.(csv|zip)$"
#: Bounds: the MCS 2026 table is 3.2 MB; an item's JSON a few hundred kB.
MAX_RELEASE_BYTES = 64_000_000
MAX_ITEM_BYTES = 5_000_000
MAX_UNZIPPED_BYTES = 128_000_000


@dataclass(frozen=True, slots=True)
class EditionResult:
    """What fetching one edition did."""

    edition: int
    source: str
    ok: bool
    url: str = ""
    published_at: date | None = None
    rows: int = 0
    changed: int = 0
    production_rows: int = 0
    error: str = ""


def parse_editions(text: str, *, last: int) -> list[int]:
    """``2020-2026``, ``2022``, ``2020,2023-2024`` -> sorted editions; ValueError otherwise."""
    editions: set[int] = set()
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d{4})\s*(?:-\s*(\d{4})\s*)?", part)
        if not match:
            raise ValueError(f"not an edition or range: {part.strip()!r} (use 2020-2026)")
        low, high = int(match[1]), int(match[2] or match[1])
        if low > high:
            raise ValueError(f"empty range {low}-{high}")
        if low < FIRST_EDITION or high > last:
            raise ValueError(f"editions run from {FIRST_EDITION} to {last}, not {low}-{high}")
        editions.update(range(low, high + 1))
    return sorted(editions)


def sciencebase_file_url(body: bytes, *, pattern: str, item_url: str, source: str) -> str:
    """The download URL of the first file of a ScienceBase item JSON whose name matches."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceFormatError(f"{source}: the ScienceBase item is not JSON "
                                f"({len(body)} bytes)", source=source,
                                url=redact_url(item_url)) from exc
    files = document.get("files") if isinstance(document, dict) else None
    if not isinstance(files, list):
        raise SourceFormatError(f"{source}: the ScienceBase item has no file list",
                                source=source, url=redact_url(item_url))
    regex = re.compile(pattern)
    for entry in files:
        if not isinstance(entry, dict):
            continue
        name, url = entry.get("name"), entry.get("downloadUri") or entry.get("url")
        if isinstance(name, str) and isinstance(url, str) and regex.search(name):
            return urllib.parse.urljoin(item_url, url)
    raise SourceFormatError(
        f"{source}: no long-format release table (a file matching {pattern!r}) among the "
        f"{len(files)} files of the ScienceBase item; this edition may be published per "
        f"commodity only: give --url EDITION=URL to a table in the MCS 2026 layout",
        source=source, url=redact_url(item_url))


def parse_release(body: bytes, *, edition: int, commodity_map: Mapping[str, str]
                  ) -> list[Observation]:
    """One edition's release table (a CSV, or a zip holding one) as dated observations."""
    source = mcs_source(edition)
    table = _unzip_release(body, source) if body.startswith(b"PK\x03\x04") else body
    head = table.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head == b"<":
        raise SourceFormatError(f"{source}: expected the release CSV, got HTML/XML of "
                                f"{len(table)} bytes", source=source)
    observations = parse_mcs_commodities(table, source=source, commodity_map=commodity_map,
                                         published_at=mcs_published_at(edition))
    if not observations:
        raise SourceFormatError(f"{source}: no rows of a watched commodity in the release "
                                f"table", source=source)
    return observations


def _unzip_release(body: bytes, source: str) -> bytes:
    """The one ``*Commodities_Data*.csv`` in a zip, within the size bounds."""
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            members = [i for i in archive.infolist()
                       if re.search(r"(?i)commodities[_ ]data[^/]*\.csv$", i.filename)]
            if len(members) != 1:
                raise SourceFormatError(
                    f"{source}: the zip holds {len(members)} files named like "
                    f"*Commodities_Data*.csv (expected one) among {len(archive.infolist())}",
                    source=source)
            member = members[0]
            if member.file_size > MAX_UNZIPPED_BYTES:
                raise SourceFormatError(f"{source}: the release table unzips to more than "
                                        f"{MAX_UNZIPPED_BYTES} bytes", source=source)
            with archive.open(member) as handle:
                data = handle.read(MAX_UNZIPPED_BYTES + 1)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError,
            RuntimeError) as exc:  # corrupt, truncated, unsupported or encrypted
        raise SourceFormatError(f"{source}: not a readable zip ({type(exc).__name__})",
                                source=source) from exc
    if len(data) > MAX_UNZIPPED_BYTES:
        raise SourceFormatError(f"{source}: the release table unzips to more than "
                                f"{MAX_UNZIPPED_BYTES} bytes", source=source)
    return data


def _release_url(edition: int, urls: Mapping[int, str], fetcher: Fetcher, source: str,
                 timeout_s: float, item_url: str) -> tuple[str, str | None]:
    """The URL of an edition's table and, when found on a ScienceBase item, the item's URL."""
    if edition in urls:
        return urls[edition], None
    item = MCS_SCIENCEBASE_ITEMS.get(edition)
    if item is None:
        raise SourceError(f"{source}: no default address for MCS {edition}: give --url "
                          f"{edition}=URL", source=source)
    item_url = item_url.format(item=item)
    page = fetcher.fetch(item_url, source=source, max_bytes=MAX_ITEM_BYTES, timeout_s=timeout_s)
    return sciencebase_file_url(page.body, pattern=RELEASE_FILE_PATTERN, item_url=item_url,
                                source=source), item_url


def fetch_mcs_editions(
    editions: Iterable[int], *, minerals: Sequence[tuple[str, Sequence[str]]], fetcher: Fetcher,
    store: Store, now: datetime, urls: Mapping[int, str] | None = None, timeout_s: float = 300.0,
    item_url: str = SCIENCEBASE_ITEM_URL,
) -> list[EditionResult]:
    """Fetch, parse and store each edition; one edition's failure never stops the others.

    ``minerals`` is ``[(mineral id, usgs commodity names)]`` from minerals.yaml; ``item_url``
    the ScienceBase item JSON address, ``{item}`` standing for the item id (a mirror may
    replace it). An edition is stored in one transaction after it parsed in full, so a bad
    file changes nothing.
    """
    commodity_map = build_commodity_map([(m, list(names)) for m, names in minerals])
    results = []
    for edition in editions:
        source = mcs_source(edition)
        url = ""
        try:
            url, found_on = _release_url(edition, urls or {}, fetcher, source, timeout_s,
                                         item_url)
            fetched = fetcher.fetch(url, source=source, max_bytes=MAX_RELEASE_BYTES,
                                    timeout_s=timeout_s, found_on=found_on)
            observations = parse_release(fetched.body, edition=edition,
                                         commodity_map=commodity_map)
            changed = store.save_observations(observations, fetched_at=now)
        except MonitorError as exc:
            results.append(EditionResult(edition, source, ok=False, url=redact_url(url),
                                         error=clean_text(str(exc), limit=600)))
            continue
        production = sum(1 for o in observations if o.measure is Measure.PRODUCTION)
        results.append(EditionResult(edition, source, ok=True, url=redact_url(url),
                                     published_at=mcs_published_at(edition),
                                     rows=len(observations), changed=changed,
                                     production_rows=production))
    return results
