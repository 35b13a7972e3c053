"""``critmon backtest --trade``: trade-flow history replayed through the live evaluate path."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.backtest.inputs import ReplayData, load_trade_file
from monitor.backtest.replay import replay
from monitor.cli.main import cli
from monitor.config.load import Config
from monitor.core.models import Measure
from monitor.sources.trade_csv import TradeFileError
from tests.sources.trade_standin import monthly

HEADER = "period,reporter,partner,flow,hs,mineral,value_usd,net_weight_kg\n"
US_KG = [4800, 5000, 4600, 4900, 4700, 4800, 5200, 4800, 4900, 4500, 4800, 4750]


def history(path: Path) -> Path:
    lines = [HEADER]
    for month, kg in zip(monthly(date(2022, 8, 1), 13), [*US_KG, 0], strict=True):
        lines.append(f"{month:%Y-%m},CHN,WLD,X,811292,gallium,6000000,20000\n")
        lines.append(f"{month:%Y-%m},CHN,USA,X,8112.92,Gallium,{kg * 300},{kg}\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def test_trade_rows_become_dated_observations(tmp_path: Path, config: Config) -> None:
    observations, warnings = load_trade_file(history(tmp_path / "trade.csv"), config)
    assert not warnings
    weights = [o for o in observations if o.measure is Measure.TRADE_WEIGHT]
    assert {o.mineral for o in weights} == {"gallium"}
    last = [o for o in weights if o.period == date(2023, 8, 1)]
    assert {o.series for o in last} == {"trade:X:CHN:WLD:811292:kg", "trade:X:CHN:USA:811292:kg"}
    # August 2023 ends on the 31st; public 60 days later
    assert {o.published_at for o in last} == {date(2023, 10, 30)}


def test_a_row_without_mineral_takes_the_minerals_of_its_code(tmp_path: Path,
                                                             config: Config) -> None:
    path = tmp_path / "t.csv"
    path.write_text(HEADER + "2023-08,CHN,USA,X,811292,,1,2\n2023-08,CHN,USA,X,811292,"
                    "unobtainium,1,2\n", encoding="utf-8")
    observations, warnings = load_trade_file(path, config)
    assert {o.mineral for o in observations} == {"gallium", "germanium", "vanadium"}
    assert warnings == ["t.csv: unknown mineral 'unobtainium'"]


@pytest.mark.parametrize(("text", "message"), [
    ("period,reporter,partner,direction,hs,mineral,value_usd,net_weight_kg\n",
     "t.csv: missing column.*flow"),
    (HEADER + "August 2023,CHN,USA,X,811292,gallium,1,2\n", "t.csv: line 2: period"),
    (HEADER + "2023-08,CHN,USA,RX,811292,gallium,1,2\n", "line 2: flow 'RX' is not X or M"),
    (HEADER + "2023-08,CHN,USA,X,811292,gallium,1,-2\n", "net_weight_kg '-2'"),
])
def test_a_bad_file_names_file_line_and_column(tmp_path: Path, config: Config, text: str,
                                               message: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TradeFileError, match=message):
        load_trade_file(path, config)


def test_the_replay_fires_the_collapse_once_the_month_is_public(tmp_path: Path,
                                                                 config: Config) -> None:
    observations, _ = load_trade_file(history(tmp_path / "trade.csv"), config)
    data = ReplayData(observations, [], lambda year: date(year + 1, 9, 30))
    result = replay(config, data, date(2023, 1, 1), date(2023, 12, 31), minerals=["gallium"],
                    warmup=timedelta(days=0))
    fired = [t for t in result.transitions if t.alert.alertname == "trade_collapse"
             and t.kind.name in ("FIRED", "ESCALATED")]
    assert [t.at.date() for t in fired] == [date(2023, 10, 30)]
    summary = dict(fired[0].alert.annotations)["summary"]
    assert summary.startswith("China's gallium exports to the United States: 0 kg in "
                              "August 2023 against a 12-month median of 4,800 kg")


def test_the_cli_accepts_trade_history_and_refuses_a_bad_file(tmp_path: Path) -> None:
    runner = CliRunner()
    good = history(tmp_path / "trade.csv")
    result = runner.invoke(cli, ["--state-dir", str(tmp_path / "s"), "backtest", "--trade",
                                 str(good), "--mineral", "gallium", "--from", "2023-06-01",
                                 "--to", "2023-12-31", "--format", "json"])
    assert result.exit_code == 0, result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("period,reporter\n2023-08,CHN\n", encoding="utf-8")
    result = runner.invoke(cli, ["--state-dir", str(tmp_path / "s"), "backtest", "--trade",
                                 str(bad), "--mineral", "gallium"])
    assert result.exit_code == 2
    assert "bad.csv: missing column(s) partner, flow, hs" in result.output


def test_the_cli_names_the_prices_option_for_a_file_it_cannot_read(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path / "s"), "backtest",
                                      "--prices", str(tmp_path / "absent.csv"),
                                      "--mineral", "gallium"])
    assert result.exit_code == 2
    assert "--prices" in result.output and "absent.csv" in result.output
