"""The semantic API under /api/v1/: verified queries, glossary terms, curated table and column
descriptions. Who may do what is said in ``semantic.services``; an id of another workspace (or one
hidden from you) is a 404, a refusal by role a 403, and bad input a 400 with a stable code."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import ERROR_RESPONSES, ApiError, error_response, paginated
from datasources.selectors import access_datasource
from semantic import selectors, services
from semantic.models import GlossaryKind, GlossaryTerm, VerifiedQueryOrigin, VerifiedQueryStatus
from semantic.serializers import CurationOutput, GlossaryTermOutput, VerifiedQueryOutput
from workspaces.selectors import access_workspace

TAGS = ["semantic"]
SEMANTIC_400 = error_response(
    "Invalid fields (`validation_error`), or a text the semantic layer refuses: `question_empty`, `question_too_long`, "
    "`sql_empty`, `sql_too_long`, `sql_invalid` (does not parse in the source's dialect), `sql_not_one_statement`, "
    "`sql_rejected` (the governance firewall refuses it as a read for you; `details.firewall_code` says why), "
    "`sql_not_expression` (a glossary term's SQL is a statement or a subquery), `term_empty`, `unknown_kind`, "
    "`table_without_datasource`, `synonym_too_long`, `too_many_synonyms`, `description_too_long`.",
    ("sql_rejected", "The governance firewall refuses this SQL: Only SELECT statements are allowed."),
    ("sql_invalid", "The SQL does not parse: Invalid expression / Unexpected token."),
)
SEMANTIC_ERRORS = {
    **ERROR_RESPONSES,
    400: SEMANTIC_400,
    403: error_response(
        "Your role may not do this: verifying, changing and deleting need `administer_datasource` on the data "
        "source (owners and admins); proposing needs `query_datasource` (analysts).",
        ("permission_denied", "Only owners and admins of this data source verify queries."),
    ),
    409: error_response(
        "The glossary already defines this term", ("term_exists", "The glossary already defines 'revenue'.")
    ),
}
VerifiedQueryPage = paginated(VerifiedQueryOutput, "VerifiedQueryPage")
GlossaryTermPage = paginated(GlossaryTermOutput, "GlossaryTermPage")

_VERIFIED_EXAMPLE = {
    "id": "2a9d6c1e-3f4b-4e8a-9c1d-7b5e0f2a3c44",
    "workspace_id": "8d3c1a52-7f4e-4c1e-9a59-2c7d0d3c9e11",
    "datasource_id": "5f0c2b1e-2d4a-4b7e-8f1a-9c3d2e1f0a11",
    "question": "Revenue by region in 2025",
    "sql": "SELECT c.region, SUM(i.total) AS revenue FROM billing.invoices i JOIN billing.customers c ON c.id = "
    "i.customer_id WHERE i.status = 'paid' AND i.issued_on >= '2025-01-01' AND i.issued_on < '2026-01-01' "
    "GROUP BY c.region",
    "schema_names": ["billing"],
    "status": "verified",
    "origin": "api",
    "source_execution_id": None,
    "created_by": "olivia",
    "verified_by": "olivia",
    "created_at": "2026-12-01T09:00:00Z",
    "verified_at": "2026-12-01T09:00:00Z",
}
_GLOSSARY_EXAMPLE = {
    "id": 7,
    "workspace_id": "8d3c1a52-7f4e-4c1e-9a59-2c7d0d3c9e11",
    "term": "revenue",
    "synonyms": ["sales", "turnover"],
    "kind": "metric",
    "sql": "SUM(CASE WHEN status = 'paid' THEN total END)",
    "datasource_id": "5f0c2b1e-2d4a-4b7e-8f1a-9c3d2e1f0a11",
    "table_name": "billing.invoices",
    "description": "The sum of the totals of paid invoices.",
    "created_at": "2026-12-01T09:00:00Z",
    "updated_at": "2026-12-01T09:00:00Z",
}


def semantic_error(exc: services.SemanticError) -> ApiError:
    details = {**({exc.field: [exc.message]} if exc.field else {}), **exc.details}
    return ApiError(exc.status, exc.code, exc.message, details)


def call(fn: Any, **kwargs: Any) -> Any:
    """A service call with its refusals as API errors."""
    try:
        return fn(**kwargs)
    except services.SemanticError as exc:
        raise semantic_error(exc) from exc


# --- verified queries --------------------------------------------------------------------------


class VerifiedQueryFilterInput(serializers.Serializer):
    workspace_id = serializers.UUIDField(required=False, help_text="Only this workspace (you must be a member).")
    datasource_id = serializers.UUIDField(required=False)
    status = serializers.ChoiceField(choices=VerifiedQueryStatus.choices, required=False)


class VerifiedQueryListApi(APIView):
    class VerifiedQueryCreateInput(serializers.Serializer):
        datasource_id = serializers.UUIDField(help_text="A data source you may query; its workspace is the query's.")
        question = serializers.CharField(max_length=services.MAX_QUESTION_CHARS)
        sql = serializers.CharField(max_length=services.MAX_SQL_CHARS, help_text="One read-only statement.")
        schema_names = serializers.ListField(child=serializers.CharField(max_length=255), required=False, default=list)

    @extend_schema(
        operation_id="verified_queries_list",
        parameters=[
            VerifiedQueryFilterInput,
            OpenApiParameter("limit", int, required=False),
            OpenApiParameter("offset", int, required=False),
        ],
        responses={200: VerifiedQueryPage, **ERROR_RESPONSES},
        tags=TAGS,
        description="Verified and proposed queries of the data sources you may query, newest first.",
    )
    def get(self, request: Request) -> Response:
        filters = VerifiedQueryFilterInput(data=request.query_params)
        filters.is_valid(raise_exception=True)
        values = filters.validated_data
        if "workspace_id" in values:
            access_workspace(user=request.user, workspace_id=values["workspace_id"])
        found = selectors.verified_queries_for(
            user=request.user,
            workspace_id=values.get("workspace_id"),
            status=values.get("status"),
            datasource_ids=[values["datasource_id"]] if "datasource_id" in values else None,
        ).order_by("-created_at")
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(found, request, view=self)
        return paginator.get_paginated_response(VerifiedQueryOutput(page, many=True).data)

    @extend_schema(
        operation_id="verified_queries_create",
        request=VerifiedQueryCreateInput,
        responses={201: VerifiedQueryOutput, **SEMANTIC_ERRORS},
        tags=TAGS,
        description="Saves a question with the SQL that answers it: verified when you may verify on the source "
        "(owners, admins), proposed when you may only query it (analysts).",
        examples=[
            OpenApiExample(
                "Verify a query",
                request_only=True,
                value={k: _VERIFIED_EXAMPLE[k] for k in ("datasource_id", "question", "sql", "schema_names")},
            ),
            OpenApiExample("Verified", response_only=True, status_codes=["201"], value=_VERIFIED_EXAMPLE),
        ],
    )
    def post(self, request: Request) -> Response:
        data = self.VerifiedQueryCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        datasource = access_datasource(user=request.user, datasource_id=values["datasource_id"])
        verified = call(
            services.verified_query_create,
            user=request.user,
            datasource=datasource,
            question=values["question"],
            sql=values["sql"],
            schema_names=values["schema_names"],
            origin=VerifiedQueryOrigin.API,
        )
        return Response(VerifiedQueryOutput(verified).data, status=status.HTTP_201_CREATED)


class VerifiedQueryDetailApi(APIView):
    class VerifiedQueryUpdateInput(serializers.Serializer):
        question = serializers.CharField(required=False, max_length=services.MAX_QUESTION_CHARS)
        sql = serializers.CharField(required=False, max_length=services.MAX_SQL_CHARS)
        schema_names = serializers.ListField(child=serializers.CharField(max_length=255), required=False)

    @extend_schema(operation_id="verified_queries_retrieve", responses={200: VerifiedQueryOutput, **ERROR_RESPONSES},
                   tags=TAGS)  # fmt: skip
    def get(self, request: Request, verified_query_id: str) -> Response:
        verified = selectors.access_verified_query(user=request.user, verified_query_id=verified_query_id)
        return Response(VerifiedQueryOutput(verified).data)

    @extend_schema(operation_id="verified_queries_update", request=VerifiedQueryUpdateInput,
                   responses={200: VerifiedQueryOutput, **SEMANTIC_ERRORS}, tags=TAGS)  # fmt: skip
    def patch(self, request: Request, verified_query_id: str) -> Response:
        verified = selectors.access_verified_query(user=request.user, verified_query_id=verified_query_id)
        data = self.VerifiedQueryUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        verified = call(
            services.verified_query_update, user=request.user, verified_query=verified, **data.validated_data
        )
        return Response(VerifiedQueryOutput(verified).data)

    @extend_schema(operation_id="verified_queries_destroy", responses={204: None, **SEMANTIC_ERRORS}, tags=TAGS)
    def delete(self, request: Request, verified_query_id: str) -> Response:
        verified = selectors.access_verified_query(user=request.user, verified_query_id=verified_query_id)
        call(services.verified_query_delete, user=request.user, verified_query=verified)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VerifiedQueryVerifyApi(APIView):
    @extend_schema(
        operation_id="verified_queries_verify",
        request=None,
        responses={200: VerifiedQueryOutput, **SEMANTIC_ERRORS},
        tags=TAGS,
        description="Verifies a proposed query (its SQL is checked again, as you); a verified one stays as it is.",
    )
    def post(self, request: Request, verified_query_id: str) -> Response:
        verified = selectors.access_verified_query(user=request.user, verified_query_id=verified_query_id)
        verified = call(services.verified_query_verify, user=request.user, verified_query=verified)
        return Response(VerifiedQueryOutput(verified).data)


# --- glossary ----------------------------------------------------------------------------------


class GlossaryTermInput(serializers.Serializer):
    term = serializers.CharField(max_length=120)
    synonyms = serializers.ListField(child=serializers.CharField(allow_blank=True, max_length=120), required=False,
                                     default=list)  # fmt: skip
    kind = serializers.ChoiceField(choices=GlossaryKind.choices)
    sql = serializers.CharField(max_length=4000, help_text="An SQL expression; for a filter, a condition.")
    datasource_id = serializers.UUIDField(required=False, allow_null=True, default=None)
    table_name = serializers.CharField(required=False, allow_blank=True, default="", max_length=511)
    description = serializers.CharField(required=False, allow_blank=True, default="",
                                        max_length=services.MAX_DESCRIPTION_CHARS)  # fmt: skip


def _glossary_values(request: Request, values: dict[str, Any]) -> services.GlossaryValues:
    datasource_id = values.get("datasource_id")
    datasource = access_datasource(user=request.user, datasource_id=datasource_id) if datasource_id else None
    return services.GlossaryValues(
        term=values["term"],
        kind=values["kind"],
        sql=values["sql"],
        synonyms=values.get("synonyms") or (),
        datasource=datasource,
        table_name=values.get("table_name") or "",
        description=values.get("description") or "",
    )


def _current(term: GlossaryTerm) -> dict[str, Any]:
    return {"term": term.term, "kind": term.kind, "sql": term.sql, "synonyms": term.synonyms,
            "datasource_id": term.datasource_id, "table_name": term.table_name,
            "description": term.description}  # fmt: skip


class GlossaryListApi(APIView):
    class WorkspaceInput(serializers.Serializer):
        workspace_id = serializers.UUIDField()

    class GlossaryCreateInput(GlossaryTermInput):
        workspace_id = serializers.UUIDField()

    @extend_schema(
        operation_id="glossary_list",
        parameters=[
            OpenApiParameter("workspace_id", str, required=False),
            OpenApiParameter("limit", int, required=False),
            OpenApiParameter("offset", int, required=False),
        ],
        responses={200: GlossaryTermPage, **ERROR_RESPONSES},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        workspace_id = request.query_params.get("workspace_id")
        if workspace_id:
            access_workspace(user=request.user, workspace_id=workspace_id)
        terms = selectors.glossary_terms_for(user=request.user, workspace_id=workspace_id).order_by("term")
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(terms, request, view=self)
        return paginator.get_paginated_response(GlossaryTermOutput(page, many=True).data)

    @extend_schema(
        operation_id="glossary_create",
        request=GlossaryCreateInput,
        responses={201: GlossaryTermOutput, **SEMANTIC_ERRORS},
        tags=TAGS,
        description="Defines a term (owners and admins). Its SQL is parsed, and checked by the firewall over its "
        "table when it names one.",
        examples=[
            OpenApiExample(
                "Revenue",
                request_only=True,
                value={k: v for k, v in _GLOSSARY_EXAMPLE.items() if k not in ("id", "created_at", "updated_at")},
            ),
            OpenApiExample("Defined", response_only=True, status_codes=["201"], value=_GLOSSARY_EXAMPLE),
        ],
    )
    def post(self, request: Request) -> Response:
        data = self.GlossaryCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        workspace = access_workspace(user=request.user, workspace_id=data.validated_data["workspace_id"])
        values = _glossary_values(request, data.validated_data)
        term = call(services.glossary_term_create, user=request.user, workspace=workspace, values=values)
        return Response(GlossaryTermOutput(term).data, status=status.HTTP_201_CREATED)


class GlossaryDetailApi(APIView):
    class GlossaryUpdateInput(GlossaryTermInput):
        term = serializers.CharField(max_length=120, required=False)
        kind = serializers.ChoiceField(choices=GlossaryKind.choices, required=False)
        sql = serializers.CharField(max_length=4000, required=False)

    @extend_schema(operation_id="glossary_retrieve", responses={200: GlossaryTermOutput, **ERROR_RESPONSES}, tags=TAGS)
    def get(self, request: Request, term_id: str) -> Response:
        return Response(GlossaryTermOutput(selectors.access_glossary_term(user=request.user, term_id=term_id)).data)

    @extend_schema(operation_id="glossary_update", request=GlossaryUpdateInput,
                   responses={200: GlossaryTermOutput, **SEMANTIC_ERRORS}, tags=TAGS)  # fmt: skip
    def patch(self, request: Request, term_id: str) -> Response:
        term = selectors.access_glossary_term(user=request.user, term_id=term_id)
        data = self.GlossaryUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        merged = {**_current(term), **data.validated_data}
        term = call(
            services.glossary_term_update, user=request.user, term=term, values=_glossary_values(request, merged)
        )
        return Response(GlossaryTermOutput(term).data)

    @extend_schema(operation_id="glossary_destroy", responses={204: None, **SEMANTIC_ERRORS}, tags=TAGS)
    def delete(self, request: Request, term_id: str) -> Response:
        term = selectors.access_glossary_term(user=request.user, term_id=term_id)
        call(services.glossary_term_delete, user=request.user, term=term)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- curated descriptions of tables and columns ------------------------------------------------


class CurationInput(serializers.Serializer):
    description = serializers.CharField(allow_blank=True, max_length=services.MAX_DESCRIPTION_CHARS)
    synonyms = serializers.ListField(child=serializers.CharField(allow_blank=True, max_length=64), default=list)


def curation_output(table: Any, column: Any) -> dict[str, Any]:
    target = column if column is not None else table
    return CurationOutput(
        {
            "datasource_id": table.datasource_id,
            "table_id": table.pk,
            "table": str(table),
            "column": column.name if column is not None else None,
            "comment": target.comment,
            "description": target.description,
            "synonyms": target.synonyms,
        }
    ).data


_CURATION_HELP = (
    "Sets the curated description and synonyms (owners and admins of the source). A catalog refresh keeps them; "
    "catalog search matches them; models are given them beside the source's comment."
)
_CURATION_EXAMPLE = OpenApiExample(
    "Describe", request_only=True, value={"description": "One row per invoice sent.", "synonyms": ["bills"]}
)


class _CurationApi(APIView):
    """The curated description and synonyms of a table, or of a column when the URL names one."""

    def _target(self, request: Request, datasource_id: str, table_id: str, column: str | None) -> tuple[Any, Any]:
        datasource = access_datasource(user=request.user, datasource_id=datasource_id)
        return selectors.catalog_object(user=request.user, datasource=datasource, table_id=table_id, column=column)

    def _get(self, request: Request, datasource_id: str, table_id: str, column: str | None) -> Response:
        table, found = self._target(request, datasource_id, table_id, column)
        return Response(curation_output(table, found))

    def _put(self, request: Request, datasource_id: str, table_id: str, column: str | None) -> Response:
        table, found = self._target(request, datasource_id, table_id, column)
        data = CurationInput(data=request.data)
        data.is_valid(raise_exception=True)
        call(services.catalog_description_set, user=request.user, table=table, column=found, **data.validated_data)
        return Response(curation_output(table, found))


class TableCurationApi(_CurationApi):
    @extend_schema(operation_id="table_curation_retrieve", responses={200: CurationOutput, **ERROR_RESPONSES},
                   tags=TAGS)  # fmt: skip
    def get(self, request: Request, datasource_id: str, table_id: str) -> Response:
        return self._get(request, datasource_id, table_id, None)

    @extend_schema(operation_id="table_curation_update", request=CurationInput,
                   responses={200: CurationOutput, **SEMANTIC_ERRORS}, tags=TAGS, description=_CURATION_HELP,
                   examples=[_CURATION_EXAMPLE])  # fmt: skip
    def put(self, request: Request, datasource_id: str, table_id: str) -> Response:
        return self._put(request, datasource_id, table_id, None)


class ColumnCurationApi(_CurationApi):
    @extend_schema(operation_id="column_curation_retrieve", responses={200: CurationOutput, **ERROR_RESPONSES},
                   tags=TAGS)  # fmt: skip
    def get(self, request: Request, datasource_id: str, table_id: str, column: str) -> Response:
        return self._get(request, datasource_id, table_id, column)

    @extend_schema(operation_id="column_curation_update", request=CurationInput,
                   responses={200: CurationOutput, **SEMANTIC_ERRORS}, tags=TAGS, description=_CURATION_HELP,
                   examples=[_CURATION_EXAMPLE])  # fmt: skip
    def put(self, request: Request, datasource_id: str, table_id: str, column: str) -> Response:
        return self._put(request, datasource_id, table_id, column)
