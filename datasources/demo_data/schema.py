"""The schema of the Acme demo data, described once: every engine's DDL is derived from ``TABLES``."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

ANCHOR_DATE = date(2026, 10, 1)  # "today" for the demo company: all data lies before it
REGIONS = ("NA", "EMEA", "APAC", "LATAM")
DEPARTMENTS = ("sales", "support", "finance", "marketing")


class SqlType(enum.Enum):
    """Column types; the value is the standard SQL (and PostgreSQL) spelling."""

    INTEGER = "integer"
    BIGINT = "bigint"
    TEXT = "text"
    MONEY = "numeric(12,2)"
    DATE = "date"
    TIMESTAMP = "timestamp with time zone"


@dataclass(frozen=True)
class Column:
    name: str
    type: SqlType
    comment: str = ""
    nullable: bool = False
    references: str | None = None  # qualified name of the parent table; always its ``id``


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    comment: str
    base_rows: int  # about this many rows at scale 1.0
    columns: tuple[Column, ...]
    primary_key: str = "id"

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def flat_name(self) -> str:
        """The name in engines without schemas (SQLite, Parquet files): ``billing_invoices``."""
        return f"{self.schema}_{self.name}"

    @property
    def foreign_keys(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.references)


def _c(name: str, type_: SqlType, comment: str = "", *, null: bool = False, ref: str | None = None) -> Column:
    return Column(name, type_, comment, null, ref)


_I, _B, _T, _M, _D, _TS = SqlType.INTEGER, SqlType.BIGINT, SqlType.TEXT, SqlType.MONEY, SqlType.DATE, SqlType.TIMESTAMP
_REGION = f"Sales region: one of {', '.join(REGIONS)}."
_DEPARTMENT = f"Acme department that owns the record: one of {', '.join(DEPARTMENTS)}."
_COUNTRY = "ISO 3166-1 alpha-2 country code."

TABLES: tuple[Table, ...] = (
    Table("billing", "customers", "Organisations that buy from Acme; one row per billing customer.", 2_000, (
        _c("id", _I, "Customer id."),
        _c("name", _T, "Legal name of the customer organisation."),
        _c("email", _T, "Personal e-mail of the billing contact (personal data)."),
        _c("phone", _T, "Phone number of the billing contact (personal data)."),
        _c("country", _T, _COUNTRY),
        _c("region", _T, _REGION),
        _c("segment", _T, "Size segment: SMB, Mid-Market or Enterprise."),
        _c("created_at", _TS, "When the customer signed up (UTC)."),
        _c("account_manager", _T, "Acme employee who manages the customer."),
    )),
    Table("billing", "accounts", "Billing accounts; a customer has one or more, each billed in one currency.", 2_400, (
        _c("id", _I, "Account id."),
        _c("customer_id", _I, "Customer that owns the account.", ref="billing.customers"),
        _c("name", _T, "Account name."),
        _c("status", _T, "active, suspended or closed."),
        _c("currency", _T, "ISO 4217 currency of every invoice of the account: USD, EUR or GBP."),
        _c("region", _T, _REGION),
        _c("department", _T, _DEPARTMENT),
        _c("opened_at", _TS, "When the account was opened (UTC)."),
    )),
    Table("billing", "products", "Acme's price list: per-seat monthly subscriptions.", 40, (
        _c("id", _I, "Product id."),
        _c("sku", _T, "Stock keeping unit, e.g. ACM-ANL-03."),
        _c("name", _T, "Product name."),
        _c("category", _T, "Platform, Analytics, Security, Integrations or Support."),
        _c("unit_price", _M, "List price per seat per month, in USD."),
    )),
    Table("billing", "subscriptions", "Subscriptions of accounts to products; mrr = seats x list price.", 3_500, (
        _c("id", _I, "Subscription id."),
        _c("account_id", _I, "Subscribing account.", ref="billing.accounts"),
        _c("product_id", _I, "Subscribed product.", ref="billing.products"),
        _c("status", _T, "active, trialing or cancelled."),
        _c("seats", _I, "Number of seats."),
        _c("mrr", _M, "Monthly recurring revenue in USD: seats x the product's unit_price."),
        _c("started_at", _TS, "Start of the subscription (UTC)."),
        _c("ended_at", _TS, "End of a cancelled subscription (UTC); NULL while it runs.", null=True),
    )),
    Table("billing", "invoices",
          "Invoices issued to customer accounts; total_amount is in the invoice currency.", 20_000, (
        _c("id", _I, "Invoice id; ids increase with issued_at."),
        _c("account_id", _I, "Invoiced account.", ref="billing.accounts"),
        _c("number", _T, "Invoice number shown to the customer, e.g. INV-2026-019532."),
        _c("issued_at", _TS, "When the invoice was issued (UTC)."),
        _c("due_at", _TS, "Payment due date: issued_at plus 30 days (UTC)."),
        _c("status", _T, "paid, open (not yet due), overdue (due and not fully paid) or void."),
        _c("total_amount", _M, "Sum of the invoice lines' amounts, in the invoice currency."),
        _c("currency", _T, "ISO 4217 currency: USD, EUR or GBP (the account's currency)."),
        _c("region", _T, _REGION),
    )),
    Table("billing", "invoice_lines", "Lines of invoices; amount = quantity x unit_price.", 50_000, (
        _c("id", _I, "Invoice line id."),
        _c("invoice_id", _I, "Invoice the line belongs to.", ref="billing.invoices"),
        _c("product_id", _I, "Product billed.", ref="billing.products"),
        _c("quantity", _I, "Seats billed."),
        _c("unit_price", _M, "Price per seat in the invoice currency (list price converted from USD)."),
        _c("amount", _M, "quantity x unit_price, in the invoice currency."),
    )),
    Table("billing", "payments", "Payments received against invoices, in the invoice currency.", 17_000, (
        _c("id", _I, "Payment id."),
        _c("invoice_id", _I, "Invoice paid.", ref="billing.invoices"),
        _c("paid_at", _TS, "When the payment was received (UTC)."),
        _c("amount", _M, "Amount paid; the payments of an invoice never exceed its total_amount."),
        _c("method", _T, "card, bank_transfer or direct_debit."),
        _c("card_last4", _T, "Last four digits of the card for card payments (personal data).", null=True),
    )),
    Table("crm", "companies", "Companies in the CRM: prospects and customers.", 800, (
        _c("id", _I, "Company id."),
        _c("name", _T, "Company name."),
        _c("industry", _T, "Industry."),
        _c("employees", _I, "Approximate head count."),
        _c("country", _T, _COUNTRY),
        _c("region", _T, _REGION),
        _c("website", _T, "Web site (on the reserved .example domain)."),
    )),
    Table("crm", "contacts", "People at CRM companies (personal data).", 5_000, (
        _c("id", _I, "Contact id."),
        _c("company_id", _I, "Company the person works for.", ref="crm.companies"),
        _c("customer_id", _I, "Billing customer, when the company is one.", null=True, ref="billing.customers"),
        _c("first_name", _T, "First name (personal data)."),
        _c("last_name", _T, "Last name (personal data)."),
        _c("email", _T, "Work e-mail (personal data)."),
        _c("phone", _T, "Phone number (personal data)."),
        _c("title", _T, "Job title."),
        _c("region", _T, _REGION),
        _c("department", _T, _DEPARTMENT),
        _c("date_of_birth", _D, "Date of birth (personal data)."),
    )),
    Table("crm", "deals", "Sales opportunities; amount is in USD.", 3_000, (
        _c("id", _I, "Deal id."),
        _c("company_id", _I, "Company the deal is with.", ref="crm.companies"),
        _c("owner", _T, "Acme employee who owns the deal."),
        _c("stage", _T, "prospecting, qualification, proposal, negotiation, closed_won or closed_lost."),
        _c("amount", _M, "Expected contract value in USD."),
        _c("region", _T, _REGION),
        _c("department", _T, _DEPARTMENT),
        _c("created_at", _TS, "When the deal was created (UTC)."),
        _c("closed_at", _TS, "When the deal was won or lost (UTC); NULL while open.", null=True),
    )),
    Table("crm", "support_tickets", "Support requests from customers.", 6_000, (
        _c("id", _I, "Ticket id."),
        _c("customer_id", _I, "Customer who asked.", ref="billing.customers"),
        _c("contact_id", _I, "Contact who asked, when known.", null=True, ref="crm.contacts"),
        _c("subject", _T, "Subject line."),
        _c("priority", _T, "low, normal, high or urgent."),
        _c("status", _T, "open, pending, resolved or closed."),
        _c("region", _T, _REGION),
        _c("department", _T, _DEPARTMENT),
        _c("opened_at", _TS, "When the ticket was opened (UTC)."),
        _c("resolved_at", _TS, "When it was resolved (UTC); NULL while open or pending.", null=True),
        _c("satisfaction", _I, "Customer rating 1 (bad) to 5 (great), when given.", null=True),
    )),
    Table("web", "events", "Web analytics events on acme.example over the last 12 months.", 100_000, (
        _c("id", _B, "Event id; ids increase with the session start."),
        _c("session_id", _T, "Browser session; events of a session share it."),
        _c("customer_id", _I, "Signed-in customer; NULL for anonymous visitors.", null=True, ref="billing.customers"),
        _c("event_type", _T, "page_view, click, search, login, signup, download or form_submit."),
        _c("page", _T, "Path of the page, e.g. /pricing."),
        _c("referrer", _T, "Where the visitor came from; '(direct)' when unknown."),
        _c("country", _T, _COUNTRY),
        _c("region", _T, _REGION),
        _c("device", _T, "desktop, mobile or tablet."),
        _c("occurred_at", _TS, "When the event happened (UTC)."),
    )),
)  # fmt: skip
TABLES_BY_NAME: Mapping[str, Table] = {t.qualified_name: t for t in TABLES}
SCHEMAS: tuple[str, ...] = tuple(dict.fromkeys(t.schema for t in TABLES))
SCHEMA_COMMENTS = {
    "billing": "Acme Corporation billing: customers, accounts, subscriptions, invoices and payments.",
    "crm": "Acme Corporation CRM: companies, contacts, deals and support tickets.",
    "web": "Acme Corporation web analytics.",
}
# Fixed planning rates; the revenue view converts with the same numbers the prices were converted with.
USD_PER_UNIT = {"USD": Decimal("1.00"), "EUR": Decimal("1.08"), "GBP": Decimal("1.27")}
REVENUE_VIEW = "revenue_by_month"
REVENUE_VIEW_COMMENT = (
    "Invoiced revenue (void invoices excluded) per calendar month of issued_at and region, "
    "converted to USD at fixed planning rates."
)
