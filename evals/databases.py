"""The evaluation's own databases, of shapes the demo does not have, built deterministically (a
seeded generator, a few thousand rows each) into our PostgreSQL server, each as its own database.

- ``fleet``: a logistics company in schema ``ops`` (not ``public``), no declared foreign keys, times as
  epoch seconds in ``bigint`` columns, money in EUR.
- ``shop``: an online shop in ``public`` with camelCase identifiers (quoted in SQL), no declared
  foreign keys, order amounts in four currencies and a table of exchange rates.

Their data lies before the demo's anchor date (2026-10-01) like the demo's, so that questions about
"last year" or "last quarter" are asked of the same calendar on every source.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from django.conf import settings
from psycopg import sql

from datasources.demo import demo_root, postgres_database_ensure, postgres_server
from datasources.demo_data import ANCHOR_DATE

# Bump when the generator changes, so existing checkouts rebuild.
DATASET_VERSION = 1
SEED = 17
_START = datetime(2025, 1, 1, tzinfo=UTC)
_END = datetime(ANCHOR_DATE.year, ANCHOR_DATE.month, ANCHOR_DATE.day, tzinfo=UTC)


@dataclass(frozen=True)
class EvalDatabase:
    key: str  # "fleet" or "shop": what suites name as their database
    source_name: str  # the data source's name in the eval workspace
    schema: str
    description: str
    ddl: str
    tables: tuple[tuple[str, tuple[str, ...]], ...]  # (table, columns) in load order

    @property
    def database_name(self) -> str:
        # Derived from the demo database's name so that the tests' run gets databases of its own too.
        return f"{settings.DEMO_DATABASE_NAME}_eval_{self.key}"


FLEET = EvalDatabase(
    key="fleet",
    source_name="Fleet operations (eval)",
    schema="ops",
    description="Trucks, drivers and trips of a logistics company; times are epoch seconds (UTC).",
    ddl="""
CREATE SCHEMA ops;
COMMENT ON SCHEMA ops IS 'Fleet operations of Northway Logistics.';
CREATE TABLE ops.depots (depot_id integer PRIMARY KEY, city text NOT NULL, country text NOT NULL,
    opened_year integer NOT NULL);
CREATE TABLE ops.drivers (driver_id integer PRIMARY KEY, full_name text NOT NULL, depot_id integer NOT NULL,
    hired_epoch bigint NOT NULL, rating numeric(3,2) NOT NULL, license_class text NOT NULL, active boolean NOT NULL);
CREATE TABLE ops.vehicles (vehicle_id integer PRIMARY KEY, plate text NOT NULL, depot_id integer NOT NULL,
    make text NOT NULL, model_year integer NOT NULL, capacity_kg integer NOT NULL, fuel_type text NOT NULL);
CREATE TABLE ops.trips (trip_id integer PRIMARY KEY, driver_id integer NOT NULL, vehicle_id integer NOT NULL,
    origin_depot_id integer NOT NULL, destination_city text NOT NULL, start_epoch bigint NOT NULL,
    end_epoch bigint, distance_km numeric(8,1) NOT NULL, revenue_eur numeric(10,2) NOT NULL, status text NOT NULL);
CREATE TABLE ops.maintenance (maintenance_id integer PRIMARY KEY, vehicle_id integer NOT NULL,
    service_epoch bigint NOT NULL, kind text NOT NULL, cost_eur numeric(9,2) NOT NULL);
COMMENT ON TABLE ops.trips IS 'One row per trip; start_epoch and end_epoch are seconds since 1970 (UTC);
    end_epoch is NULL for cancelled trips.';
COMMENT ON COLUMN ops.trips.revenue_eur IS 'What the customer paid for the trip, in EUR.';
COMMENT ON COLUMN ops.drivers.hired_epoch IS 'Hiring date as seconds since 1970 (UTC).';
COMMENT ON COLUMN ops.maintenance.service_epoch IS 'When the vehicle was serviced, seconds since 1970 (UTC).';
""",
    tables=(
        ("depots", ("depot_id", "city", "country", "opened_year")),
        ("drivers", ("driver_id", "full_name", "depot_id", "hired_epoch", "rating", "license_class", "active")),
        ("vehicles", ("vehicle_id", "plate", "depot_id", "make", "model_year", "capacity_kg", "fuel_type")),
        ("trips", ("trip_id", "driver_id", "vehicle_id", "origin_depot_id", "destination_city", "start_epoch",
                   "end_epoch", "distance_km", "revenue_eur", "status")),
        ("maintenance", ("maintenance_id", "vehicle_id", "service_epoch", "kind", "cost_eur")),
    ),
)  # fmt: skip

SHOP = EvalDatabase(
    key="shop",
    source_name="Online shop (eval)",
    schema="public",
    description="Customers, products and orders of an online shop; order amounts are in the order's currency.",
    ddl="""
