"""The generator of the Acme demo data: seeded streams, one per table, identical on every run.

Every value comes from ``random.Random`` streams seeded with strings and a fixed anchor date, never
from the clock. Child tables need only a few compact facts about their parents (ids, regions, times,
money in cents), which ``_Plan`` computes once per dataset; rows are then generated table by table.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from datasources.demo_data.schema import ANCHOR_DATE, DEPARTMENTS, TABLES, USD_PER_UNIT, Table
from datasources.demo_data.vocabulary import (
    AREA_CODES,
    CATEGORIES,
    COUNTRIES,
    COUNTRY_CUM,
    CURRENCY,
    DEVICES,
    EMAIL_DOMAINS,
    EVENT_PAGES,
    EVENT_TYPES,
    FIRST_NAMES,
    INDUSTRIES,
    LAST_NAMES,
    MANAGERS,
    NAME_A,
    NAME_B,
    NAME_C,
    REFERRERS,
    SALES_REPS,
    SEGMENTS,
    STAGES_OPEN,
    TICKET_SUBJECTS,
    TIERS,
    TITLES,
)

DEFAULT_SEED = 20261001
BATCH_ROWS = 10_000
Row = tuple[Any, ...]
_UNSCALED = {"billing.products"}  # a price list does not grow with the business

_START = datetime(2023, 10, 1, tzinfo=UTC)  # three years of history before the anchor
_ANCHOR = datetime(ANCHOR_DATE.year, ANCHOR_DATE.month, ANCHOR_DATE.day, tzinfo=UTC)
_SPAN = int((_ANCHOR - _START).total_seconds())  # plan times are whole seconds since _START
_DAY = 86_400


def _ts(seconds: int) -> datetime:
    return _START + timedelta(seconds=seconds)


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def _growth(rng: random.Random) -> float:
    """A fraction of the history window, denser towards the anchor: the business has grown."""
    return float(rng.random() ** 0.6)


def _pick(rng: random.Random, options: tuple[tuple[str, int], ...], k: int) -> list[str]:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options], k=k)


def _phone(rng: random.Random) -> str:
    # 555-0100..555-0199 is the North American range reserved for fiction.
    return f"+1-{rng.choice(AREA_CODES)}-555-01{rng.randrange(100):02d}"


class _UniqueEmails:
    """``j.smith@example.com``, then ``j.smith2@...``: local parts never end in a digit, so no clash."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def make(self, local: str, domain: str) -> str:
        count = self._seen.get(local, 0) + 1
        self._seen[local] = count
        return f"{local}{count if count > 1 else ''}@{domain}"


def _company_name(index: int) -> str:
    combos = len(NAME_A) * len(NAME_B) * len(NAME_C)
    a, rest = divmod(index % combos, len(NAME_B) * len(NAME_C))
    b, c = divmod(rest, len(NAME_C))
    suffix = f" {index // combos + 1}" if index >= combos else ""
    return f"{NAME_A[a]} {NAME_B[b]} {NAME_C[c]}{suffix}"


def _products() -> list[tuple[str, str, str, int]]:
    """The fixed price list: (sku, name, category, unit price in USD cents)."""
    return [
        (f"ACM-{code}-{t + 1:02d}", f"Acme {category} {tier}", category, round(base * mult * 100) - 1)
        for category, code, base in CATEGORIES
        for t, (tier, mult) in enumerate(TIERS)
    ]


# --- the plan: compact facts about parents that child tables need -------------------------------


