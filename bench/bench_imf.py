"""Time parsing an IMF PCPS workbook the size of the real one, and of the synthetic sample.

The real ``external-data.xls`` is about 430 monthly rows (1990M1..) by about 70 series; this
writes a BIFF8 workbook of that shape with xlwt (random walks, coded and uncoded series, index
columns, empty cells before each series starts) and parses 20 series from it with
``parse_imf_pcps``, as a poll does. It also parses the synthetic sample of the tests. A poll
runs every 12 hours, so anything under a second is ample; the figures say how far under.

Usage: .venv/bin/python bench/bench_imf.py [--columns 70] [--rows 430] [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import random
import time
from pathlib import Path

import xlrd
import xlwt

from monitor.sources.imf import ImfSeries, parse_imf_pcps

SAMPLE = (Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "prices"
          / "imf_external_data_SYNTHETIC.xls")


def workbook(columns: int, rows: int, seed: int = 7) -> tuple[bytes, list[ImfSeries]]:
    """An .xls of the PCPS layout and the 20 series a shipped config would read from it."""
    rng = random.Random(seed)
    book = xlwt.Workbook()
    sheet = book.add_sheet("External")
    for r, label in enumerate(("Commodity", "Commodity.Description", "Data Type", "Frequency")):
        sheet.write(r, 0, label)
    for r in range(rows):
        sheet.write(4 + r, 0, f"{1990 + r // 12}M{r % 12 + 1}")
    series: list[ImfSeries] = []
    for c in range(1, columns + 1):
        coded = c % 4 != 0
        index = c % 7 == 0
        code = f"PBENCH{c}" if coded else ""
        description = f"Bench commodity {c}, US$ per metric ton"
        sheet.write(0, c, code)
        sheet.write(1, c, description)
        sheet.write(2, c, "Index" if index else "USD")
        sheet.write(3, c, "Monthly")
        start = 0 if coded else min(rows - 1, 264)  # uncoded series start in 2012
        value = rng.uniform(100, 50_000)
        for r in range(start, rows):
            value *= 1 + rng.gauss(0, 0.03)
            sheet.write(4 + r, c, round(value, 4))
        if not index and len(series) < 20:
            series.append(ImfSeries(f"m{c}", code=code) if coded
                          else ImfSeries(f"m{c}", description=f"Bench commodity {c},"))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue(), series


def xlrd_only(repeat: int, body: bytes) -> float:
    """The reference: xlrd opening the workbook and reading its sheet, nothing else."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        xlrd.open_workbook(file_contents=body, on_demand=True, ragged_rows=True,
                           logfile=io.StringIO()).sheet_by_index(0)
        times.append(time.perf_counter() - started)
    return min(times)


def best_of(repeat: int, body: bytes, series: list[ImfSeries]) -> tuple[float, int]:
    times, count = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        count = len(parse_imf_pcps(body, source="bench", series=series))
        times.append(time.perf_counter() - started)
    return min(times), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", type=int, default=70)
    parser.add_argument("--rows", type=int, default=430)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    body, series = workbook(args.columns, args.rows)
    seconds, count = best_of(args.repeat, body, series)
    reference = xlrd_only(args.repeat, body)
    print(f"real-size workbook: {len(body):,} bytes, {args.rows} rows x {args.columns} series, "
          f"{len(series)} read -> {count:,} prices in {seconds * 1000:.0f} ms (best of "
          f"{args.repeat}); xlrd's own read {reference * 1000:.0f} ms, so the parse is "
          f"x{seconds / reference:.2f} xlrd alone")
    columns = min(255, args.columns * 3)  # an .xls has at most 256 columns
    wide, wide_series = workbook(columns, args.rows * 3)
    wide_s, wide_count = best_of(args.repeat, wide, wide_series)
    factor = columns * 3 / args.columns
    print(f"x{factor:.0f} the cells ({args.rows * 3} rows x {columns} series): {len(wide):,} "
          f"bytes -> {wide_count:,} prices in {wide_s * 1000:.0f} ms (x{wide_s / seconds:.1f} "
          f"the time)")
    sample = SAMPLE.read_bytes()
    sample_series = [ImfSeries("cobalt", code="PCOBA"), ImfSeries("molybdenum", code="PLMMODY"),
                     ImfSeries("lithium", description="Lithium Metal"),
                     ImfSeries("rare_earths", description="Rare Earth Carbonate")]
    sample_s, sample_count = best_of(args.repeat, sample, sample_series)
    print(f"synthetic sample: {len(sample):,} bytes -> {sample_count:,} prices in "
          f"{sample_s * 1000:.0f} ms")


if __name__ == "__main__":
    main()