CREATE TABLE "customerAccounts" ("customerId" integer PRIMARY KEY, "firstName" text NOT NULL,
    "lastName" text NOT NULL, "countryCode" text NOT NULL, "signupDate" date NOT NULL, "loyaltyTier" text NOT NULL);
CREATE TABLE "productCatalog" ("productId" integer PRIMARY KEY, "productName" text NOT NULL,
    "categoryName" text NOT NULL, "listPriceUsd" numeric(10,2) NOT NULL, "isDiscontinued" boolean NOT NULL);
CREATE TABLE "exchangeRates" ("currencyCode" text PRIMARY KEY, "usdPerUnit" numeric(12,6) NOT NULL);
CREATE TABLE "salesOrders" ("orderId" integer PRIMARY KEY, "customerId" integer NOT NULL,
    "orderedAt" timestamp with time zone NOT NULL, "currencyCode" text NOT NULL, "totalAmount" numeric(12,2) NOT NULL,
    "orderStatus" text NOT NULL, "salesChannel" text NOT NULL);
CREATE TABLE "orderLines" ("orderLineId" integer PRIMARY KEY, "orderId" integer NOT NULL, "productId" integer NOT NULL,
    "quantity" integer NOT NULL, "unitPrice" numeric(12,2) NOT NULL);
CREATE TABLE "refunds" ("refundId" integer PRIMARY KEY, "orderId" integer NOT NULL,
    "refundedAt" timestamp with time zone NOT NULL, "refundAmount" numeric(12,2) NOT NULL, "reasonCode" text NOT NULL);
