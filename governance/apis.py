"""Governance API: the catalog as the gateway lets a member see it (a data source's tables,
``GET /api/v1/datasources/{id}/tables/``, and catalog search, ``GET /api/v1/catalog/search``: hidden
tables and columns left out, masked columns marked with the policy that masks them), and
classification (the workspace's tags, and the tags on a data source's columns: review, add,
remove). Any member sees the tags of the columns they may see; owners and admins
(``manage_policies``) define tags and decide on column tags."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import ERROR_RESPONSES, paginated
from datasources import selectors as datasource_selectors
from datasources.selectors import access_datasource
from governance import classification, selectors
from governance.catalog import all_hidden, catalog_rows, hidden_table_ids, visible_catalog_search
from governance.models import ColumnTag, TagSource, TagState
from governance.policies import catalog_view
from governance.tags import BUILTIN_TAGS, PERSONAL_TAGS
from workspaces.selectors import access_workspace, membership_of


class ColumnOutput(serializers.Serializer):
    name = serializers.CharField()
    ordinal = serializers.IntegerField()
    data_type = serializers.CharField()
    nullable = serializers.BooleanField()
    is_primary_key = serializers.BooleanField()
    comment = serializers.CharField()
    references = serializers.CharField(
        read_only=True, help_text="schema.table.column of its foreign key, declared or inferred (see inferred)."
    )
    inferred = serializers.BooleanField(
        default=False, help_text="references is an inferred key (detected or confirmed by an owner), not declared."
    )
    description = serializers.CharField(default="", help_text="Curated by the workspace; the comment is the source's.")
    synonyms = serializers.ListField(child=serializers.CharField(), default=list)
    masked = serializers.CharField(default="", help_text="The mask strategy in force for you, empty when shown as is.")
    mask_policy = serializers.CharField(
        default="", help_text="The policy that masks it for you, as the audit log names it."
    )
    mask_reason = serializers.CharField(default="", help_text="Why it is masked for you, in plain words.")
    tags = serializers.ListField(
        child=serializers.DictField(),
        default=list,
        help_text="Its classification tags in force: {id, tag, state, source, confidence} (rejected ones left out).",
    )


class TableOutput(serializers.Serializer):
    id = serializers.IntegerField()
    schema = serializers.CharField(source="schema_name")
    name = serializers.CharField()
    kind = serializers.CharField()
    row_estimate = serializers.IntegerField(allow_null=True)
    comment = serializers.CharField()
    description = serializers.CharField(default="", help_text="Curated by the workspace; the comment is the source's.")
    synonyms = serializers.ListField(child=serializers.CharField(), default=list)
    columns = ColumnOutput(many=True, source="present_columns")
    row_filters = serializers.ListField(
        child=serializers.DictField(), default=list, help_text="The row filters in force for you: {policy, condition}."
    )
    notices = serializers.ListField(child=serializers.CharField(), default=list)


class DataSourceTablesApi(APIView):
    @extend_schema(
        operation_id="datasources_tables",
        parameters=[OpenApiParameter("schema", str, required=False), OpenApiParameter("limit", int, required=False),
                    OpenApiParameter("offset", int, required=False)],
        responses={
            200: paginated(TableOutput, "PaginatedTableList", {"notice": serializers.CharField(
                help_text="Why you see no table although the source has some (all hidden from you by policy); "
                "empty otherwise.")}),
            **ERROR_RESPONSES,
        },
        tags=["datasources"],
    )  # fmt: skip
    def get(self, request: Request, datasource_id: str) -> Response:
        # What this member may see: hidden tables and columns left out, masked columns marked.
        datasource = datasource_selectors.access_datasource(user=request.user, datasource_id=datasource_id)
        membership = membership_of(user=request.user, workspace=datasource.workspace)  # type: ignore[arg-type]
        assert membership is not None  # access_datasource found the source in one of their workspaces
        hidden = catalog_view(membership=membership, datasource=datasource, only=())
        hidden_ids = hidden_table_ids({datasource.pk: hidden})
        tables = datasource_selectors.catalog_browse(
            datasource=datasource, schema_name=request.query_params.get("schema") or "", exclude_ids=hidden_ids
        )
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(tables, request, view=self) or []
        rows = catalog_rows(membership=membership, datasource=datasource, tables=page, reviewer=False)
        body = [
            {
                "id": row.table.pk, "schema_name": row.table.schema_name, "name": row.table.name,
                "kind": row.table.kind, "row_estimate": row.table.row_estimate, "comment": row.table.comment,
                "description": row.table.description, "synonyms": row.table.synonyms,
                "present_columns": [
                    {**{f: getattr(c, f) for f in ("name", "data_type", "nullable", "is_primary_key", "comment",
                                                   "references", "inferred", "masked", "mask_policy",
                                                   "mask_reason", "description", "synonyms")},
                     "ordinal": c.ordinal,
                     "tags": [{"id": t.id, "tag": t.tag, "state": t.state, "source": t.source,
                               "confidence": t.confidence} for t in c.tags]}
                    for c in row.columns
                ],
                "row_filters": [{"policy": policy, "condition": condition} for policy, condition in row.filters],
                "notices": list(row.notices),
            }
            for row in rows
        ]  # fmt: skip
        response = paginator.get_paginated_response(TableOutput(body, many=True).data)
        response.data["notice"] = all_hidden(datasource, hidden_ids, hidden)
        return response


class CatalogColumnMatchOutput(serializers.Serializer):
    name = serializers.CharField()
    data_type = serializers.CharField()
    nullable = serializers.BooleanField()
    is_primary_key = serializers.BooleanField()
    references = serializers.CharField(help_text="schema.table.column of its foreign key, declared or inferred.")
    inferred = serializers.BooleanField(help_text="references is an inferred key, not a declared one.")
    comment = serializers.CharField()
    matched = serializers.BooleanField()
    masked = serializers.CharField(help_text="The mask strategy in force for you, empty when shown as is.")
    description = serializers.CharField(default="", help_text="Curated by the workspace; the comment is the source's.")
    synonyms = serializers.ListField(child=serializers.CharField(), default=list)


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
    description = serializers.CharField(default="", help_text="Curated by the workspace; the comment is the source's.")
    synonyms = serializers.ListField(child=serializers.CharField(), default=list)


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
            datasource_selectors.access_datasource(user=request.user, datasource_id=datasource_id)
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


# --- classification ---------------------------------------------------------------------------


class TagOutput(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, help_text="null for a built-in tag")
    name = serializers.CharField()
    description = serializers.CharField()
    builtin = serializers.BooleanField()
    personal = serializers.BooleanField(help_text="Personal data: masked below admin until a detection is reviewed.")
    name_patterns = serializers.ListField(child=serializers.CharField())
    values = serializers.ListField(child=serializers.CharField())


def _builtin(name: str) -> dict[str, Any]:
    return {"id": None, "name": name, "description": BUILTIN_TAGS[name], "builtin": True,
            "personal": name in PERSONAL_TAGS, "name_patterns": [], "values": []}  # fmt: skip


def _custom(tag: Any) -> dict[str, Any]:
    return {"id": tag.pk, "name": tag.name, "description": tag.description, "builtin": False,
            "personal": tag.personal, "name_patterns": list(tag.name_patterns), "values": list(tag.values)}  # fmt: skip


class TagInput(serializers.Serializer):
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    personal = serializers.BooleanField(required=False)
    name_patterns = serializers.ListField(child=serializers.CharField(max_length=120), required=False, max_length=50)
    values = serializers.ListField(child=serializers.CharField(max_length=200), required=False, max_length=500)


class TagListApi(APIView):
    class TagCreateInput(TagInput):
        workspace_id = serializers.UUIDField()
        name = serializers.CharField(max_length=64)

    @extend_schema(
        operation_id="tags_list",
        parameters=[OpenApiParameter("workspace_id", str, required=True)],
        responses={200: TagOutput(many=True), **ERROR_RESPONSES},
        tags=["classification"],
    )
    def get(self, request: Request) -> Response:
        workspace = access_workspace(user=request.user, workspace_id=request.query_params.get("workspace_id"))
        body = [_builtin(name) for name in BUILTIN_TAGS]
        body += [_custom(tag) for tag in selectors.workspace_tags(workspace=workspace)]
        return Response(TagOutput(body, many=True).data)

    @extend_schema(
        operation_id="tags_create",
        request=TagCreateInput,
        responses={201: TagOutput, **ERROR_RESPONSES},
        tags=["classification"],
        examples=[
            OpenApiExample(
                "A region tag",
                value={"workspace_id": "…", "name": "region", "name_patterns": ["region", "*_region"],
                       "values": ["EMEA", "NA", "APAC", "LATAM"]},
                request_only=True,
            )
        ],
    )  # fmt: skip
    def post(self, request: Request) -> Response:
        data = self.TagCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        workspace = access_workspace(user=request.user, workspace_id=fields.pop("workspace_id"), perm="manage_policies")
        tag = classification.tag_create(workspace_id=workspace.pk, **fields)
        return Response(TagOutput(_custom(tag)).data, status=status.HTTP_201_CREATED)


class TagDetailApi(APIView):
    @extend_schema(operation_id="tags_update", request=TagInput, responses={200: TagOutput, **ERROR_RESPONSES},
                   tags=["classification"])  # fmt: skip
    def patch(self, request: Request, tag_id: str) -> Response:
        tag = selectors.access_tag(user=request.user, tag_id=tag_id, perm="manage_policies")
        data = TagInput(data=request.data)
        data.is_valid(raise_exception=True)
        tag = classification.tag_update(tag=tag, **data.validated_data)
        return Response(TagOutput(_custom(tag)).data)

    @extend_schema(operation_id="tags_delete", responses={204: None, **ERROR_RESPONSES}, tags=["classification"])
    def delete(self, request: Request, tag_id: str) -> Response:
        tag = selectors.access_tag(user=request.user, tag_id=tag_id, perm="manage_policies")
        classification.tag_delete(tag=tag)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ColumnTagOutput(serializers.Serializer):
    id = serializers.IntegerField()
    datasource_id = serializers.UUIDField()
    schema = serializers.CharField(source="column.table.schema_name")
    table = serializers.CharField(source="column.table.name")
    column = serializers.CharField(source="column.name")
    tag = serializers.CharField()
    # The API calls it "source", like the model; DRF's Field has a "source" attribute of its own.
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=TagSource.choices, help_text="detected, or manual (set by a person)"
    )
    confidence = serializers.FloatField(allow_null=True, help_text="Of the last detection, 0 to 1")
    evidence = serializers.CharField(help_text="What the detector saw, in plain words (never a value)")
    state = serializers.ChoiceField(choices=TagState.choices)
    reviewed_by = serializers.CharField(source="reviewed_by.username", allow_null=True, default=None)
    reviewed_at = serializers.DateTimeField(allow_null=True)
    detected_at = serializers.DateTimeField(allow_null=True)


def _visible_tags(request: Request, datasource: Any, tags: Any) -> list[ColumnTag]:
    """The column tags of the columns this member may see (hidden tables and columns left out)."""
    membership = membership_of(user=request.user, workspace=datasource.workspace)  # type: ignore[arg-type]
    if membership is None:
        raise Http404("No such data source.")
    tags = list(tags)
    view = catalog_view(membership=membership, datasource=datasource,
                        only={t.column.table.name.lower() for t in tags})  # fmt: skip
    return [t for t in tags if view.column_rule(t.column.table.schema_name, t.column.table.name, t.column.name)]


class ColumnTagListApi(APIView):
    class ColumnTagAddInput(serializers.Serializer):
        table = serializers.CharField(max_length=511, help_text="schema.name, or the name where it is unique")
        column = serializers.CharField(max_length=255)
        tag = serializers.CharField(max_length=64)

    @extend_schema(
        operation_id="column_tags_list",
        parameters=[
            OpenApiParameter("state", str, required=False, enum=TagState.values),
            OpenApiParameter("tag", str, required=False),
            OpenApiParameter("table", str, required=False, description="a table name"),
            OpenApiParameter("limit", int, required=False),
            OpenApiParameter("offset", int, required=False),
        ],
        responses={200: paginated(ColumnTagOutput, "PaginatedColumnTagList"), **ERROR_RESPONSES},
        tags=["classification"],
    )
    def get(self, request: Request, datasource_id: str) -> Response:
        datasource = access_datasource(user=request.user, datasource_id=datasource_id)
        tags = selectors.column_tags(
            datasource=datasource,
            state=request.query_params.get("state") or "",
            tag=request.query_params.get("tag") or "",
            table=request.query_params.get("table") or "",
        )
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(tags, request, view=self) or []
        return paginator.get_paginated_response(
            ColumnTagOutput(_visible_tags(request, datasource, page), many=True).data
        )

    @extend_schema(
        operation_id="column_tags_add",
        request=ColumnTagAddInput,
        responses={201: ColumnTagOutput, **ERROR_RESPONSES},
        tags=["classification"],
    )
    def post(self, request: Request, datasource_id: str) -> Response:
        datasource = access_datasource(user=request.user, datasource_id=datasource_id)
        access_workspace(user=request.user, workspace_id=datasource.workspace_id, perm="manage_policies")
        data = self.ColumnTagAddInput(data=request.data)
        data.is_valid(raise_exception=True)
        column = selectors.catalog_column(datasource=datasource, table=data.validated_data["table"],
                                          column=data.validated_data["column"])  # fmt: skip
        if not _visible_column(request, datasource, column):
            raise serializers.ValidationError({"column": ["This data source has no such column."]})
        tag = classification.column_tag_add(column=column, tag=data.validated_data["tag"], user=request.user)  # type: ignore[arg-type]
        return Response(ColumnTagOutput(selectors.column_tag_loaded(tag.pk)).data, status=status.HTTP_201_CREATED)


def _visible_column(request: Request, datasource: Any, column: Any) -> bool:
    membership = membership_of(user=request.user, workspace=datasource.workspace)  # type: ignore[arg-type]
    if membership is None:
        return False
    table = column.table
    view = catalog_view(membership=membership, datasource=datasource, only={table.name.lower()})
    return view.column_rule(table.schema_name, table.name, column.name) is not None


class ColumnTagDetailApi(APIView):
    class ColumnTagReviewInput(serializers.Serializer):
        state = serializers.ChoiceField(choices=TagState.choices)

    @extend_schema(
        operation_id="column_tags_review",
        request=ColumnTagReviewInput,
        responses={200: ColumnTagOutput, **ERROR_RESPONSES},
        tags=["classification"],
        examples=[OpenApiExample("Confirm", value={"state": "confirmed"}, request_only=True)],
    )
    def patch(self, request: Request, column_tag_id: str) -> Response:
        column_tag = selectors.access_column_tag(user=request.user, column_tag_id=column_tag_id, perm="manage_policies")
        data = self.ColumnTagReviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        classification.column_tag_review(column_tag=column_tag, state=data.validated_data["state"], user=request.user)  # type: ignore[arg-type]
        return Response(ColumnTagOutput(selectors.column_tag_loaded(column_tag.pk)).data)

    @extend_schema(
        operation_id="column_tags_remove",
        description="Removes a tag a person set; a detected tag is rejected instead (so a re-read keeps it off).",
        responses={204: None, **ERROR_RESPONSES},
        tags=["classification"],
    )
    def delete(self, request: Request, column_tag_id: str) -> Response:
        column_tag = selectors.access_column_tag(user=request.user, column_tag_id=column_tag_id, perm="manage_policies")
        classification.column_tag_remove(column_tag=column_tag, user=request.user)  # type: ignore[arg-type]
        return Response(status=status.HTTP_204_NO_CONTENT)
