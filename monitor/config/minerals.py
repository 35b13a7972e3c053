"""``minerals.yaml``: the monitored minerals, their names in each language, lists and USGS tables."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from monitor.config.common import Identifier, StrictModel, listing, quote

# --------------------------------------------------------------------------- minerals

#: Languages of ``names_i18n`` (English and Chinese have their own fields).
I18nLanguage = Literal["fr", "es", "pt", "de", "id", "ja"]


class HsCode(StrictModel):
    """One customs code of a mineral: HS6 (international) or a national 8/10-digit line.

    ``stage`` says which form it covers; ``editions`` the HS editions (or ``HTS`` for a US
    line) in which the code means this; ``shared`` marks a code that covers other minerals too
    (HS 8112.92: gallium, germanium, indium, niobium, vanadium). See docs/trade.md.
    """

    code: str
    stage: Literal["ore", "compound", "metal", "scrap"]
    editions: tuple[str, ...] = ("HS2022",)
    shared: bool = False
    what: str = ""

    @field_validator("code")
    @classmethod
    def _digits(cls, code: str) -> str:
        if not code.isdigit() or len(code) not in (4, 6, 8, 10):
            raise ValueError(f"an HS code is 4, 6, 8 or 10 digits, got {quote(code)}")
        return code


class Mineral(StrictModel):
    """One mineral (or a group such as rare earths) that critmon watches."""

    id: Identifier
    name: str
    name_zh: str
    symbol: str | None = None
    aliases: tuple[str, ...] = ()
    aliases_zh: tuple[str, ...] = ()
    #: Names in other languages for news tagging: ``{fr: [cobalt?, "!bleu de cobalt"], ...}``;
    #: ``?`` = needs commodity context in that language, ``!`` = a confusable phrase.
    names_i18n: dict[I18nLanguage, tuple[str, ...]] = Field(default_factory=dict)
    ambiguous: bool = False
    lists: tuple[int, ...] = ()
    unit: str = ""
    group: str | None = None
    members: tuple[str, ...] = ()
    usgs: tuple[str, ...] = ()
    hs: tuple[HsCode, ...] = ()
    notes: str = ""

    @property
    def hs_codes(self) -> tuple[str, ...]:
        """The mineral's customs codes, in file order, without repeats."""
        return tuple(dict.fromkeys(h.code for h in self.hs))



class MineralsFile(StrictModel):
    version: Literal[1] = 1
    minerals: tuple[Mineral, ...]

    @model_validator(mode="after")
    def _consistent(self) -> MineralsFile:
        ids = [m.id for m in self.minerals]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate mineral ids: {listing(duplicates)}")
        known = set(ids)
        for mineral in self.minerals:
            for ref in (*mineral.members, *([mineral.group] if mineral.group else [])):
                if ref not in known:
                    raise ValueError(f"mineral {quote(mineral.id)} refers to unknown mineral "
                                     f"{quote(ref)}")
        return self
