"""The connectors, by kind. ``build_connector`` is the only way the rest of the app gets one."""

from __future__ import annotations

from datasources.connectors.base import (
    ERROR_CODES,
    VISIBILITY_CODES,
    ConnectionConfig,
    ConnectionInfo,
    Connector,
    ConnectorError,
    GuardPolicy,
    IntrospectedColumn,
    IntrospectedTable,
    Introspection,
    QueryOptions,
    QueryResult,
    StreamedResult,
    Visibility,
    WriteResult,
    is_always_forbidden,
)
from datasources.connectors.files import FilesConnector
from datasources.connectors.mysql import MySQLConnector
from datasources.connectors.postgres import PostgresConnector
from datasources.connectors.sqlite import SQLiteConnector

CONNECTORS: dict[str, type[Connector]] = {
    "postgresql": PostgresConnector,
    "mysql": MySQLConnector,
    "sqlite": SQLiteConnector,
    "files": FilesConnector,
}


def build_connector(config: ConnectionConfig, policy: GuardPolicy) -> Connector:
    connector_class = CONNECTORS.get(config.kind)
    if connector_class is None:
        raise ConnectorError("datasource_invalid_settings", f"unknown data source kind {config.kind!r}")
    return connector_class(config, policy)


__all__ = [
    "CONNECTORS",
    "ERROR_CODES",
    "VISIBILITY_CODES",
    "ConnectionConfig",
    "ConnectionInfo",
    "Connector",
    "ConnectorError",
    "FilesConnector",
    "GuardPolicy",
    "IntrospectedColumn",
    "IntrospectedTable",
    "Introspection",
    "MySQLConnector",
    "PostgresConnector",
    "QueryOptions",
    "QueryResult",
    "SQLiteConnector",
    "StreamedResult",
    "Visibility",
    "WriteResult",
    "build_connector",
    "is_always_forbidden",
]
