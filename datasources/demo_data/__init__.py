"""Demo data of Acme Corporation, a fictional company, and loaders into PostgreSQL, SQLite and Parquet.

The data is deterministic: seeded generators and a fixed anchor date (2026-10-01), so every run on
every machine produces the same rows (``dataset_fingerprint`` shows it). The schema is described once
(``TABLES``, in ``schema``); the DDL of each engine is derived from that description.

- ``schema``: tables, columns, types, keys and comments.
- ``vocabulary``: the fictional names, places and pages the rows are made of.
- ``generator``: ``AcmeDataset``, which yields the rows of each table in batches.
- ``loaders``: ``load_postgres``, ``load_sqlite``, ``write_parquet`` and ``load_all``.
"""

from __future__ import annotations

from datasources.demo_data.generator import AcmeDataset, dataset_fingerprint
from datasources.demo_data.loaders import LoadSummary, load_all, load_postgres, load_sqlite, write_parquet
from datasources.demo_data.schema import (
    ANCHOR_DATE,
    DEPARTMENTS,
    REGIONS,
    TABLES,
    TABLES_BY_NAME,
    Column,
    SqlType,
    Table,
)

__all__ = [
    "ANCHOR_DATE",
    "DEPARTMENTS",
    "REGIONS",
    "TABLES",
    "TABLES_BY_NAME",
    "AcmeDataset",
    "Column",
    "LoadSummary",
    "SqlType",
    "Table",
    "dataset_fingerprint",
    "load_all",
    "load_postgres",
    "load_sqlite",
    "write_parquet",
]
