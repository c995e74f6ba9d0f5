"""Streaming export of a large result to CSV and Parquet: rows per second and peak memory growth.

Exports 1,000,000 rows (200,000 with --quick) from the embedded PostgreSQL through the connector's
server-side cursor into the result store. Memory growth is the process's peak RSS during the
export minus its RSS before it. Goal: growth under 100 MB.
"""

from __future__ import annotations

import threading
import time

import psutil
from _common import arguments, bench_workspace, report, setup_django

args = arguments(__doc__ or "")
setup_django()

from django.conf import settings  # noqa: E402

from datasources import queries, services  # noqa: E402
from datasources.models import DataSource  # noqa: E402

ROWS = 200_000 if args.quick else 1_000_000
SQL = f"""
SELECT g AS id, md5(g::text) AS label, (g % 1000) * 1.5 AS amount, g % 7 = 0 AS flagged,
       timestamp '2026-01-01' + g * interval '1 second' AS at
  FROM generate_series(1, {ROWS}) AS g
"""


def bench_source() -> DataSource:
    workspace = bench_workspace("export-bench", "Export bench")
    db = settings.DATABASES["default"]
    config = {"host": db["HOST"], "port": int(db["PORT"]), "database": db["NAME"], "user": db["USER"]}
    source = DataSource.objects.filter(workspace=workspace, name="Bench server").first()
    if source is None:
        return services.datasource_create(workspace=workspace, name="Bench server", kind="postgresql",
                                          settings=config, secrets={"password": db["PASSWORD"]})  # fmt: skip
    return services.datasource_update(datasource=source, settings=config, secrets={"password": db["PASSWORD"]})


class PeakRss:
    """Samples this process's resident memory while the export runs."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.baseline = self.process.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return round((self.peak - self.baseline) / 2**20, 1)


def main() -> None:
    source = bench_source()
    figures: dict[str, dict[str, float]] = {}
    for fmt in ("csv", "parquet"):
        with PeakRss() as memory:
            started = time.perf_counter()
            exported = queries.query_export(datasource=source, sql=SQL, fmt=fmt)
            elapsed = time.perf_counter() - started
        assert exported.rows == ROWS, exported.rows
        figures[fmt] = {
            "rows_per_s": round(ROWS / elapsed),
            "peak_growth_mb": memory.growth_mb,
            "seconds": round(elapsed, 2),
            "file_mb": round(exported.bytes / 2**20, 1),
        }
        exported.path.unlink()
        print(f"{fmt}: {ROWS} rows in {elapsed:.1f} s, peak growth {memory.growth_mb} MB")
    report(
        "export_stream",
        {
            "rows": ROWS,
            "rows_per_s": min(f["rows_per_s"] for f in figures.values()),
            "peak_growth_mb": max(f["peak_growth_mb"] for f in figures.values()),
            "by_format": figures,
            "goal_peak_growth_mb": 100,
        },
    )


main()
