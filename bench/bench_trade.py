"""Time the trade-flow parsers on a 10-year monthly export table: 20 minerals x 60 partners.

One reporter's monthly exports of 20 HS codes (one per mineral) to 60 partners over 120 months:
144,000 flows. The same table is served three ways and each is parsed as a poll (or a backtest)
would: as UN Comtrade preview answers (JSON, 500 records a call, all the documented fields of a
record), as Census answers (JSON array of arrays, one call per code), and as the long CSV of
``critmon backtest --trade``. ``json.loads`` / ``csv.reader`` alone on the same bytes is the
reference, so the overhead of our validation is visible as a ratio. Then the trade indicators
(risk/trade.py) are computed for the 20 minerals from the parsed flows.

Usage: .venv/bin/python bench/bench_trade.py [--minerals 20] [--partners 60] [--years 10]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ (the stand-in shapes)

from monitor.core.trade import flows_to_observations
from monitor.risk.trade import trade_view
from monitor.sources.census import parse_census
from monitor.sources.comtrade import RECORD_CAP, parse_comtrade
from monitor.sources.trade_csv import parse_trade_csv
from tests.sources.trade_standin import census_answer, comtrade_answer, comtrade_record, monthly

PARTNERS = ["WLD", "USA", "JPN"] + [f"P{n:02d}" for n in range(100)]


def table(minerals: int, partners: int, years: int, seed: int = 0
          ) -> list[tuple[date, str, str, float, float]]:
    rng = random.Random(seed)
    codes = [f"81{n:04d}" for n in range(minerals)]
    return [(month, code, partner, round(rng.uniform(100, 50_000), 1),
             round(rng.uniform(1e4, 1e7), 2))
            for month in monthly(date(2015, 1, 1), 12 * years) for code in codes
            for partner in PARTNERS[:partners]]


def comtrade_bodies(rows: list[tuple[date, str, str, float, float]]) -> list[bytes]:
    records = [comtrade_record(period=m, reporter="CHN", partner=p, hs=c, kg=kg, usd=usd)
               for m, c, p, kg, usd in rows]
    # answers of 499 records: 500 would read as "at the cap" and be asked again in halves
    size = RECORD_CAP - 1
    return [comtrade_answer(records[i:i + size]) for i in range(0, len(records), size)]


def census_bodies(rows: list[tuple[date, str, str, float, float]]) -> list[bytes]:
    by_code: dict[str, list[tuple[str, str, float, float, str, str, str]]] = {}
    for month, code, partner, kg, usd in rows:
        cty = "-" if partner == "WLD" else ("5700" if partner == "CHN" else
                                             str(5000 + PARTNERS.index(partner)))
        by_code.setdefault(code, []).append((cty, partner, usd, kg, "KG", f"{month:%Y-%m}",
                                             code))
    return [census_answer(part) for part in by_code.values()]


def csv_body(rows: list[tuple[date, str, str, float, float]]) -> bytes:
    out = io.StringIO()
    out.write("period,reporter,partner,flow,hs,mineral,value_usd,net_weight_kg\n")
    for month, code, partner, kg, usd in rows:
        out.write(f"{month:%Y-%m},CHN,{partner},X,{code},,{usd},{kg}\n")
    return out.getvalue().encode()


def timed(label: str, bodies: list[bytes], parse: Callable[[bytes], int],
          reference: Callable[[bytes], object], repeat: int) -> None:
    size = sum(len(b) for b in bodies)
    best = ref = float("inf")
    count = 0
    for _ in range(repeat):
        started = time.perf_counter()
        count = sum(parse(b) for b in bodies)
        best = min(best, time.perf_counter() - started)
        started = time.perf_counter()
        for body in bodies:
            reference(body)
        ref = min(ref, time.perf_counter() - started)
    print(f"{label:<22} {count:>8,} rows  {size / 1e6:7.1f} MB  {best:6.2f} s  "
          f"{count / best:>10,.0f} rows/s  {size / 1e6 / best:6.1f} MB/s  "
          f"x{best / ref:4.1f} the bare decode ({ref:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minerals", type=int, default=20)
    parser.add_argument("--partners", type=int, default=60)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = table(args.minerals, args.partners, args.years)
    print(f"table: {args.years} years x 12 months x {args.minerals} codes x {args.partners} "
          f"partners = {len(rows):,} flows; best of {args.repeat}")
    timed("comtrade (json)", comtrade_bodies(rows),
          lambda b: len(parse_comtrade(b, source="bench")[0]), json.loads, args.repeat)
    timed("census (json)", census_bodies(rows),
          lambda b: len(parse_census(b, source="bench")), json.loads, args.repeat)
    timed("backtest --trade (csv)", [csv_body(rows)],
          lambda b: len(parse_trade_csv(b, name="bench.csv")),
          lambda b: list(csv.reader(io.StringIO(b.decode()))), args.repeat)

    flows = parse_trade_csv(csv_body(rows), name="bench.csv")
    codes = sorted({f.hs for f in flows})
    started = time.perf_counter()
    observations = flows_to_observations(flows, {c: (f"m{i}",) for i, c in enumerate(codes)})
    by_mineral: dict[str, list] = {}
    for o in observations:
        by_mineral.setdefault(o.mineral, []).append(o)
    for mineral, rows_of in by_mineral.items():
        trade_view(mineral, mineral, rows_of)
    spent = time.perf_counter() - started
    print(f"indicators: {len(observations):,} observations, {len(by_mineral)} minerals in "
          f"{spent:.2f} s ({spent / len(by_mineral) * 1000:.0f} ms a mineral)")


if __name__ == "__main__":
    main()