class _Plan:
    """Compact facts about parent rows (indexes from 0, times in seconds since _START, money in cents)."""

    def __init__(self, scale: float, seed: int) -> None:
        self.seed = seed
        size = {t.qualified_name: _scaled(t, scale) for t in TABLES}
        self.products = _products()
        self._customers(size["billing.customers"], size["crm.companies"])
        self._accounts(size["billing.accounts"])
        self._invoices(size["billing.invoices"])
        self._companies_and_contacts(size["crm.companies"], size["crm.contacts"])
        self.counts = dict(size)
        self.counts["billing.accounts"] = len(self.account_opened)
        self.counts["billing.invoice_lines"] = len(self.line_invoice)
        self.counts["billing.payments"] = sum(self.invoice_payments)

    def rng(self, stream: str) -> random.Random:
        # A string seed is hashed with SHA-512 by random.Random: stable across runs and machines.
        return random.Random(f"acme-demo:{self.seed}:{stream}")

    def _customers(self, n: int, n_companies: int) -> None:
        rng = self.rng("plan:customers")
        country = rng.choices(range(len(COUNTRIES)), cum_weights=COUNTRY_CUM, k=n)
        self.customer_country = [COUNTRIES[i][0] for i in country]
        self.customer_region = [COUNTRIES[i][1] for i in country]
        self.customer_segment = rng.choices(range(len(SEGMENTS)), weights=[s[1] for s in SEGMENTS], k=n)
        # A fifth came with the launch, the rest signed up steadily since; sorted, so that customer ids
        # increase with the sign-up time. Revenue grows as the customers add up.
        self.customer_created = sorted(
            rng.randrange(60 * _DAY) if rng.random() < 0.2 else int(rng.random() * _SPAN * 0.98) for _ in range(n)
        )
        # Customers and CRM-only companies draw from one pool of names, so no two clash.
        pool = max(len(NAME_A) * len(NAME_B) * len(NAME_C), n + n_companies)
        names = rng.sample(range(pool), n + n_companies)
        self.customer_names = [_company_name(i) for i in names[:n]]
        self.prospect_names = [_company_name(i) for i in names[n:]]

    def _accounts(self, n: int) -> None:
        rng = self.rng("plan:accounts")
        n_customers = len(self.customer_created)
        n = max(n, n_customers)  # every customer has at least one account
        # Bigger customers more often have several accounts.
        weights = [(1, 3, 8)[s] for s in self.customer_segment]
        owners = list(range(n_customers)) + rng.choices(range(n_customers), weights=weights, k=n - n_customers)
        opened = []
        for i, customer in enumerate(owners):
            created = self.customer_created[customer]
            lag = rng.randrange(30 * _DAY) if i < n_customers else int(rng.random() * (_SPAN - created))
            opened.append((min(created + lag, _SPAN - _DAY), customer))
        opened.sort()
        self.account_opened = [t for t, _ in opened]
        self.account_customer = [c for _, c in opened]
        self.account_region = [self.customer_region[c] for c in self.account_customer]
        self.account_currency = [CURRENCY.get(self.customer_country[c], "USD") for c in self.account_customer]
        self.account_status = rng.choices(("active", "suspended", "closed"), weights=(85, 5, 10), k=n)
        # A closed account was billed, and its subscriptions ran, only until it closed.
        self.account_end = [
            min(opened + 30 * _DAY + int(rng.random() * (_SPAN - opened)), _SPAN - 1)
            if status == "closed"
            else _SPAN - 1
            for opened, status in zip(self.account_opened, self.account_status, strict=True)
        ]

    def _invoices(self, n: int) -> None:
        rng = self.rng("plan:invoices")
        n_accounts = len(self.account_opened)
        # Accounts opened long ago have had more invoices.
        opened, end = self.account_opened, self.account_end
        accounts = rng.choices(range(n_accounts), weights=[e - o for o, e in zip(opened, end, strict=True)], k=n)
        issued = sorted((opened[a] + int(rng.random() * (end[a] - opened[a])), a) for a in accounts)
        self.invoice_issued = [t for t, _ in issued]
        self.invoice_account = [a for _, a in issued]
        unit_prices = {cur: [round(Decimal(p[3]) / rate) for p in self.products] for cur, rate in USD_PER_UNIT.items()}
        self.unit_price_cents = unit_prices
        self.line_invoice: list[int] = []
        self.line_product: list[int] = []
        self.line_quantity: list[int] = []
        self.invoice_total: list[int] = []
        self.invoice_status: list[str] = []
        self.invoice_payments: list[int] = []
        self.invoice_pay_window: list[tuple[int, int]] = []  # when its payments were received
        products = range(len(self.products))
        for i, (t, a) in enumerate(issued):
            prices = unit_prices[self.account_currency[a]]
            total = 0
            for product in rng.sample(products, rng.choices((1, 2, 3, 4), weights=(2, 3, 3, 2))[0]):
                quantity = rng.randint(1, 25)
                self.line_invoice.append(i)
                self.line_product.append(product)
                self.line_quantity.append(quantity)
                total += quantity * prices[product]
            self.invoice_total.append(total)
            due, u = t + 30 * _DAY, rng.random()
            window = (t, min(t + 45 * _DAY, _SPAN - 1))
            if u < 0.03:
                status, payments = "void", 0
            elif due >= _SPAN:  # not due yet: some customers pay early
                status, payments = ("paid", 1) if u < 0.35 else ("open", 0)
            elif u < 0.8:
                status, payments = "paid", 1
            elif due >= _SPAN - 120 * _DAY:  # recently due and not fully paid; some paid a part
                status, payments, window = "overdue", int(u > 0.95), (t, _SPAN - 1)
            elif rng.random() < 0.7:  # older unpaid invoices were paid late...
                status, payments, window = "paid", 1, (due, min(due + 90 * _DAY, _SPAN - 1))
            else:  # ...or written off
                status, payments = "void", 0
            if status == "paid" and rng.random() < 0.03:
                payments = 2  # paid in two instalments
            self.invoice_status.append(status)
            self.invoice_payments.append(payments)
            self.invoice_pay_window.append(window)

    def _companies_and_contacts(self, n_companies: int, n: int) -> None:
        rng = self.rng("plan:companies")
        n_customers = len(self.customer_created)
        # Six in ten CRM companies are billing customers too (same name, country and region).
        linked = rng.sample(range(n_customers), min(n_customers, round(n_companies * 0.6)))
        self.company_customer: list[int | None] = [*linked, *[None] * (n_companies - len(linked))]
        self.company_country: list[str] = []
        self.company_region: list[str] = []
        self.company_name: list[str] = []
        prospects = iter(self.prospect_names)
        for customer in self.company_customer:
            if customer is None:
                country, region, _ = rng.choices(COUNTRIES, cum_weights=COUNTRY_CUM)[0]
                name = next(prospects)
            else:
                country, region = self.customer_country[customer], self.customer_region[customer]
                name = self.customer_names[customer]
            self.company_country.append(country)
            self.company_region.append(region)
            self.company_name.append(name)
        self.contact_company = rng.choices(range(n_companies), k=n)
        self.contact_customer = [self.company_customer[c] if rng.random() < 0.8 else None for c in self.contact_company]
        self.customer_contacts: dict[int, list[int]] = {}
        for contact, customer in enumerate(self.contact_customer):
            if customer is not None:
                self.customer_contacts.setdefault(customer, []).append(contact)