COMMENT ON TABLE "salesOrders" IS 'Orders; totalAmount is in the order''s currencyCode (USD, EUR, GBP or JPY).';
COMMENT ON TABLE "exchangeRates" IS 'Fixed planning rates: US dollars per unit of each currency.';
COMMENT ON COLUMN "orderLines"."unitPrice" IS 'Price per unit in the order''s currency.';
COMMENT ON COLUMN "refunds"."refundAmount" IS 'Amount refunded, in the order''s currency.';
""",
    tables=(
        ("customerAccounts", ("customerId", "firstName", "lastName", "countryCode", "signupDate", "loyaltyTier")),
        ("productCatalog", ("productId", "productName", "categoryName", "listPriceUsd", "isDiscontinued")),
        ("exchangeRates", ("currencyCode", "usdPerUnit")),
        ("salesOrders", ("orderId", "customerId", "orderedAt", "currencyCode", "totalAmount", "orderStatus",
                         "salesChannel")),
        ("orderLines", ("orderLineId", "orderId", "productId", "quantity", "unitPrice")),
        ("refunds", ("refundId", "orderId", "refundedAt", "refundAmount", "reasonCode")),
    ),
)  # fmt: skip

DATABASES: tuple[EvalDatabase, ...] = (FLEET, SHOP)
DATABASES_BY_KEY = {database.key: database for database in DATABASES}

_CITIES = (("Rotterdam", "NL"), ("Hamburg", "DE"), ("Lyon", "FR"), ("Milan", "IT"), ("Gdansk", "PL"),
           ("Valencia", "ES"), ("Antwerp", "BE"), ("Vienna", "AT"))  # fmt: skip
_DESTINATIONS = ("Berlin", "Paris", "Madrid", "Prague", "Brussels", "Munich", "Zurich", "Copenhagen", "Warsaw",
                 "Porto", "Turin", "Leipzig")  # fmt: skip
_FIRST = ("Anna", "Ben", "Carla", "Dario", "Eva", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kira", "Luca",
          "Mila", "Nils", "Olga", "Piet", "Rosa", "Sven", "Tara", "Umar")  # fmt: skip
_LAST = ("Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Horvat", "Jansen", "Kowalski", "Lang",
         "Moreau", "Novak", "Rossi", "Schmidt", "Vidal")  # fmt: skip
_MAKES = ("Volvo", "Scania", "MAN", "DAF", "Iveco", "Mercedes")
_PRODUCTS = (("Trail Runner Shoes", "Footwear", "89.00"), ("City Sneakers", "Footwear", "65.00"),
             ("Hiking Boots", "Footwear", "140.00"), ("Rain Jacket", "Outerwear", "120.00"),
             ("Down Parka", "Outerwear", "260.00"), ("Fleece Vest", "Outerwear", "55.00"),
             ("Merino T-Shirt", "Tops", "45.00"), ("Linen Shirt", "Tops", "59.00"), ("Hoodie", "Tops", "70.00"),
             ("Day Backpack", "Bags", "80.00"), ("Travel Duffel", "Bags", "110.00"), ("Laptop Sleeve", "Bags", "35.00"),
             ("Water Bottle", "Accessories", "18.00"), ("Wool Beanie", "Accessories", "22.00"),
             ("Sunglasses", "Accessories", "95.00"))  # fmt: skip
_RATES = {"USD": Decimal("1.000000"), "EUR": Decimal("1.080000"), "GBP": Decimal("1.270000"),
          "JPY": Decimal("0.006700")}  # fmt: skip
_COUNTRY_CURRENCY = {"US": "USD", "CA": "USD", "DE": "EUR", "FR": "EUR", "ES": "EUR", "GB": "GBP", "JP": "JPY"}


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _moment(rng: random.Random, start: datetime = _START, end: datetime = _END) -> datetime:
    return start + timedelta(seconds=rng.randrange(int((end - start).total_seconds())))


def fleet_rows(rng: random.Random) -> dict[str, list[tuple[Any, ...]]]:
    depots = [(i, city, country, 1998 + 3 * i) for i, (city, country) in enumerate(_CITIES, start=1)]
    drivers = []
    for i in range(1, 121):
        name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        hired = datetime(2015, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(4000))
        rating = Decimal(rng.randrange(300, 500)) / 100
        drivers.append((i, name, rng.randint(1, 8), _epoch(hired), rating, rng.choice(("B", "C", "CE", "CE")),
                        rng.random() > 0.1))  # fmt: skip
    vehicles = [
        (i, f"NW-{1000 + i * 7}", rng.randint(1, 8), rng.choice(_MAKES), rng.randint(2014, 2026),
         rng.choice((7500, 12000, 18000, 26000, 40000)), rng.choice(("diesel", "diesel", "electric", "hybrid")))
        for i in range(1, 81)
    ]  # fmt: skip
    trips = []
    for i in range(1, 3001):
        start = _moment(rng)
        distance = Decimal(rng.randrange(400, 12000)) / 10
        status = rng.choices(("completed", "delayed", "cancelled"), (80, 14, 6))[0]
        end = None if status == "cancelled" else _epoch(start) + int(float(distance) / 70 * 3600) + rng.randrange(7200)
        revenue = Decimal("0.00") if status == "cancelled" else (distance * Decimal("1.85")).quantize(Decimal("0.01"))
        trips.append((i, rng.randint(1, 120), rng.randint(1, 80), rng.randint(1, 8), rng.choice(_DESTINATIONS),
                      _epoch(start), end, distance, revenue, status))  # fmt: skip
    maintenance = [
        (i, rng.randint(1, 80), _epoch(_moment(rng)), rng.choice(("inspection", "tyres", "engine", "brakes")),
         Decimal(rng.randrange(8000, 450000)) / 100)
        for i in range(1, 401)
    ]  # fmt: skip
    return {"depots": depots, "drivers": drivers, "vehicles": vehicles, "trips": trips, "maintenance": maintenance}


def shop_rows(rng: random.Random) -> dict[str, list[tuple[Any, ...]]]:
    countries = list(_COUNTRY_CURRENCY)
    customers = []
    for i in range(1, 601):
        signup = date(2023, 1, 1) + timedelta(days=rng.randrange(1369))  # until 2026-09-30
        tier = rng.choices(("bronze", "silver", "gold"), (60, 30, 10))[0]
        customers.append((i, rng.choice(_FIRST), rng.choice(_LAST), rng.choice(countries), signup, tier))
    products = [(i, name, category, Decimal(price), i % 7 == 0)
                for i, (name, category, price) in enumerate(_PRODUCTS, start=1)]  # fmt: skip
    rates = [(code, rate) for code, rate in _RATES.items()]
    orders: list[tuple[Any, ...]] = []
    lines: list[tuple[Any, ...]] = []
    refunds: list[tuple[Any, ...]] = []
    line_id = 0
    for i in range(1, 2001):
        customer = rng.choice(customers)
        currency = _COUNTRY_CURRENCY[customer[3]]
        ordered = _moment(rng, datetime(2024, 1, 1, tzinfo=UTC))
        total = Decimal("0.00")
        for product in rng.sample(products, rng.randint(1, 3)):
            line_id += 1
            quantity = rng.randint(1, 4)
            unit = (product[3] / _RATES[currency]).quantize(Decimal("1" if currency == "JPY" else "0.01"))
            lines.append((line_id, i, product[0], quantity, unit))
            total += unit * quantity
        status = rng.choices(("placed", "shipped", "delivered", "returned", "cancelled"), (8, 12, 65, 8, 7))[0]
        orders.append(
            (i, customer[0], ordered, currency, total, status, rng.choice(("web", "web", "app", "marketplace")))
        )
        if status == "returned":
            refunded = ordered + timedelta(days=rng.randint(3, 40))
            refunds.append((len(refunds) + 1, i, min(refunded, _END - timedelta(seconds=1)), total,
                            rng.choice(("damaged", "wrong_size", "late", "changed_mind"))))  # fmt: skip
    return {"customerAccounts": customers, "productCatalog": products, "exchangeRates": rates,
            "salesOrders": orders, "orderLines": lines, "refunds": refunds}  # fmt: skip


_GENERATORS = {"fleet": fleet_rows, "shop": shop_rows}


def _load(conninfo: str, database: EvalDatabase) -> None:
    rows = _GENERATORS[database.key](random.Random(SEED))
    with psycopg.connect(conninfo, autocommit=False) as conn:
        if database.schema != "public":
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(database.schema)))
        for table, _ in reversed(database.tables):
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(sql.Identifier(database.schema),
                                                                     sql.Identifier(table)))  # fmt: skip
        conn.execute(database.ddl.encode())
        for table, columns in database.tables:
            statement = sql.SQL("COPY {}.{} ({}) FROM STDIN").format(
                sql.Identifier(database.schema), sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
            )
            with conn.cursor().copy(statement) as copy:
                for row in rows[table]:
                    copy.write_row(row)
        conn.commit()


def _built(conninfo: str, database: EvalDatabase) -> bool:
    """The last table loaded is there (the marker outlives a dropped database)."""
    name = sql.Identifier(database.schema, database.tables[-1][0]).as_string()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone() == (True,)


def eval_databases_load(*, force: bool = False) -> dict[str, str]:
    """Builds the databases where they are missing or stale; their conninfo by key (none when the
    server does not let us create databases)."""
    marker = demo_root() / "eval-loaded.json"
    marker.parent.mkdir(parents=True, exist_ok=True)
    loaded = json.loads(marker.read_text()) if marker.exists() else {}
    conninfos: dict[str, str] = {}
    for database in DATABASES:
        conninfo = postgres_database_ensure(database.database_name)
        if conninfo is None:
            continue
        if force or loaded.get(database.database_name) != DATASET_VERSION or not _built(conninfo, database):
            _load(conninfo, database)
            loaded[database.database_name] = DATASET_VERSION
            marker.write_text(json.dumps(loaded))
        conninfos[database.key] = conninfo
    return conninfos


def eval_source_settings(database: EvalDatabase) -> tuple[dict[str, Any], dict[str, str]]:
    """The data source settings and secrets that reach ``database`` on our server."""
    server = postgres_server()
    source = {"host": server["host"], "port": server["port"], "database": database.database_name,
              "user": server["user"], "schemas": [database.schema]}  # fmt: skip
    return source, ({"password": server["password"]} if server["password"] else {})
