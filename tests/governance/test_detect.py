"""Classification of one column from its name, its type and sampled values (``governance.detect``):
pure, so these tests need no database."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from governance import detect
from governance.detect import TagRule, detect_column, normalise_name, sampled_types


def tags(column: str, data_type: str = "text", samples=(), table: str = "", rules=()) -> list[str]:
    return [d.tag for d in detect_column(column=column, data_type=data_type, samples=samples, table=table, rules=rules)]


def best(column: str, data_type: str = "text", samples=(), table: str = "", rules=()) -> detect.Detection:
    found = detect_column(column=column, data_type=data_type, samples=samples, table=table, rules=rules)
    assert found, f"nothing detected for {column!r}"
    return found[0]


EMAILS = [f"user{i}@example.com" for i in range(20)]
PHONES = [f"+1 202-555-01{i:02d}" for i in range(20)]
CARDS = ["4539578763621486", "4111 1111 1111 1111", "5555-5555-5555-4444", "378282246310005"] * 5
IBANS = ["DE89370400440532013000", "GB82 WEST 1234 5698 7654 32", "FR1420041010050500013M02606"] * 7
IPS = [f"10.0.{i}.{i + 1}" for i in range(15)] + ["2001:db8::1", "fe80::1"] * 3
SSNS = ["536-90-4399", "078-05-1121", "412-34-5671"] * 7


@pytest.mark.parametrize(
    ("column", "data_type", "tag"),
    [
        ("email", "varchar(255)", "pii.email"),
        ("emailAddress", "text", "pii.email"),
        ("E-Mail", "text", "pii.email"),
        ("contact_email", "text", "pii.email"),
        ("phone", "text", "pii.phone"),
        ("phoneNumber", "text", "pii.phone"),
        ("mobile_phone", "varchar", "pii.phone"),
        ("first_name", "text", "pii.person_name"),
        ("LastName", "text", "pii.person_name"),
        ("address_line1", "text", "pii.address"),
        ("postcode", "text", "pii.address"),
        ("date_of_birth", "date", "pii.date_of_birth"),
        ("dob", "date", "pii.date_of_birth"),
        ("ssn", "text", "pii.national_id"),
        ("national_id", "text", "pii.national_id"),
        ("card_number", "text", "pii.card_number"),
        ("iban", "text", "pii.iban"),
        ("ip_address", "text", "pii.ip_address"),
        ("IPAddress", "text", "pii.ip_address"),
        ("client_addr", "inet", "pii.ip_address"),
    ],
)
def test_names_that_hold_personal_data(column, data_type, tag):
    found = best(column, data_type)
    assert found.tag == tag
    assert found.basis == "name"
    assert 0.5 <= found.confidence < 0.95  # a name alone is never certain


@pytest.mark.parametrize(
    ("column", "data_type"),
    [
        ("email_verified", "boolean"),  # about the data, not the data
        ("is_email", "text"),
        ("email", "boolean"),  # a type that cannot hold an address
        ("phone_type", "text"),
        ("phone", "timestamp"),
        ("address_city", "text"),
        ("mac_address", "text"),  # a longer phrase that is not personal data
        ("created_at", "timestamp"),
        ("order_id", "integer"),
        ("amount", "numeric(12,2)"),
        ("title", "text"),
        ("name", "text"),  # a bare name outside a table of people
    ],
)
def test_names_that_do_not(column, data_type):
    assert tags(column, data_type, table="products") == []


def test_a_bare_name_is_a_persons_name_only_in_a_table_of_people():
    assert tags("name", table="products") == []
    found = best("name", table="employees")
    assert (found.tag, found.confidence < 0.7) == ("pii.person_name", True)


def test_camel_case_and_lower_cased_compounds_are_split():
    assert normalise_name("emailAddress") == "email_address"
    assert normalise_name("IPAddress") == "ip_address"
    assert normalise_name("E-Mail") == "e_mail"
    assert tags("phonenumber") == ["pii.phone"]
    assert tags("dateofbirth", "date") == ["pii.date_of_birth"]


@pytest.mark.parametrize(
    ("values", "tag"),
    [
        (EMAILS, "pii.email"),
        (PHONES, "pii.phone"),
        (CARDS, "pii.card_number"),
        (IBANS, "pii.iban"),
        (IPS, "pii.ip_address"),
        (SSNS, "pii.national_id"),
    ],
)
def test_values_give_away_a_column_whose_name_does_not(values, tag):
    found = best("ref", "text", values)
    assert (found.tag, found.basis) == (tag, "values")
    assert found.matches == found.sampled == len(values)


@pytest.mark.parametrize(
    "values",
    [
        ["4539578763621487", "4111 1111 1111 1112"] * 10,  # fail the Luhn check
        ["GB82WEST12345698765433"] * 20,  # wrong IBAN check digits
        ["000-12-3456", "666-12-3456"] * 10,  # never issued social security numbers
        ["hello world", "lorem ipsum"] * 10,
        ["not@", "@example", "a@b"] * 7,
        ["999.1.2.3", "1.2.3"] * 10,
        [f"T-{i}" for i in range(20)],
        [str(1000 + i) for i in range(20)],  # ids are not phone numbers
    ],
)
def test_values_that_look_alike_but_do_not_validate(values):
    assert tags("ref", "text", values) == []


def test_names_and_values_together_are_surer_than_either():
    by_name = best("email")
    by_values = best("ref", samples=EMAILS)
    both = best("email", samples=EMAILS)
    assert both.basis == "name and values"
    assert both.confidence > max(by_name.confidence, by_values.confidence)
    assert "20 non-empty sampled values" in both.evidence


def test_values_that_contradict_a_name_lower_its_confidence_and_say_why():
    found = best("email", samples=["yes", "no"] * 10)
    assert found.confidence < best("email").confidence
    assert "none of the 20" in found.evidence


def test_few_values_never_contradict_a_name():
    assert best("email", samples=["n/a", "unknown"]).confidence == best("email").confidence


def test_a_few_matches_among_many_values_are_not_enough_alone():
    values = EMAILS[:2] + [f"note {i}" for i in range(38)]
    assert tags("comments", samples=values) == []


def test_empty_values_and_values_of_other_kinds_are_skipped():
    values = [None, "", "  ", True, 1.5, date(2020, 1, 1), b"\x00", Decimal("1.25"), *EMAILS]
    found = best("ref", samples=values)
    assert (found.tag, found.sampled) == ("pii.email", 20)


def test_evidence_never_quotes_a_sampled_value():
    secrets = ["alice.secret@example.com", "+44 20 7946 0958", "4539578763621486", "DE89370400440532013000"]
    for value in secrets:
        for found in detect_column(column="ref", data_type="text", samples=[value] * 12):
            assert value not in found.evidence
            assert value.split("@")[0] not in found.evidence


def test_integers_are_sampled_only_when_the_name_says_phone_card_or_national_id():
    assert sampled_types("text") and sampled_types("varchar(40)") and sampled_types("inet")
    assert sampled_types("bigint", column="phone")
    assert not sampled_types("bigint", column="order_id")
    assert not sampled_types("date") and not sampled_types("boolean") and not sampled_types("jsonb")
    # Integers that happen to pass a check stay untagged when the type is not sampled.
    assert tags("order_id", "integer", [4539578763621486] * 20) == []


def test_card_last_digits_are_personal_payment_data_with_low_confidence():
    found = best("card_last4")
    assert (found.tag, found.confidence) == ("pii.card_number", 0.5)


REGION = TagRule("region", name_patterns=("region", "*_region"), values=("NA", "EMEA", "APAC", "LATAM"))


def test_a_workspace_rule_matches_by_name_pattern_and_by_values():
    assert best("sales_region", rules=(REGION,)).tag == "region"
    by_values = best("zone", samples=["na", "EMEA", "APAC"] * 7, rules=(REGION,))  # case-insensitive
    assert (by_values.tag, by_values.basis) == ("region", "values")
    assert tags("zone", samples=["north", "south"] * 10, rules=(REGION,)) == []
    assert tags("region") == []  # no rule, no tag


def test_a_workspace_rule_checks_its_own_definition():
    with pytest.raises(ValueError, match="built-in"):
        TagRule("pii.email", name_patterns=("mail",))
    with pytest.raises(ValueError, match="lower-case"):
        TagRule("Region", name_patterns=("region",))
    with pytest.raises(ValueError, match="name patterns or values"):
        TagRule("region")


def test_detections_come_highest_confidence_first():
    rule = TagRule("contact.channel", name_patterns=("*email*",))
    found = detect_column(column="email", data_type="text", samples=EMAILS, rules=(rule,))
    assert [d.tag for d in found] == ["pii.email", "contact.channel"]
    assert found[0].confidence >= found[1].confidence


@pytest.mark.parametrize(
    ("table", "column", "data_type", "tag"),
    [
        ("customers", "email", "text", "pii.email"),
        ("customers", "phone", "text", "pii.phone"),
        ("customers", "region", "text", None),
        ("crm_contacts", "full_name", "text", "pii.person_name"),
        ("crm_contacts", "date_of_birth", "date", "pii.date_of_birth"),
        ("orders", "total_amount", "numeric(12,2)", None),
        ("orders", "ordered_at", "timestamptz", None),
        ("payments", "card_number", "text", "pii.card_number"),
    ],
)
def test_the_demo_columns(table: str, column: str, data_type: str, tag: str | None) -> None:
    found: list[str | None] = [*tags(column, data_type, table=table), None]
    assert found[0] == tag