def _scaled(table: Table, scale: float) -> int:
    if table.qualified_name in _UNSCALED:
        return table.base_rows
    return max(1, round(table.base_rows * scale))


# --- the generator -------------------------------------------------------------------------------


class AcmeDataset:
    """The demo data at one scale; ``batches(table)`` yields its rows, the same on every run.

    Values are Python ``int``, ``str``, ``Decimal`` (money), ``date`` and UTC ``datetime``; ids
    start at 1. Row counts of invoice_lines and payments follow from the invoices and are exact
    (``row_counts``) before anything is generated.
    """

    def __init__(self, scale: float = 1.0, *, seed: int = DEFAULT_SEED) -> None:
        if not (scale > 0 and math.isfinite(scale)):
            raise ValueError(f"scale must be a positive number, not {scale!r}")
        self.scale = scale
        self._plan = _Plan(scale, seed)
        self._streams: dict[str, Callable[[], Iterator[Row]]] = {
            "billing.customers": self._customers,
            "billing.accounts": self._accounts,
            "billing.products": self._products,
            "billing.subscriptions": self._subscriptions,
            "billing.invoices": self._invoices,
            "billing.invoice_lines": self._invoice_lines,
            "billing.payments": self._payments,
            "crm.companies": self._companies,
            "crm.contacts": self._contacts,
            "crm.deals": self._deals,
            "crm.support_tickets": self._support_tickets,
            "web.events": self._events,
        }

    def row_counts(self) -> dict[str, int]:
        return {t.qualified_name: self._plan.counts[t.qualified_name] for t in TABLES}

    def rows(self, table: Table | str) -> Iterator[Row]:
        name = table.qualified_name if isinstance(table, Table) else table
        return self._streams[name]()

    def batches(self, table: Table | str, *, batch_rows: int = BATCH_ROWS) -> Iterator[list[Row]]:
        rows = self.rows(table)
        while batch := list(itertools.islice(rows, batch_rows)):
            yield batch

    def _customers(self) -> Iterator[Row]:
        p, rng, emails = self._plan, self._plan.rng("customers"), _UniqueEmails()
        for i, region in enumerate(p.customer_region):
            local = f"{rng.choice(FIRST_NAMES)[0]}.{rng.choice(LAST_NAMES)}".lower()
            yield (
                i + 1, p.customer_names[i], emails.make(local, rng.choice(EMAIL_DOMAINS)), _phone(rng),
                p.customer_country[i], region, SEGMENTS[p.customer_segment[i]][0], _ts(p.customer_created[i]),
                rng.choice(MANAGERS[region]),
            )  # fmt: skip

    def _accounts(self) -> Iterator[Row]:
        p, rng = self._plan, self._plan.rng("accounts")
        seen: dict[int, int] = {}
        labels = ("Subsidiary", "Operations", "R&D", "International", "Retail", "Shared Services")
        departments = rng.choices(DEPARTMENTS, weights=(40, 20, 30, 10), k=len(p.account_customer))
        for i, customer in enumerate(p.account_customer):
            nth = seen[customer] = seen.get(customer, 0) + 1
            name = p.customer_names[customer] + ("" if nth == 1 else f" - {rng.choice(labels)} {nth}")
            yield (
                i + 1, customer + 1, name, p.account_status[i], p.account_currency[i], p.account_region[i],
                departments[i], _ts(p.account_opened[i]),
            )  # fmt: skip

    def _products(self) -> Iterator[Row]:
        for i, (sku, name, category, cents) in enumerate(self._plan.products):
            yield (i + 1, sku, name, category, _money(cents))

    def _subscriptions(self) -> Iterator[Row]:
        p, rng = self._plan, self._plan.rng("subscriptions")
        n = self._plan.counts["billing.subscriptions"]
        accounts = rng.choices(range(len(p.account_opened)), k=n)
        opened, end = p.account_opened, p.account_end
        starts = sorted((opened[a] + int(rng.random() * (end[a] - opened[a])), a) for a in accounts)
        for i, (started, a) in enumerate(starts):
            product = rng.randrange(len(p.products))
            low, high = SEGMENTS[p.customer_segment[p.account_customer[a]]][2]
            seats = rng.randint(low, high)
            ended: datetime | None = None
            if p.account_status[a] == "closed" or rng.random() < 0.2:
                status, ended = "cancelled", _ts(started + 1 + int(rng.random() * (end[a] - started - 1)))
            else:
                status = "trialing" if _SPAN - started < 14 * _DAY else "active"
            yield (
                i + 1, a + 1, product + 1, status, seats, _money(seats * p.products[product][3]), _ts(started), ended,
            )  # fmt: skip

    def _invoices(self) -> Iterator[Row]:
        p = self._plan
        for i, issued in enumerate(p.invoice_issued):
            a = p.invoice_account[i]
            issued_at = _ts(issued)
            yield (
                i + 1, a + 1, f"INV-{issued_at.year}-{i + 1:06d}", issued_at, issued_at + timedelta(days=30),
                p.invoice_status[i], _money(p.invoice_total[i]), p.account_currency[a], p.account_region[a],
            )  # fmt: skip

    def _invoice_lines(self) -> Iterator[Row]:
        p = self._plan
        for i, invoice in enumerate(p.line_invoice):
            product, quantity = p.line_product[i], p.line_quantity[i]
            unit = p.unit_price_cents[p.account_currency[p.invoice_account[invoice]]][product]
            yield (i + 1, invoice + 1, product + 1, quantity, _money(unit), _money(unit * quantity))

    def _payments(self) -> Iterator[Row]:
        p, rng = self._plan, self._plan.rng("payments")
        # Each account pays one way, with one card.
        methods = rng.choices(("card", "bank_transfer", "direct_debit"), weights=(55, 30, 15), k=len(p.account_opened))
        cards = [f"{rng.randrange(10_000):04d}" for _ in methods]
        next_id = 1
        for i, count in enumerate(p.invoice_payments):
            if not count:
                continue
            total, a = p.invoice_total[i], p.invoice_account[i]
            earliest, latest = p.invoice_pay_window[i]
            if p.invoice_status[i] == "paid":
                amounts = [total] if count == 1 else [total // 2 + rng.randrange(-total // 5, total // 5 + 1)]
                amounts += [total - sum(amounts)] if count == 2 else []
            else:  # a part payment of an overdue invoice
                amounts = [max(1, round(total * rng.uniform(0.2, 0.8)))]
            for at in sorted(earliest + int(rng.random() * (latest - earliest)) for _ in amounts):
                yield (
                    next_id, i + 1, _ts(at), _money(amounts.pop()), methods[a],
                    cards[a] if methods[a] == "card" else None,
                )  # fmt: skip
                next_id += 1

    def _companies(self) -> Iterator[Row]:
        p, rng = self._plan, self._plan.rng("companies")
        for i, name in enumerate(p.company_name):
            employees = round(10 ** rng.uniform(1, 4.7))
            website = "https://www." + "".join(ch for ch in name.lower() if ch.isalnum()) + ".example"
            yield (i + 1, name, rng.choice(INDUSTRIES), employees, p.company_country[i], p.company_region[i], website)

    def _contacts(self) -> Iterator[Row]:
        p, rng, emails = self._plan, self._plan.rng("contacts"), _UniqueEmails()
        departments = rng.choices(DEPARTMENTS, weights=(45, 20, 10, 25), k=len(p.contact_company))
        born_from, born_days = date(1958, 1, 1), (date(2003, 12, 31) - date(1958, 1, 1)).days
        for i, company in enumerate(p.contact_company):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            customer = p.contact_customer[i]
            yield (
                i + 1, company + 1, None if customer is None else customer + 1, first, last,
                emails.make(f"{first}.{last}".lower(), rng.choice(EMAIL_DOMAINS)), _phone(rng),
                rng.choice(TITLES), p.company_region[company], departments[i],
                born_from + timedelta(days=rng.randrange(born_days)),
            )  # fmt: skip

    def _deals(self) -> Iterator[Row]:
        p, rng = self._plan, self._plan.rng("deals")
        n = self._plan.counts["crm.deals"]
        created = sorted(int(_growth(rng) * _SPAN) for _ in range(n))
        departments = rng.choices(DEPARTMENTS, weights=(75, 5, 5, 15), k=n)
        for i, start in enumerate(created):
            company = rng.randrange(len(p.company_region))
            region = p.company_region[company]
            close = start + rng.randrange(7 * _DAY, 180 * _DAY)
            closed: datetime | None = None
            if close < _SPAN:
                stage, closed = ("closed_won" if rng.random() < 0.35 else "closed_lost"), _ts(close)
            else:
                stage = rng.choice(STAGES_OPEN)
            amount = round(10 ** rng.uniform(1, 3.7)) * 100_00  # whole hundreds of dollars, in cents
            yield (
                i + 1, company + 1, rng.choice(SALES_REPS[region]), stage, _money(amount), region,
                departments[i], _ts(start), closed,
            )  # fmt: skip

    def _support_tickets(self) -> Iterator[Row]:
        p, rng = self._plan, self._plan.rng("support_tickets")
        n = self._plan.counts["crm.support_tickets"]
        tenure = [_SPAN - t for t in p.customer_created]
        customers = rng.choices(range(len(tenure)), weights=tenure, k=n)
        opened = sorted(
            (p.customer_created[c] + int(rng.random() * (_SPAN - p.customer_created[c])), c) for c in customers
        )
        departments = rng.choices(DEPARTMENTS, weights=(10, 70, 15, 5), k=n)
        priorities = rng.choices(("low", "normal", "high", "urgent"), weights=(25, 50, 20, 5), k=n)
        for i, (start, customer) in enumerate(opened):
            contacts = p.customer_contacts.get(customer)
            contact = rng.choice(contacts) + 1 if contacts and rng.random() < 0.7 else None
            # Most tickets take a day or three; a few get stuck for weeks.
            mean_days = 30 if rng.random() < 0.04 else 2
            resolve = start + int(rng.expovariate(1 / (mean_days * _DAY))) + 600
            resolved_at: datetime | None = None
            satisfaction: int | None = None
            if resolve < _SPAN:
                status = "closed" if _SPAN - resolve > 7 * _DAY else "resolved"
                resolved_at = _ts(resolve)
                if rng.random() < 0.6:
                    satisfaction = rng.choices((1, 2, 3, 4, 5), weights=(5, 8, 17, 35, 35))[0]
            else:
                status = rng.choice(("open", "pending"))
            yield (
                i + 1, customer + 1, contact, rng.choice(TICKET_SUBJECTS[departments[i]]), priorities[i], status,
                p.customer_region[customer], departments[i], _ts(start), resolved_at, satisfaction,
            )  # fmt: skip

    def _events(self) -> Iterator[Row]:
        p, rng = self._plan, self._plan.rng("events")
        n = self._plan.counts["web.events"]
        lengths: list[int] = []
        planned = 0
        while planned < n:  # whole sessions of 1 to 10 events; the last one is cut to fit
            lengths.append(rng.randint(1, 10))
            planned += lengths[-1]
        window = 365 * _DAY - 3_600  # sessions last under an hour, so nothing lands after the anchor
        starts = sorted(_SPAN - 365 * _DAY + rng.randrange(window) for _ in lengths)
        event_types = _pick(rng, EVENT_TYPES, n)
        n_customers = len(p.customer_created)
        next_id = 1
        for start, length in zip(starts, lengths, strict=True):
            session = f"{rng.getrandbits(64):016x}"
            customer: int | None = rng.randrange(n_customers) if rng.random() < 0.55 else None
            if customer is not None and p.customer_created[customer] > start:
                customer = None  # nobody signs in before they sign up
            if customer is None:
                country, region, _ = rng.choices(COUNTRIES, cum_weights=COUNTRY_CUM)[0]
            else:
                country, region = p.customer_country[customer], p.customer_region[customer]
            device, referrer, at = rng.choice(DEVICES), rng.choice(REFERRERS), start
            for _ in range(min(length, n - next_id + 1)):
                event_type = event_types[next_id - 1]
                page = rng.choice(EVENT_PAGES[event_type])
                yield (
                    next_id, session, None if customer is None else customer + 1, event_type, page, referrer,
                    country, region, device, _ts(at),
                )  # fmt: skip
                referrer, at, next_id = "https://www.acme.example" + page, at + rng.randint(5, 300), next_id + 1


def dataset_fingerprint(scale: float) -> str:
    """SHA-256 over every generated row of every table, in order: equal fingerprints, equal data."""
    dataset = AcmeDataset(scale)
    digest = hashlib.sha256()
    for table in TABLES:
        digest.update(table.qualified_name.encode())
        for batch in dataset.batches(table):
            digest.update(repr(batch).encode())
    return digest.hexdigest()
