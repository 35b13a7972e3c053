"""``rules.yaml``: the supply-risk model (weights, levels, hysteresis), detector rules, news settings."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from detectors.spec import check_spec
from monitor.config.common import (
    AlertHold,
    HalfLife,
    Identifier,
    LongWindow,
    StrictModel,
    Window,
    listing,
)
from monitor.config.perspectives import DEFAULT_PERSPECTIVE, PerspectiveSpec
from monitor.core.news_kinds import DEFAULT_ALERT_KINDS, DEFAULT_KIND_WEIGHTS, NEWS_KINDS

# --------------------------------------------------------------------------- rules


class RiskLevel(StrictModel):
    name: Identifier
    min: float = Field(ge=0, le=100)



class RiskWeights(StrictModel):
    structural: float = Field(ge=0, le=1)
    market: float = Field(ge=0, le=1)
    policy: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> RiskWeights:
        total = self.structural + self.market + self.policy
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"weights must sum to 1, they sum to {total:g}")
        return self



class RiskModelSpec(StrictModel):
    weights: RiskWeights = RiskWeights(structural=0.6, market=0.2, policy=0.2)
    levels: tuple[RiskLevel, ...] = (
        RiskLevel(name="low", min=0), RiskLevel(name="moderate", min=25),
        RiskLevel(name="high", min=50), RiskLevel(name="critical", min=75),
    )
    hysteresis: float = Field(default=3.0, ge=0, le=25)

    @field_validator("levels")
    @classmethod
    def _ascending(cls, levels: tuple[RiskLevel, ...]) -> tuple[RiskLevel, ...]:
        mins = [level.min for level in levels]
        if not levels or mins[0] != 0 or mins != sorted(set(mins)):
            raise ValueError("levels must start at min 0 and strictly increase")
        return levels



class DetectorSpec(BaseModel):
    """A detector kind and its parameters, checked by building the detector once."""

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: str

    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @model_validator(mode="after")
    def _buildable(self) -> DetectorSpec:
        check_spec(self.kind, self.params())  # ValueError names the kind or parameter
        return self



class Rule(StrictModel):
    """Attach a detector to an indicator, for all minerals or a listed few."""

    name: Identifier
    indicator: str
    minerals: Literal["all"] | tuple[str, ...] = "all"
    detector: DetectorSpec
    levels: tuple[str, ...] = ()
    hold: AlertHold = Field(default=timedelta(0), alias="for")
    keep_firing_for: AlertHold = timedelta(0)
    description: str = ""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)



class NewsSettings(StrictModel):
    """Policy news: the ``policy_pressure`` indicator, ``policy_event`` alerts and dedup.

    ``kind_weights`` is merged over the defaults, so a file may change one weight only.
    """

    half_life: HalfLife = timedelta(days=60)
    event_window: Window = timedelta(days=7)
    unknown_share: float = Field(default=0.1, ge=0, le=1)
    kind_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_KIND_WEIGHTS))
    alert_kinds: tuple[str, ...] = DEFAULT_ALERT_KINDS
    min_confidence: float = Field(default=0.5, ge=0, le=1)
    alert_max_age: LongWindow = timedelta(days=7)
    # A policy-event alert is one-shot: it stays firing this long after its item, then resolves.
    alert_keep_firing: AlertHold = timedelta(days=7)
    critical_share: float = Field(default=0.5, ge=0, le=1)
    watch: Literal["all"] | tuple[str, ...] = "all"
    dedup_window: Window = timedelta(days=3)
    title_similarity: float = Field(default=0.6, gt=0, le=1)

    @field_validator("kind_weights", mode="before")
    @classmethod
    def _merge_weights(cls, weights: object) -> object:
        return {**DEFAULT_KIND_WEIGHTS, **weights} if isinstance(weights, dict) else weights

    @field_validator("kind_weights")
    @classmethod
    def _known_weight_kinds(cls, weights: dict[str, float]) -> dict[str, float]:
        _check_kinds(weights)
        return weights

    @field_validator("alert_kinds")
    @classmethod
    def _known_alert_kinds(cls, kinds: tuple[str, ...]) -> tuple[str, ...]:
        _check_kinds(kinds)
        return kinds



def _check_kinds(kinds: Iterable[str]) -> None:
    unknown = sorted(set(kinds) - set(NEWS_KINDS))
    if unknown:
        raise ValueError(f"unknown news kind(s) {listing(unknown)}; "
                         f"known: {', '.join(NEWS_KINDS)}")



def _perspective_kind(value: object) -> str:
    return "table" if isinstance(value, dict | PerspectiveSpec) else "shipped"


#: A perspective in ``rules.yaml``: a shipped id (``cn``) or a user's own table.
PerspectiveEntry = Annotated[
    Annotated[Identifier, Tag("shipped")] | Annotated[PerspectiveSpec, Tag("table")],
    Discriminator(_perspective_kind)]


class RulesFile(StrictModel):
    version: Literal[1] = 1
    risk: RiskModelSpec = RiskModelSpec()
    news: NewsSettings = NewsSettings()
    rules: tuple[Rule, ...] = ()
    overrides: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)
    # The economies whose supply security is scored (docs/risk-model.md, "Perspectives").
    perspectives: tuple[PerspectiveEntry, ...] = Field(default=(DEFAULT_PERSPECTIVE,),
                                                       min_length=1, max_length=20)
