"""Scores seen from the US, the EU and China, on the shipped data as of 2026-03-01.

* the ``us`` perspective changes nothing (same indicators, same method version);
* the EU view ranks minerals like the EU's own 2023 study (Spearman, tests/fixtures/eu_crm2023);
* the China view puts what China imports above what it exports;
* the sourcing mix and the apparent-consumption formula, by hand.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest
from scipy.stats import spearmanr

from monitor.config.load import Config, load_config
from monitor.config.perspectives import US, Partners, Perspective
from monitor.core.models import Observation
from monitor.risk.assess import Assessment, assess
from monitor.risk.indicators import ProductionTable, build_governance, compute_all_indicators
from monitor.risk.perspectives import (
    DOMESTIC,
    apparent_consumption_reliance,
    method_key,
    sourcing_mix,
)
from monitor.risk.score import method_version
from monitor.risk.status import describe_exposure, side_by_side
from monitor.sources.bundled import (
    PINKSHEET_COLUMNS,
    load_bundled_observations,
    load_bundled_pinksheet,
    load_bundled_wgi,
    wgi_published_at,
)
from monitor.sources.wgi import WgiEstimate

AS_OF = date(2026, 3, 1)
EU_STUDY = Path(__file__).parents[1] / "fixtures" / "eu_crm2023" / "eureport_results.csv"

#: Spearman rank correlation of the EU view's scores with the EU study's supply risk, as
#: measured when the perspective was built (docs/risk-model.md, "Perspectives"); it must not
#: fall.
EU_SPEARMAN_FLOOR = 0.63

#: EU study names that are not critmon's English names.
EU_NAMES = {"Aluminium": "aluminum", "Baryte": "barite", "Coking coal": "metallurgical_coal",
            "Natural graphite": "graphite", "LREE": "rare_earths",
            "PGM": "platinum_group_metals", "Phosphate rock": "phosphate",
            "Silicon metal": "silicon"}


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    directory = tmp_path_factory.mktemp("config")
    (directory / "rules.yaml").write_text("version: 1\nperspectives: [us, cn, eu]\n",
                                          encoding="utf-8")
    return load_config(directory)


@pytest.fixture(scope="module")
def observations(config: Config) -> dict[str, list[Observation]]:
    rows = load_bundled_observations([(m.id, m.usgs) for m in config.minerals.minerals])
    rows += load_bundled_pinksheet(PINKSHEET_COLUMNS)
    by_mineral: dict[str, list[Observation]] = defaultdict(list)
    for o in rows:
        if o.published_at is None or o.published_at <= AS_OF:
            by_mineral[o.mineral].append(o)
    return by_mineral


@pytest.fixture(scope="module")
def wgi() -> list[WgiEstimate]:
    return [w for w in load_bundled_wgi() if wgi_published_at(w.year) <= AS_OF]


@pytest.fixture(scope="module")
def views(config: Config, observations: dict[str, list[Observation]],
          wgi: list[WgiEstimate]) -> dict[str, dict[str, Assessment]]:
    return {p.id: {a.mineral: a for a in assess(config, observations, wgi, as_of=AS_OF,
                                                perspective=p)}
            for p in config.perspectives}


def score(view: dict[str, Assessment], mineral: str) -> float:
    value = view[mineral].risk.score
    assert value is not None, mineral
    return value


# --------------------------------------------------------------------------- us: unchanged


def test_the_us_perspective_changes_nothing(config: Config,
                                            observations: dict[str, list[Observation]],
                                            wgi: list[WgiEstimate],
                                            views: dict[str, dict[str, Assessment]]) -> None:
    plain = compute_all_indicators([(m.id, m.group, m.members) for m in config.minerals.minerals],
                                   observations, build_governance(wgi), as_of=AS_OF)
    us = views["us"]
    assert {m: a.indicators for m, a in us.items()} == plain
    assert method_key(US) == ""
    methods = {a.risk.method for a in us.values()}
    assert methods == {method_version(config.rules.risk)}
    assert {a.risk.method for a in views["cn"].values()}.isdisjoint(methods)
    assert {a.risk.method for a in views["eu"].values()}.isdisjoint(methods)


# --------------------------------------------------------------------------- EU


def eu_supply_risk() -> dict[str, float]:
    names = {m.name.lower(): m.id for m in load_config().minerals.minerals}
    found: dict[str, float] = {}
    with EU_STUDY.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            material = row["material_name"]
            mineral = EU_NAMES.get(material) or names.get(material.lower())
            if mineral and mineral not in found:
                found[mineral] = float(row["supply_risk"])
    return found


def rank_correlation(view: dict[str, Assessment], study: dict[str, float]) -> tuple[float, int]:
    both = sorted(m for m in study if m in view and view[m].risk.score is not None)
    rho = spearmanr([score(view, m) for m in both], [study[m] for m in both]).statistic
    return float(rho), len(both)


def test_the_eu_view_ranks_minerals_like_the_eu_study(
        views: dict[str, dict[str, Assessment]]) -> None:
    study = eu_supply_risk()
    rho, n = rank_correlation(views["eu"], study)
    assert n == 58
    assert rho >= EU_SPEARMAN_FLOOR, rho
    # the same data seen from the US agree less with the EU's own assessment
    us_rho, _ = rank_correlation(views["us"], study)
    assert us_rho < rho - 0.1, (us_rho, rho)


def test_the_eu_view_uses_the_study_reliance_recycling_and_sourcing(
        views: dict[str, dict[str, Assessment]]) -> None:
    copper = views["eu"]["copper"]
    nir = copper.indicators["net_import_reliance"]
    assert (nir.value, nir.detail_dict()["recycling_pct"]) == (48.0, "55")
    structural = copper.risk.factors[0]
    assert "x (1 - EoL-RIR 55%)" in structural.note and "import reliance (eu)" in structural.note
    # cobalt: Congo (Kinshasa) supplies 68 % of the EU's imports: DP from the sourcing mix
    cobalt = views["eu"]["cobalt"].indicators["governance_weighted_hhi"].detail_dict()
    assert cobalt["partners"] == "Congo (Kinshasa) 68% (2023)"


# --------------------------------------------------------------------------- China

CHINA_IMPORTS = ("cobalt", "nickel", "chromium", "platinum", "palladium", "lithium", "copper")
CHINA_EXPORTS = ("rare_earths", "gallium", "graphite", "tungsten")


def test_the_china_view_puts_what_china_imports_above_what_it_exports(
        views: dict[str, dict[str, Assessment]]) -> None:
    cn = views["cn"]
    lowest_import = min(CHINA_IMPORTS, key=lambda m: score(cn, m))
    highest_export = max(CHINA_EXPORTS, key=lambda m: score(cn, m))
    assert score(cn, lowest_import) > score(cn, highest_export) + 10, (lowest_import,
                                                                      highest_export)
    # ... while from the US, gallium and rare earths are among the riskiest
    us = views["us"]
    assert score(us, "gallium") > score(us, "nickel") and \
        score(us, "rare_earths") > score(us, "copper")


def test_the_china_view_says_why(views: dict[str, dict[str, Assessment]]) -> None:
    cn = views["cn"]
    cobalt = describe_exposure(cn["cobalt"])
    assert cobalt.startswith("import reliance (cn): 98% (2022), stage unspecified, "
                             "reliability 4/5")
    assert "other figures: 95% (2022, SCMP" in cobalt and "90% (2018, Global Times" in cobalt
    assert "partners Congo (Kinshasa) 52%, South Africa 28% (2019)" in cobalt
    gallium = describe_exposure(cn["gallium"])
    assert gallium.startswith("import reliance (cn): net exporter, China produces 99% of "
                              "world output")
    assert "net exporter" in cn["gallium"].risk.factors[0].note
    # platinum inherits nothing: it has no figure of its own, the group has (>99%, 2019)
    platinum = describe_exposure(cn["platinum"])
    assert platinum.startswith("import reliance (cn) (from platinum_group_metals): >99% (2019)")


def test_side_by_side_lists_each_perspectives_top_minerals(
        views: dict[str, dict[str, Assessment]]) -> None:
    everything = [a for view in views.values() for a in view.values()]
    rows = side_by_side(everything, top=10)
    assert [r["rank"] for r in rows] == list(range(1, 11))
    assert set(rows[0]) == {"rank", "us", "cn", "eu"}
    top_us = max(views["us"].values(), key=lambda a: a.risk.score or -1)
    assert rows[0]["us"] == f"{top_us.mineral} {top_us.risk.score:.1f}"


# --------------------------------------------------------------------------- formulas


def table(shares: dict[str, float]) -> ProductionTable:
    return ProductionTable("x:production", "mine", 2025, "t", "usgs", None, shares,
                           "world total", (), None, False)


def test_the_sourcing_mix_spreads_the_unlisted_imports_over_world_producers() -> None:
    economy = Perspective("jp", "Japan", ("Japan",))
    partners = Partners("cobalt", 2023, {"Congo (Kinshasa)": 0.5})
    mix = sourcing_mix(table({"Congo (Kinshasa)": 0.7, "Indonesia": 0.2, "Japan": 0.1}),
                       partners, economy, reliance=0.8)
    # domestic 20 %; Congo 0.8 * 0.5 = 40 %; the unlisted 40 % all to Indonesia (Japan is
    # domestic, Congo already listed)
    assert mix == pytest.approx({DOMESTIC: 0.2, "Congo (Kinshasa)": 0.4, "Indonesia": 0.4})
    assert sum(mix.values()) == pytest.approx(1.0)


@pytest.mark.parametrize(("production", "imports", "exports", "expected"), [
    pytest.param(20, 100, 20, (80.0, ""), id="importer: 80 of 100"),
    pytest.param(100, 10, 60, (0.0, "E"), id="net-exporter"),
    pytest.param(0, 50, 0, (100.0, ""), id="all-imported"),
])
def test_apparent_consumption_reliance(production: float, imports: float, exports: float,
                                       expected: tuple[float, str]) -> None:
    assert apparent_consumption_reliance(production, imports, exports) == expected


def test_apparent_consumption_must_be_positive() -> None:
    with pytest.raises(ValueError, match="not positive"):
        apparent_consumption_reliance(10, 5, 20)
