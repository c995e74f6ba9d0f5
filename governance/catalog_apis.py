"""Catalog API as the governance gateway lets a member see it: a data source's tables
(``GET /api/v1/datasources/{id}/tables/``) and catalog search (``GET /api/v1/catalog/search``).
Hidden tables and columns are left out, masked columns are marked."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import ERROR_RESPONSES, paginated
from datasources import selectors
from governance.catalog import hidden_table_ids, visible_catalog_search, visible_columns
from governance.policies import catalog_view
from workspaces.selectors import access_workspace, membership_of


class ColumnOutput(serializers.Serializer):
    name = serializers.CharField()
    ordinal = serializers.IntegerField()
    data_type = serializers.CharField()
    nullable = serializers.BooleanField()
    is_primary_key = serializers.BooleanField()
    comment = serializers.CharField()
    references = serializers.CharField(read_only=True)
    masked = serializers.CharField(default="", help_text="The mask strategy in force for you, empty when shown as is.")


class TableOutput(serializers.Serializer):
    id = serializers.IntegerField()
    schema = serializers.CharField(source="schema_name")
    name = serializers.CharField()
    kind = serializers.CharField()
    row_estimate = serializers.IntegerField(allow_null=True)
    comment = serializers.CharField()
    columns = ColumnOutput(many=True, source="present_columns")


class DataSourceTablesApi(APIView):
    @extend_schema(
        operation_id="datasources_tables",
        parameters=[OpenApiParameter("schema", str, required=False), OpenApiParameter("limit", int, required=False),
                    OpenApiParameter("offset", int, required=False)],
        responses={200: paginated(TableOutput, "PaginatedTableList"), **ERROR_RESPONSES},
        tags=["datasources"],
    )  # fmt: skip
    def get(self, request: Request, datasource_id: str) -> Response:
        # What this member may see: hidden tables and columns left out, masked columns marked.
        datasource = selectors.access_datasource(user=request.user, datasource_id=datasource_id)
        membership = membership_of(user=request.user, workspace=datasource.workspace)  # type: ignore[arg-type]
        assert membership is not None  # access_datasource found the source in one of their workspaces
        view = catalog_view(membership=membership, datasource=datasource)
        tables = selectors.catalog_browse(
            datasource=datasource,
            schema_name=request.query_params.get("schema") or "",
            exclude_ids=hidden_table_ids({datasource.pk: view}),
        )
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(tables, request, view=self) or []
        for table in page:
            present = table.present_columns  # type: ignore[attr-defined]  # catalog_browse's prefetch
            shown = visible_columns(view, table.schema_name, table.name, present)
            for column, state in shown:
                column.masked = state
            table.present_columns = [column for column, _ in shown]  # type: ignore[attr-defined]
        return paginator.get_paginated_response(TableOutput(page, many=True).data)


class CatalogColumnMatchOutput(serializers.Serializer):
    name = serializers.CharField()
    data_type = serializers.CharField()
    nullable = serializers.BooleanField()
    is_primary_key = serializers.BooleanField()
    references = serializers.CharField()
    comment = serializers.CharField()
    matched = serializers.BooleanField()
    masked = serializers.CharField(help_text="The mask strategy in force for you, empty when shown as is.")


class CatalogMatchOutput(serializers.Serializer):
    table_id = serializers.IntegerField()
    datasource_id = serializers.UUIDField()
    datasource_name = serializers.CharField()
    schema = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    comment = serializers.CharField()
    row_estimate = serializers.IntegerField(allow_null=True)
    score = serializers.FloatField()
    reasons = serializers.ListField(child=serializers.CharField())
    columns = CatalogColumnMatchOutput(many=True)


class CatalogSearchApi(APIView):
    class CatalogSearchInput(serializers.Serializer):
        q = serializers.CharField(max_length=2000)
        workspace_id = serializers.UUIDField()
        datasource_ids = serializers.ListField(child=serializers.UUIDField(), required=False, default=list)
        schemas = serializers.ListField(child=serializers.CharField(max_length=255), required=False, default=list)
        limit = serializers.IntegerField(min_value=1, max_value=100, required=False)

    @extend_schema(
        operation_id="catalog_search",
        parameters=[
            OpenApiParameter("q", str, required=True, description="The prompt or words to search for"),
            OpenApiParameter("workspace_id", str, required=True),
            OpenApiParameter("datasource_ids", str, many=True, required=False),
            OpenApiParameter("schemas", str, many=True, required=False),
            OpenApiParameter("limit", int, required=False),
        ],
        responses={200: CatalogMatchOutput(many=True), **ERROR_RESPONSES},
        tags=["catalog"],
    )
    def get(self, request: Request) -> Response:
        params = {
            "q": request.query_params.get("q", ""),
            "workspace_id": request.query_params.get("workspace_id", ""),
            "datasource_ids": request.query_params.getlist("datasource_ids"),
            "schemas": request.query_params.getlist("schemas"),
        }
        if "limit" in request.query_params:
            params["limit"] = request.query_params["limit"]
        data = self.CatalogSearchInput(data=params)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        # The catalog as this member may see it: hidden tables and columns left out, masks marked.
        workspace = access_workspace(user=request.user, workspace_id=values["workspace_id"])
        for datasource_id in values["datasource_ids"]:
            selectors.access_datasource(user=request.user, datasource_id=datasource_id)
        membership = membership_of(user=request.user, workspace=workspace)  # type: ignore[arg-type]
        assert membership is not None  # access_workspace found it
        matches = visible_catalog_search(
            membership=membership,
            prompt=values["q"],
            datasource_ids=values["datasource_ids"] or None,
            schema_names=values["schemas"] or None,
            limit=values.get("limit"),
        )
        return Response(CatalogMatchOutput(matches, many=True).data)
