"""The backtest: replay = live pipeline, no look-ahead, scoring rules, inputs, CLI."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.alerting.enqueue import enqueue_signals, evaluated_rule_names
from monitor.alerting.state import EventKind, Timing, step
from monitor.backtest.events import (
    Event,
    bundled_events_text,
    mineral_names,
    parse_events,
    resolve_minerals,
)
from monitor.backtest.inputs import (
    NewsEvent,
    PublicationLags,
    bundled_data,
    load_price_file,
    read_news,
)
from monitor.backtest.replay import (
    Onset,
    Replayer,
    ReplayResult,
    evaluation_dates,
    midnight,
    replay,
)
from monitor.backtest.scoring import episodes, onsets, score
from monitor.cli.main import cli
from monitor.config.load import default_config_dir, load_config
from monitor.core.models import Frequency, Signal
from monitor.ops.jobs import seed_bundled_data
from monitor.risk.assess import assess_and_detect, indicator_rows, score_row, signal_row
from monitor.rules.evaluate import DetectorCache
from monitor.store.database import Store
from tests.slack_standin import SlackStandIn

D = date.fromisoformat


@pytest.fixture(scope="module")
def config():
    return load_config(default_config_dir())


@pytest.fixture(scope="module")
def data(config):
    return bundled_data(config)


# --------------------------------------------------------------------------- replay = live


def test_replay_equals_live_pipeline(config, data, tmp_path: Path) -> None:
    """Each simulated date gives the same signals and alert transitions as the daemon's
    evaluate job run on a store holding the same data, with the clock set to that date."""
    store = Store.open(tmp_path / "critmon.db")
    seed_bundled_data(store, config, datetime(2026, 3, 1, tzinfo=UTC))
    replayer = Replayer(config, data)
    live_cache = DetectorCache()
    dates = evaluation_dates(data, D("2021-12-01"), D("2022-05-10"))
    assert len(dates) >= 5
    fired = 0
    for as_of in dates:
        now = midnight(as_of)
        ours = replayer.step_date(as_of)
        assessments, signals = assess_and_detect(store, config, as_of=as_of, now=now,
                                                 cache=live_cache)
        store.save_evaluation(
            evaluated_at=now,
            indicators=[r for a in assessments for r in indicator_rows(a, as_of)],
            scores=[score_row(a, as_of) for a in assessments],
            signals=[signal_row(s) for s in signals])
        assert ours.signals == signals, as_of
        live = enqueue_signals(store, config, signals, now,
                               evaluated_rules=evaluated_rule_names(config))
        assert [(t.kind, t.fingerprint, t.level) for t in ours.transitions] == \
            [(t.kind, t.fingerprint, t.level) for t in live], as_of
        fired += sum(1 for t in live if t.kind == EventKind.FIRED)
    assert fired >= 1  # the nickel squeeze of March 2022 fires: the test compares something
    store.close()


# --------------------------------------------------------------------------- look-ahead


def test_no_look_ahead(config, data) -> None:
    """What the replay says up to a date does not change when later data are added."""
    minerals = ["nickel", "copper", "tin", "aluminum"]
    cutoff = D("2022-04-30")
    start = D("2021-06-01")
    past = replay(config, data.until(cutoff), start, cutoff, minerals=minerals)
    full = replay(config, data, start, D("2022-12-31"), minerals=minerals)

    def upto(result: ReplayResult) -> tuple:
        transitions = [(t.at, t.kind, t.fingerprint, t.level, t.alert.value)
                       for t in result.transitions if t.at.date() <= cutoff]
        scores = {m: [s for s in rows if s[0] <= cutoff] for m, rows in result.scores.items()}
        return transitions, scores

    assert upto(past) == upto(full)
    assert any(t.kind == EventKind.FIRED for t in past.transitions)


def test_evaluation_dates_are_release_dates(data) -> None:
    dates = evaluation_dates(data, D("2022-01-01"), D("2022-12-31"))
    assert D("2022-03-04") in dates  # Pink Sheet February 2022, public on 4 March
    assert D("2022-09-30") in dates  # WGI 2021
    assert all(d.day == 4 or d in (D("2022-09-30"),) for d in dates)


def test_publication_lags() -> None:
    lags = PublicationLags()
    assert lags.published_at(D("2024-02-01"), Frequency.MONTHLY) == D("2024-03-04")
    assert lags.published_at(D("2023-01-01"), Frequency.ANNUAL) == D("2024-01-31")
    assert lags.published_at(D("2024-02-10"), Frequency.DAILY) == D("2024-02-11")
    late = PublicationLags(monthly=timedelta(days=10))
    assert late.published_at(D("2024-12-01"), Frequency.MONTHLY) == D("2025-01-10")


# --------------------------------------------------------------------------- events


EVENTS_CSV = """id,date_announced,date_effective,minerals,country,kind,summary,source_url,verified
E1,2020-05-01,2020-06-01,rare earths,China,export_quota,"quota, cut",https://x.test/1,yes
E2,2020-05,,bauxite;Aluminium;steel,Indonesia,export_ban,b,https://x.test/2,partial
E3,2021-01-10,2021-02-01,all dual-use items,China,legal_framework,c,,yes
E4,not-a-date,,nickel,X,export_ban,d,,yes
"""


def test_parse_events_groups_aliases_unknown(config) -> None:
    events, warnings = parse_events(EVENTS_CSV, config.minerals.minerals)
    by_id = {e.id: e for e in events}
    assert by_id["E1"].minerals == ("rare_earths",)
    assert by_id["E1"].effective == D("2020-06-01")
    assert by_id["E2"].minerals == ("aluminum",)  # bauxite and aluminium are aliases
    assert by_id["E2"].unknown == ("steel",)
    assert by_id["E2"].announced == D("2020-05-01") and by_id["E2"].effective is None
    assert by_id["E3"].minerals == () and not by_id["E3"].scored
    assert "E4" not in by_id
    assert any("steel" in w for w in warnings)
    assert any("line 5" in w for w in warnings)


def test_resolve_minerals_parentheses_and_plurals(config) -> None:
    names = mineral_names(config.minerals.minerals)
    known, unknown = resolve_minerals("rare earths (dysprosium, terbium);borates;unobtainium",
                                      names)
    assert known == ("rare_earths", "dysprosium", "terbium", "boron")
    assert unknown == ("unobtainium",)


def test_bundled_events_parse(config) -> None:
    events, _ = parse_events(bundled_events_text(), config.minerals.minerals)
    assert len(events) == 30
    assert {e.id for e in events if not e.scored} == {"EV005", "EV006", "EV007", "EV011",
                                                      "EV014", "EV029"}


# --------------------------------------------------------------------------- scoring


def _event(eid: str, announced: str, minerals: tuple[str, ...], kind: str = "export_ban",
           effective: str | None = None) -> Event:
    return Event(eid, D(announced), D(effective) if effective else None, minerals, "X", kind)


def _onset(at: str, mineral: str, level: str = "high", rule: str = "price_jump_3m") -> Onset:
    return Onset(D(at), mineral, rule, level, f"fp-{mineral}-{at}", "price_change_3m")


def test_scoring_known_answers() -> None:
    events = [
        _event("HIT", "2020-06-01", ("nickel",), effective="2020-07-01"),
        _event("EDGE_EARLY", "2021-04-01", ("copper",)),   # onset exactly 90 days before
        _event("TOO_EARLY", "2021-04-01", ("tin",)),       # onset 91 days before
        _event("EDGE_LATE", "2021-06-01", ("zinc",)),      # onset exactly 30 days after
        _event("TOO_LATE", "2021-06-01", ("lead",)),       # onset 31 days after
        _event("GROUP", "2022-01-10", ("rare_earths",)),   # member alert counts
        _event("EASE", "2022-06-01", ("cobalt",), kind="policy_relaxation"),
        _event("MISSED", "2023-01-01", ("lithium",)),
    ]
    found = [
        _onset("2020-05-01", "nickel"), _onset("2020-05-20", "nickel", "critical"),
        _onset("2021-01-01", "copper"),          # 2021-04-01 - 90 d
        _onset("2020-12-31", "tin"),             # 2021-04-01 - 91 d
        _onset("2021-07-01", "zinc"),            # 2021-06-01 + 30 d
        _onset("2021-07-02", "lead"),            # 2021-06-01 + 31 d
        _onset("2022-01-05", "neodymium", rule="policy_event", level="high"),
        _onset("2022-05-20", "cobalt"),          # near an easing event only: a false alarm
        _onset("2024-03-01", "iron_ore"),        # nothing near: a false alarm
    ]
    groups = {"rare_earths": frozenset({"rare_earths", "neodymium"})}
    minerals = ["nickel", "copper", "tin", "zinc", "lead", "rare_earths", "neodymium",
                "cobalt", "lithium", "iron_ore"]
    result = score(events, found, start=D("2020-01-01"), end=D("2024-12-31"),
                   minerals=minerals, groups=groups)
    rows = {s.event.id: s for s in result.per_event}
    assert rows["HIT"].detected and rows["HIT"].first.at == D("2020-05-01")
    assert rows["HIT"].lead_days_announced == 31 and rows["HIT"].lead_days_effective == 61
    assert rows["EDGE_EARLY"].detected and rows["EDGE_EARLY"].lead_days_announced == 90
    assert not rows["TOO_EARLY"].detected
    assert rows["EDGE_LATE"].detected and rows["EDGE_LATE"].lead_days_announced == -30
    assert rows["EDGE_LATE"].lead_days_effective is None
    assert not rows["TOO_LATE"].detected
    assert rows["GROUP"].detected and rows["GROUP"].first.rule == "policy_event"
    assert rows["EASE"].detected and not rows["EASE"].event.scored
    assert not rows["MISSED"].detected
    summary = result.summary()
    assert summary["events_scored"] == 7 and summary["detected"] == 4
    assert summary["recall"] == round(4 / 7, 4)
    assert summary["median_lead_days_announced"] == 18.0  # of 31, 90, -30, 5
    assert summary["median_lead_days_effective"] == 61.0
    assert summary["easing_events"] == 1 and summary["easing_events_alerted"] == 1
    # Too early / too late for detection is still near an event for the false-alarm rule
    # (tin: event 91 days after the onset; lead: event 31 days before): not false alarms.
    false = {(o.mineral, o.at.isoformat()) for o in result.false_alarms}
    assert false == {("cobalt", "2022-05-20"), ("iron_ore", "2024-03-01")}
    years = (D("2024-12-31") - D("2020-01-01")).days + 1
    assert summary["mineral_years"] == round(len(minerals) * years / 365.25, 2)
    assert summary["false_alarm_episodes"] == 2


def test_false_alarm_window_edges() -> None:
    events = [_event("E", "2021-01-01", ("nickel",))]
    found = [_onset("2021-04-01", "nickel"),   # event 90 days before: covered
             _onset("2021-04-02", "nickel"),   # 91 days before: false alarm
             _onset("2020-07-05", "nickel"),   # event 180 days after: covered
             _onset("2020-07-04", "nickel")]   # 181 days after: false alarm
    result = score(events, found, start=D("2020-01-01"), end=D("2021-12-31"),
                   minerals=["nickel"])
    assert sorted(o.at.isoformat() for o in result.false_alarms) == ["2020-07-04",
                                                                     "2021-04-02"]


def test_events_outside_replay_not_scored() -> None:
    events = [_event("OLD", "2009-01-01", ("nickel",)), _event("OTHER", "2021-01-01", ("tin",))]
    result = score(events, [], start=D("2020-01-01"), end=D("2021-12-31"), minerals=["nickel"])
    assert result.summary()["events_scored"] == 0
    assert result.summary()["events_not_replayed"] == 2


def _signal(level: str | None, rule: str = "supply_risk_level") -> Signal:
    return Signal(rule=rule, mineral="nickel", indicator="supply_risk", firing=level is not None,
                  level=level)


def test_onsets_count_escalation_across_min_level_and_skip_excluded() -> None:
    timing = Timing(levels=("high", "critical"))
    state, transitions = None, []
    for day, level in [("2022-01-04", "high"), ("2022-02-04", "critical"),
                       ("2022-03-04", None), ("2022-04-04", "critical")]:
        state, new = step(state, _signal(level), timing, midnight(D(day)))
        transitions += new
    stale, _ = step(None, _signal("warning", "price_stale"), Timing(), midnight(D("2022-01-04")))
    _, stale_t = step(None, _signal("warning", "price_stale"), Timing(),
                      midnight(D("2022-01-04")))
    result = ReplayResult(D("2022-01-01"), D("2022-12-31"), ("nickel",),
                          transitions=[*transitions, *stale_t])
    high = onsets(result, min_level="high")
    assert [(o.at.isoformat(), o.level) for o in high] == [("2022-01-04", "high"),
                                                           ("2022-04-04", "critical")]
    critical = onsets(result, min_level="critical")
    assert [(o.at.isoformat(), o.level) for o in critical] == [("2022-02-04", "critical"),
                                                               ("2022-04-04", "critical")]
    assert onsets(result, min_level="warning", excluded_rules=())[-1].rule == "price_stale"
    eps = episodes(result.transitions)
    assert [(e.start.isoformat(), e.end, e.level) for e in eps if e.rule != "price_stale"] == [
        ("2022-01-04", D("2022-03-04"), "critical"), ("2022-04-04", None, "critical")]
    assert stale is not None


# --------------------------------------------------------------------------- inputs


def test_price_files_long_csv_and_fred(config, tmp_path: Path) -> None:
    long_csv = tmp_path / "prices.csv"
    long_csv.write_text("date,mineral,value,unit,source\n2024-01,Gallium,300,$/kg,shfe\n"
                        "2024-02,gallium,330,$/kg,shfe\n2024-02,kryptonite,1,$/kg,x\n")
    rows, warnings = load_price_file(str(long_csv), config)
    assert [(r.mineral, r.period, r.published_at, r.unit, r.source) for r in rows] == [
        ("gallium", D("2024-01-01"), D("2024-02-04"), "$/kg", "shfe"),
        ("gallium", D("2024-02-01"), D("2024-03-04"), "$/kg", "shfe")]
    assert any("kryptonite" in w for w in warnings)
    fred = tmp_path / "PNICKUSDM.csv"
    fred.write_text("observation_date,PNICKUSDM\n2024-01-01,16000\n2024-02-01,.\n"
                    "2024-03-01,17500\n")
    rows, _ = load_price_file(f"nickel={fred}", config,
                              PublicationLags(monthly=timedelta(days=10)))
    assert [(r.mineral, r.published_at) for r in rows] == [("nickel", D("2024-02-10")),
                                                           ("nickel", D("2024-04-10"))]
    with pytest.raises(ValueError, match="long CSV"):
        load_price_file(str(fred), config)


def test_a_later_pink_sheet_with_a_renamed_code_gives_the_others_and_a_warning(
        config, tmp_path: Path) -> None:
    sheet = tmp_path / "CMO-Historical-Data-Monthly.csv"
    sheet.write_text("date,COPPER,NICKEL_LME,ZINC\n2026-01-01,9000,16000,2800\n"
                     "2026-02-01,9100,16500,2850\n")

    rows, warnings = load_price_file(str(sheet), config)

    assert {r.mineral for r in rows} == {"copper", "zinc"}
    assert len(rows) == 4
    [warning] = [w for w in warnings if "NICKEL" in w]
    assert warning.startswith("CMO-Historical-Data-Monthly.csv: CSV: codes not found: ")
    assert "renamed or removed in this release?" in warning


def test_read_news_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "news.jsonl"
    path.write_text(json.dumps({"date": "2023-07-03", "title": "China curbs gallium exports",
                                "summary": "s", "url": "https://x.test/a", "lang": "en",
                                "label": "ignored"}) + "\n\n")
    items = read_news(path)
    assert len(items) == 1 and items[0].published_at == datetime(2023, 7, 3, tzinfo=UTC)


def test_news_events_raise_policy_alerts_and_pressure(config, data) -> None:
    """A supply-risk news item becomes a policy_event alert and raises policy pressure."""
    news = [NewsEvent(id="n1", at=datetime(2023, 7, 3, 9, tzinfo=UTC),
                      title="China to restrict gallium and germanium exports",
                      url="https://x.test/n1", source="t", kind="export_control",
                      country="China", minerals=("gallium", "germanium"), inferred_minerals=(),
                      is_supply_risk_event=True, risk_confidence=0.9)]
    data = type(data)(data.observations, data.wgi, data.wgi_published_at, news)
    result = replay(config, data, D("2023-06-01"), D("2023-08-31"),
                    minerals=["gallium", "germanium", "copper"], warmup=timedelta(0))
    found = onsets(result)
    assert {(o.mineral, o.rule, o.at) for o in found if o.rule == "policy_event"} == {
        ("gallium", "policy_event", D("2023-07-03")),
        ("germanium", "policy_event", D("2023-07-03"))}
    assert D("2023-07-03") in result.dates


# --------------------------------------------------------------------------- CLI


def test_cli_backtest_json_tiny_range(tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(cli, ["--state-dir", str(tmp_path), "backtest", "--from", "2022-01-01",
                              "--to", "2022-06-30", "--mineral", "nickel", "--format", "json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert set(doc["summary"]) >= {"events_scored", "detected", "recall",
                                   "median_lead_days_announced", "median_lead_days_effective",
                                   "false_alarm_episodes", "mineral_years",
                                   "false_alarms_per_mineral_year"}
    ev017 = next(e for e in doc["per_event"] if e["id"] == "EV017")
    assert ev017["detected"] and ev017["rule"] == "price_jump_3m"
    assert doc["summary"]["events_scored"] == 2  # EV016, EV017 (nickel, in range)


def test_cli_backtest_table_and_bad_mineral(tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(cli, ["--state-dir", str(tmp_path), "backtest", "--from", "2022-01-01",
                              "--to", "2022-04-30", "--mineral", "nickel"])
    assert out.exit_code == 0, out.output
    assert "recall" in out.stdout and "EV017" in out.stdout
    bad = runner.invoke(cli, ["--state-dir", str(tmp_path), "backtest", "--mineral", "kryptonite"])
    assert bad.exit_code == 2 and "kryptonite" in bad.output  # a bad option value: usage


def test_demo_deliver_sends_replayed_alerts_through_the_real_pipeline(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with SlackStandIn() as slack:
        monkeypatch.setenv("CRITMON_DEMO_WEBHOOK", slack.webhook_url)
        (tmp_path / "alerting.yaml").write_text("""
