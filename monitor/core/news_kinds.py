"""The vocabulary of policy-news event kinds, and which of them can restrict supply."""

from __future__ import annotations

from types import MappingProxyType

#: Every kind the classifier predicts, in the order reports list them.
NEWS_KINDS: tuple[str, ...] = (
    "export_control",
    "export_ban",
    "export_quota",
    "tariff",
    "sanction",
    "import_ban",
    "mine_disruption",
    "smelter_disruption",
    "logistics_disruption",
    "stockpile_release",
    "resource_nationalism",
    "investment_or_deal",
    "price_move",
    "demand_or_tech",
    "general_industry",
    "unread_language",  # stored, never classified: the item is in a language critmon does not read
)

#: Kinds that can be a supply-risk event (a new restriction or a physical disruption). An item
#: of another kind (a price move, a deal, a stockpile release) never is, whatever its wording;
#: an item of these kinds is one only when it tightens (lifting a ban is not).
RESTRICTING_KINDS: frozenset[str] = frozenset({
    "export_control",
    "export_ban",
    "export_quota",
    "tariff",
    "sanction",
    "import_ban",
    "mine_disruption",
    "smelter_disruption",
    "logistics_disruption",
    "resource_nationalism",
})

#: Weight of one event of each kind in ``policy_pressure`` (before the producer's share).
DEFAULT_KIND_WEIGHTS: MappingProxyType[str, float] = MappingProxyType({
    "export_ban": 1.0,
    "export_control": 0.8,
    "export_quota": 0.7,
    "sanction": 0.6,
    "resource_nationalism": 0.5,
    "mine_disruption": 0.5,
    "smelter_disruption": 0.5,
    "tariff": 0.3,
    "import_ban": 0.3,
    "logistics_disruption": 0.3,
    "stockpile_release": 0.0,
    "investment_or_deal": 0.0,
    "price_move": 0.0,
    "demand_or_tech": 0.0,
    "general_industry": 0.0,
})

#: Kinds whose new supply-risk items raise an immediate ``policy_event`` alert.
DEFAULT_ALERT_KINDS: tuple[str, ...] = tuple(k for k in NEWS_KINDS if k in RESTRICTING_KINDS)
