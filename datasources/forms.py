"""The add-a-data-source form of the pages: one form per kind, each turning its fields into the
``settings`` and write-only ``secrets`` that ``datasources.services`` takes."""

from __future__ import annotations

from typing import Any, ClassVar, cast

from django import forms
from django.conf import settings as django_settings

from datasources.connectors.files import FORMATS
from datasources.connectors.mysql import SSLMODES as MYSQL_SSLMODES
from datasources.connectors.postgres import SSLMODES as POSTGRES_SSLMODES
from datasources.models import DataSourceKind


def _list(text: str, separator: str | None = ",") -> list[str]:
    parts = text.split(separator) if separator else text.splitlines()
    return [part.strip() for part in parts if part.strip()]


class DataSourceForm(forms.Form):
    kind: ClassVar[str]
    # The fields that make up the connection (what "Test connection" needs; not the name).
    connection_fields: ClassVar[tuple[str, ...]]

    name = forms.CharField(max_length=120, help_text="How people in this workspace will recognise it.")
    description = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

    def connection(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(settings, secrets)`` from the connection fields that are valid: by default each as a
        setting of its own name, and no secrets (kinds with passwords or lists say otherwise)."""
        return {name: self.cleaned_data[name] for name in self.connection_fields if name in self.cleaned_data}, {}

    def connection_errors(self) -> dict[str, list[str]]:
        """Errors of the connection fields only (a test needs no name)."""
        self.is_valid()
        return {
            field: [str(error) for error in errors]
            for field, errors in self.errors.items()
            if field in self.connection_fields
        }


class _ServerForm(DataSourceForm):
    """PostgreSQL and MySQL/MariaDB: a host, a database and a user with a password."""

    default_port: ClassVar[int]
    connection_fields = ("host", "port", "database", "user", "password", "sslmode", "schemas")

    host = forms.CharField(max_length=255, help_text="A host name or address, e.g. db.example.com.")
    port = forms.IntegerField(min_value=1, max_value=65535)
    database = forms.CharField(max_length=255)
    user = forms.CharField(max_length=255, label="User name", widget=forms.TextInput(attrs={"autocomplete": "off"}))
    password = forms.CharField(
        required=False,
        max_length=1000,
        strip=False,
        # Write-only: never rendered back into the page, whatever happens.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted; never shown again, not even to you.",
    )
    sslmode = forms.ChoiceField(label="TLS (sslmode)", initial="prefer")
    schemas = forms.CharField(
        required=False, max_length=2000, help_text="Optional: the schemas to read, separated by commas. Empty: all."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["port"].initial = self.default_port

    def connection(self) -> tuple[dict[str, Any], dict[str, Any]]:
        data = self.cleaned_data
        settings: dict[str, Any] = {
            key: data[key] for key in ("host", "port", "database", "user", "sslmode") if key in data
        }
        if data.get("schemas"):
            settings["schemas"] = _list(data["schemas"])
        secrets = {"password": data["password"]} if data.get("password") else {}
        return settings, secrets


class PostgresForm(_ServerForm):
    kind = DataSourceKind.POSTGRESQL
    default_port = 5432

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["sslmode"]).choices = [(mode, mode) for mode in POSTGRES_SSLMODES]


class MySQLForm(_ServerForm):
    kind = DataSourceKind.MYSQL
    default_port = 3306

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["sslmode"]).choices = [(mode, mode) for mode in MYSQL_SSLMODES]
        self.fields["schemas"].help_text = "Optional: the databases to read, separated by commas. Empty: this one."


def _roots_help() -> str:
    return "It must be inside one of the folders this installation allows: " + ", ".join(
        str(root) for root in django_settings.DATASOURCE_FILE_ROOTS
    )


class SQLiteForm(DataSourceForm):
    kind = DataSourceKind.SQLITE
    connection_fields = ("path",)

    path = forms.CharField(max_length=1000, label="File path", help_text="The path of the SQLite file on the server.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["path"].help_text += " " + _roots_help() + "."


class FilesForm(DataSourceForm):
    kind = DataSourceKind.FILES
    connection_fields = ("path", "urls", "format")

    path = forms.CharField(
        required=False,
        max_length=1000,
        label="Folder or file path",
        help_text="A folder of CSV, Parquet or JSON files on the server (each file is a table), or one file.",
    )
    urls = forms.CharField(
        required=False,
        max_length=20000,
        label="URLs",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="http(s) addresses of files, one per line (instead of a path).",
    )
    format = forms.ChoiceField(
        required=False,
        choices=[("", "Guess from the file names"), *[(name, name.upper()) for name in FORMATS]],
        label="Format",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["path"].help_text += " " + _roots_help() + "."

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("path")) == bool(data.get("urls")):
            raise forms.ValidationError("Give either a path or URLs, not both.", code="path_or_urls")
        return data

    def connection_errors(self) -> dict[str, list[str]]:
        errors = super().connection_errors()
        if self.non_field_errors():
            errors["__all__"] = [str(error) for error in self.non_field_errors()]
        return errors

    def connection(self) -> tuple[dict[str, Any], dict[str, Any]]:
        data = self.cleaned_data
        if data.get("path"):
            settings: dict[str, Any] = {"path": data["path"]}
        else:
            settings = {"urls": _list(data.get("urls", ""), None)}
        if data.get("format"):
            settings["format"] = data["format"]
        return settings, {}


FORMS: dict[str, type[DataSourceForm]] = {
    DataSourceKind.POSTGRESQL: PostgresForm,
    DataSourceKind.MYSQL: MySQLForm,
    DataSourceKind.SQLITE: SQLiteForm,
    DataSourceKind.FILES: FilesForm,
}
