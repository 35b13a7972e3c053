"""Perspective tables: the shipped ones load, a user's own is validated like the rest of the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config.load import load_config
from monitor.config.perspectives import (
    RelianceFigure,
    choose_headline,
)
from monitor.core.clock import SystemClock
from monitor.core.errors import ConfigError
from monitor.ops.daemon import Daemon
from monitor.ops.jobs import RELOAD_ERROR_KEY, prepare

CSV_HEADER = "mineral,year,import_reliance_pct,qualifier,source\n"
GOOD_CSV = CSV_HEADER + ("cobalt,2023,100,,Japan customs\n"
                         "lithium,2023,95,>,Japan customs\n")
PARTNERS = "mineral,year,partner,share_pct\ncobalt,2023,Congo (Kinshasa),60\n"
RULES = """version: 1
perspectives:
  - us
  - cn
  - {{id: jp, name: Japan, members: [Japan], table: {table}{partners}}}
"""


def write_config(tmp_path: Path, table: str, text: str, partners: str | None = None) -> Path:
    config_dir = tmp_path / "config"
    config_dir.mkdir(exist_ok=True)
    (config_dir / table).write_text(text, encoding="utf-8")
    extra = ""
    if partners is not None:
        (config_dir / "jp_partners.csv").write_text(partners, encoding="utf-8")
        extra = ", partners: jp_partners.csv"
    (config_dir / "rules.yaml").write_text(RULES.format(table=table, partners=extra),
                                           encoding="utf-8")
    return config_dir


def test_the_default_config_scores_the_us_only() -> None:
    config = load_config()
    assert config.perspective_ids == ("us",)
    assert config.perspective("us").method == "usgs"


def test_shipped_tables_load_with_a_headline_and_the_spread(tmp_path: Path) -> None:
    config_dir = tmp_path / "c"
    config_dir.mkdir()
    (config_dir / "rules.yaml").write_text("version: 1\nperspectives: [us, cn, eu]\n",
                                           encoding="utf-8")
    config = load_config(config_dir)
    cn, eu = config.perspective("cn"), config.perspective("eu")
    cobalt = cn.reliance["cobalt"]
    # 2022: CNIA 98 (grade 4) beats EV100 98 and SCMP 95 (grade 2); MNR 90 (2018) in the spread
    assert (cobalt.headline.value, cobalt.headline.year, cobalt.headline.reliability) == \
        (98.0, 2022, 4)
    assert {f.value for f in cobalt.others} == {98.0, 95.0, 90.0, 80.0}
    # lithium carbonate's 26.2 % (one product) is grade 0: shown, never the headline
    assert cn.reliance["lithium"].headline.value == 60.0
    assert 26.2 in {f.value for f in cn.reliance["lithium"].others}
    assert cn.partners["cobalt"].shares["Congo (Kinshasa)"] == pytest.approx(0.515)
    assert eu.reliance["gallium"].headline.value == 98.0
    assert eu.reliance["copper"].headline.recycling_pct == 55.0
    assert eu.is_member("Germany") and not eu.is_member("China")
    assert cn.is_member("China") and not cn.is_member("Congo (Kinshasa)")


def test_the_headline_is_the_most_reliable_recent_figure() -> None:
    def figure(value: float, year: int, grade: int) -> RelianceFigure:
        return RelianceFigure("copper", value, year, reliability=grade)

    old_official, recent_news, recent_journal = figure(73, 2018, 5), figure(78, 2022, 2), \
        figure(70, 2021, 3)
    chosen = choose_headline([old_official, recent_news, recent_journal])
    assert chosen.headline is recent_journal  # 2018 is more than 3 years before 2022
    assert chosen.others == (recent_news, old_official)


def test_a_user_csv_table_defines_an_economy(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, "jp.csv", GOOD_CSV, PARTNERS))
    jp = config.perspective("jp")
    assert config.perspective_ids == ("us", "cn", "jp")
    assert jp.reliance["lithium"].headline.qualifier == ">"
    assert jp.partners["cobalt"].shares == {"Congo (Kinshasa)": 0.6}
    assert jp.is_member("Japan")


def test_a_user_yaml_table_defines_an_economy(tmp_path: Path) -> None:
    text = """reliance:
  - {mineral: nickel, year: 2024, import_reliance_pct: 100, source: METI}
  - {mineral: iron ore, year: 2024, import_reliance_pct: 100}
partners:
  - {mineral: nickel, year: 2024, partner: Philippines, share_pct: 55}
  - {mineral: nickel, year: 2024, partner: Indonesia, share_pct: 30}