version: 1
receivers:
  - name: team
    kind: slack
    webhook_url: ${CRITMON_DEMO_WEBHOOK}
route:
  receiver: team
  group_by: [mineral]
  group_wait: 0s
""", encoding="utf-8")
        result = CliRunner().invoke(cli, [
            "--config", str(tmp_path), "--state-dir", str(tmp_path / "state"), "demo",
            "--from", "2022-02-01", "--to", "2022-05-31", "--deliver"])
        assert result.exit_code == 0, result.output
        texts = [r.text for r in slack.wait_for(1)]
    assert any("nickel" in text for text in texts)


def test_replayed_policy_alert_is_attributed_by_kind_family(config, data) -> None:
    """A replayed news alert carries its kind to the scorer: an export-control item relates to
    an export-ban event (same family), not to a mine closure."""
    news = [NewsEvent(id="n1", at=datetime(2023, 7, 3, 9, tzinfo=UTC),
                      title="China to restrict gallium exports", url="https://x.test/n1",
                      source="t", kind="export_control", country="China", minerals=("gallium",),
                      inferred_minerals=(), is_supply_risk_event=True, risk_confidence=0.9)]
    data = type(data)(data.observations, data.wgi, data.wgi_published_at, news)
    result = replay(config, data, D("2023-06-01"), D("2023-08-31"), minerals=["gallium"],
                    warmup=timedelta(0))
    events = [_event("BAN", "2023-07-10", ("gallium",), kind="export_ban"),
              _event("MINE", "2023-07-20", ("gallium",), kind="mine_closure")]
    rows = {s.event.id: s.row() for s in score(events, onsets(result), start=D("2023-06-01"),
                                               end=D("2023-08-31"), minerals=["gallium"]).per_event}
    assert rows["BAN"]["cause"] == "news:restriction" and rows["BAN"]["cause_related"]
    assert rows["MINE"]["detected"] and rows["MINE"]["cause_related"] is False
    assert rows["BAN"]["shares_onset_with"] == ["MINE"]


def test_the_collector_runs_less_often_during_a_replay_and_as_before_after(config,
                                                                           data) -> None:
    import gc

    from monitor.backtest.replay import REPLAY_GC_THRESHOLD

    before = gc.get_threshold()
    during: list[tuple[int, ...]] = []
    replay(config, data, D("2022-01-01"), D("2022-02-28"), minerals=["nickel"],
           on_date=lambda _: during.append(gc.get_threshold()))
    assert during and all(t[0] == max(before[0], REPLAY_GC_THRESHOLD) for t in during)
    assert gc.get_threshold() == before
