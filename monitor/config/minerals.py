"""``minerals.yaml``: the monitored minerals, their names in each language, lists and USGS tables."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
    model_validator,
)

from monitor.config.common import Identifier, StrictModel, listing, quote

# --------------------------------------------------------------------------- minerals

#: Languages of ``names_i18n`` (English and Chinese have their own fields).
I18nLanguage = Literal["fr", "es", "pt", "de", "id", "ja"]


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
    notes: str = ""



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