"""
    jp = load_config(write_config(tmp_path, "jp.yaml", text)).perspective("jp")
    assert set(jp.reliance) == {"nickel", "iron_ore"}
    assert jp.partners["nickel"].unlisted == pytest.approx(0.15)


def test_changing_a_table_changes_the_config_digest(tmp_path: Path) -> None:
    before = load_config(write_config(tmp_path, "jp.csv", GOOD_CSV)).digest
    after = load_config(write_config(tmp_path, "jp.csv", GOOD_CSV.replace("95", "90"))).digest
    assert before != after


@pytest.mark.parametrize(("table", "text", "line", "key", "message"), [
    pytest.param("jp.csv", CSV_HEADER + "cobalt,2023,100,,x\nunobtainium,2023,50,,x\n", 3,
                 "mineral", "unknown mineral 'unobtainium'", id="csv-unknown-mineral"),
    pytest.param("jp.csv", CSV_HEADER + "cobalt,2023,100,,x\nnickel,2023,120,,x\n", 3,
                 "import_reliance_pct", "share above 100: 120", id="csv-share-above-100"),
    pytest.param("jp.csv", CSV_HEADER + "cobalt,,100,,x\n", 2, "year", "missing year",
                 id="csv-missing-year"),
    pytest.param("jp.csv", CSV_HEADER + "cobalt,2023,100,about,x\n", 2, "qualifier",
                 "'about' is not one of", id="csv-bad-qualifier"),
    pytest.param("jp.csv", "mineral,year,share\ncobalt,2023,1\n", 1, "share",
                 "unknown column 'share'", id="csv-unknown-column"),
    pytest.param("jp.yaml", "reliance:\n  - {mineral: cobalt, year: 2023, "
                 "import_reliance_pct: 100}\n  - {mineral: cobalt, import_reliance_pct: 90}\n",
                 3, "year", "missing year", id="yaml-missing-year"),
    pytest.param("jp.yaml", "reliance:\n  - {mineral: cobalt, year: 2023, "
                 "import_reliance_pct: 100}\npartners:\n  - {mineral: cobalt, year: 2023, "
                 "partner: Chile, share_pct: 70}\n  - {mineral: cobalt, year: 2023, partner: "
                 "Peru, share_pct: 40}\n", 5, "share_pct", "add up to 110: share above 100",
                 id="yaml-partner-shares-above-100"),
    pytest.param("jp.yaml", "reliance:\n  - {mineral: cobalt, year: 2023, "
                 "import_reliance_pct: 100}\npartners:\n  - {mineral: cobalt, year: 2023, "
                 "partner: Atlantis, share_pct: 10}\n", 4, "partner", "unknown country",
                 id="yaml-unknown-partner"),
])
def test_a_bad_table_names_file_line_and_field(tmp_path: Path, table: str, text: str,
                                               line: int, key: str, message: str) -> None:
    config_dir = write_config(tmp_path, table, text)
    with pytest.raises(ConfigError) as caught:
        load_config(config_dir)
    error = caught.value
    assert (error.file, error.line, error.key) == (str(config_dir / table), line, key)
    assert message in str(error)


def test_a_bad_partner_csv_names_its_own_file(tmp_path: Path) -> None:
    config_dir = write_config(tmp_path, "jp.csv", GOOD_CSV,
                              PARTNERS + "cobalt,2023,Zambia,101\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config_dir)
    assert (caught.value.file, caught.value.line, caught.value.key) == \
        (str(config_dir / "jp_partners.csv"), 3, "share_pct")


@pytest.mark.parametrize(("rules", "line", "message"), [
    pytest.param("version: 1\nperspectives:\n  - us\n  - mars\n", 4, "unknown perspective 'mars'",
                 id="unknown-shipped"),
    pytest.param("version: 1\nperspectives: [us, us]\n", 2, "listed twice", id="twice"),
    pytest.param("version: 1\nperspectives:\n  - {id: jp, name: Japan, members: [Nippon], "
                 "table: jp.csv}\n", 3, "unknown country 'Nippon'", id="unknown-member"),
    pytest.param("version: 1\nperspectives:\n  - {id: jp, name: Japan, members: [Japan], "
                 "table: missing.csv}\n", None, "cannot read", id="missing-table"),
])
def test_a_bad_perspective_entry_is_a_config_error(tmp_path: Path, rules: str,
                                                   line: int | None, message: str) -> None:
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "rules.yaml").write_text(rules, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(config_dir)
    assert message in str(caught.value)
    if line is not None:
        assert caught.value.line == line and caught.value.file == str(config_dir / "rules.yaml")


def test_a_failed_reload_keeps_the_running_config(tmp_path: Path) -> None:
    config_dir = write_config(tmp_path, "jp.csv", GOOD_CSV)
    runtime = prepare(load_config(config_dir), config_dir, tmp_path / "state",
                      SystemClock().now())
    daemon = Daemon(runtime)
    old = daemon.runtime.config
    (config_dir / "jp.csv").write_text(CSV_HEADER + "cobalt,2023,140,,x\n", encoding="utf-8")
    assert daemon.reload() is False
    assert daemon.runtime.config is old
    assert old.perspective("jp").reliance["cobalt"].headline.value == 100.0
    with daemon.runtime.open_store() as store:
        error = store.get_meta(RELOAD_ERROR_KEY) or ""
    assert error.startswith(f"{config_dir / 'jp.csv'}:2: import_reliance_pct: share above 100")
