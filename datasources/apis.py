"""Data sources API: register, change, test, refresh, and exports. Browsing and searching the
catalog (what a member may see of it) is ``governance.apis``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import ERROR_RESPONSES, ApiError, error_response, file_response
from datasources import selectors, services
from datasources.connectors.base import ConnectorError
from datasources.models import DataSourceKind, InferredKey, InferredKeyState
from workspaces.selectors import access_workspace

# HTTP status of each connector error: our input (400), the source refused (422), it is down (502).
CONNECTOR_STATUS = {
    "datasource_invalid_settings": 400,
    "datasource_forbidden_host": 400,
    "datasource_path_forbidden": 400,
    "query_invalid": 400,
    "query_not_read_only": 400,
    "datasource_auth_failed": 422,
    "datasource_not_found": 422,
    "table_not_found": 422,
    "query_failed": 422,
    "query_cancelled": 409,
    "query_timeout": 504,
    "datasource_unreachable": 502,
}


# What a call that reaches the data source may answer besides ERROR_RESPONSES.
SOURCE_ERRORS = {
    422: error_response(
        "The data source refused: authentication, an unknown database, a failed statement",
        ("datasource_auth_failed", "The data source refused the user name or password."),
        ("datasource_not_found", "The database does not exist on this server."),
    ),
    502: error_response(
        "The data source cannot be reached (a host that does not resolve, a closed port)",
        ("datasource_unreachable", "The data source could not be reached: the host name does not resolve."),
    ),
    504: error_response("The data source did not answer in time", ("query_timeout", "The query timed out.")),
}


def connector_error(exc: ConnectorError) -> ApiError:
    return ApiError(CONNECTOR_STATUS.get(exc.code, 422), exc.code, exc.message, exc.details)


class DataSourceOutput(serializers.Serializer):
    id = serializers.UUIDField()
    workspace_id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField()
    kind = serializers.ChoiceField(choices=DataSourceKind.choices)
    settings = serializers.DictField(help_text="Connection settings; never a password.")
    has_secrets = serializers.SerializerMethodField(help_text="Whether credentials are stored (they are never shown).")
    status = serializers.CharField()
    error_code = serializers.CharField()
    status_message = serializers.CharField()
    server_version = serializers.CharField()
    introspection_progress = serializers.IntegerField()
    last_tested_at = serializers.DateTimeField(allow_null=True)
    last_introspected_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_has_secrets(self, obj: Any) -> bool:
        return bool(obj.secrets)


SETTINGS_HELP = (
    "postgresql: host, port, database, user, sslmode, schemas; mysql: host, port, database, user, schemas; "
    "sqlite: path; files: path (folder or file) or urls (list)."
)


def _service(fn: Any, **kwargs: Any) -> Any:
    try:
        return fn(**kwargs)
    except ConnectorError as exc:
        raise connector_error(exc) from exc


class DataSourceListApi(APIView):
    class DataSourceCreateInput(serializers.Serializer):
        workspace_id = serializers.UUIDField()
        name = serializers.CharField(max_length=120)
        description = serializers.CharField(required=False, default="", allow_blank=True, max_length=2000)
        kind = serializers.ChoiceField(choices=DataSourceKind.choices)
        settings = serializers.DictField(help_text=SETTINGS_HELP)
        secrets = serializers.DictField(
            child=serializers.CharField(allow_blank=True, max_length=1000),
            required=False,
            default=dict,
            help_text='Write-only: {"password": "..."}.',
        )
        refresh = serializers.BooleanField(default=True, help_text="Read the schema right after saving.")

    @extend_schema(
        operation_id="datasources_list",
        parameters=[OpenApiParameter("workspace_id", str, required=False)],
        responses={200: DataSourceOutput(many=True), **ERROR_RESPONSES},
        tags=["datasources"],
    )
    def get(self, request: Request) -> Response:
        workspace_id = request.query_params.get("workspace_id")
        if workspace_id:
            access_workspace(user=request.user, workspace_id=workspace_id)
        datasources = selectors.datasources_for_user(user=request.user, workspace_id=workspace_id)
        return Response(DataSourceOutput(datasources, many=True).data)

    @extend_schema(
        operation_id="datasources_create",
        request=DataSourceCreateInput,
        responses={201: DataSourceOutput, **ERROR_RESPONSES, **SOURCE_ERRORS},
        tags=["datasources"],
        examples=[
            OpenApiExample(
                "PostgreSQL",
                request_only=True,
                value={
                    "workspace_id": "8d3c1a52-7f4e-4c1e-9a59-2c7d0d3c9e11",
                    "name": "Warehouse",
                    "kind": "postgresql",
                    "settings": {"host": "db.example.com", "port": 5432, "database": "dw", "user": "reader"},
                    "secrets": {"password": "..."},
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        data = self.DataSourceCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        workspace = access_workspace(user=request.user, workspace_id=values["workspace_id"], perm="manage_datasources")
        datasource = _service(
            services.datasource_create,
            workspace=workspace,
            name=values["name"],
            kind=values["kind"],
            settings=values["settings"],
            secrets=values["secrets"],
            description=values["description"],
            created_by=request.user,
        )
        if values["refresh"]:
            datasource = services.datasource_refresh_start(datasource=datasource)
        return Response(DataSourceOutput(datasource).data, status=status.HTTP_201_CREATED)


class DataSourceDetailApi(APIView):
    class DataSourceUpdateInput(serializers.Serializer):
        name = serializers.CharField(max_length=120, required=False)
        description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
        settings = serializers.DictField(required=False, help_text=SETTINGS_HELP)
        secrets = serializers.DictField(
            child=serializers.CharField(allow_blank=True, max_length=1000),
            required=False,
            help_text="Merged into the stored secrets; a key set to an empty string is removed.",
        )

    @extend_schema(operation_id="datasources_retrieve", responses={200: DataSourceOutput, **ERROR_RESPONSES},
                   tags=["datasources"])  # fmt: skip
    def get(self, request: Request, datasource_id: str) -> Response:
        datasource = selectors.access_datasource(user=request.user, datasource_id=datasource_id)
        return Response(DataSourceOutput(datasource).data)

    @extend_schema(operation_id="datasources_update", request=DataSourceUpdateInput,
                   responses={200: DataSourceOutput, **ERROR_RESPONSES, **SOURCE_ERRORS},
                   tags=["datasources"])  # fmt: skip
    def patch(self, request: Request, datasource_id: str) -> Response:
        datasource = selectors.access_datasource(
            user=request.user, datasource_id=datasource_id, perm="administer_datasource"
        )
        data = self.DataSourceUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        datasource = _service(services.datasource_update, datasource=datasource, **data.validated_data)
        return Response(DataSourceOutput(datasource).data)

    @extend_schema(operation_id="datasources_delete", responses={204: None, **ERROR_RESPONSES},
                   tags=["datasources"])  # fmt: skip
    def delete(self, request: Request, datasource_id: str) -> Response:
        datasource = selectors.access_datasource(
            user=request.user, datasource_id=datasource_id, perm="administer_datasource"
        )
        services.datasource_delete(datasource=datasource)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VisibilityOutput(serializers.Serializer):
    visible = serializers.IntegerField(help_text="Tables and views this login can read in the configured schemas.")
    unreadable = serializers.IntegerField(
        allow_null=True, help_text="Tables there that this login may not read (null: the engine cannot tell)."
    )
    code = serializers.CharField(help_text="Empty, or why nothing is visible: no_tables_visible, schema_not_found, "
                                 "empty_schema.")  # fmt: skip
    message = serializers.CharField(help_text="What is wrong and what to do, in plain words.")


class ConnectionTestOutput(serializers.Serializer):
    ok = serializers.BooleanField(help_text="The connection works (even when it shows no table: see visibility).")
    server_version = serializers.CharField()
    latency_ms = serializers.FloatField()
    visibility = VisibilityOutput(allow_null=True)


class DataSourceTestApi(APIView):
    @extend_schema(operation_id="datasources_test", request=None,
                   responses={200: ConnectionTestOutput, **ERROR_RESPONSES, **SOURCE_ERRORS},
                   tags=["datasources"])  # fmt: skip
    def post(self, request: Request, datasource_id: str) -> Response:
        datasource = selectors.access_datasource(
            user=request.user, datasource_id=datasource_id, perm="administer_datasource"
        )
        info = _service(services.datasource_test, datasource=datasource)
        visibility = info.visibility.__dict__ if info.visibility else None
        body = {"ok": True, "server_version": info.server_version, "latency_ms": info.latency_ms,
                "visibility": visibility}  # fmt: skip
        return Response(ConnectionTestOutput(body).data)


class DataSourceRefreshApi(APIView):
    @extend_schema(
        operation_id="datasources_refresh",
        request=None,
        responses={
            202: DataSourceOutput,
            **ERROR_RESPONSES,
            409: error_response(
                "A refresh of this source is running", ("refresh_in_progress", "A refresh is already running.")
            ),
        },
        tags=["datasources"],
    )
    def post(self, request: Request, datasource_id: str) -> Response:
        datasource = selectors.access_datasource(
            user=request.user, datasource_id=datasource_id, perm="administer_datasource"
        )
        try:
            datasource = services.datasource_refresh_start(datasource=datasource)
        except services.RefreshInProgress as exc:
            raise ApiError(409, "refresh_in_progress", str(exc)) from exc
        return Response(DataSourceOutput(datasource).data, status=status.HTTP_202_ACCEPTED)


class InferredKeyOutput(serializers.Serializer):
    id = serializers.IntegerField()
    column = serializers.SerializerMethodField(help_text="schema.table.column that holds the key.")
    references = serializers.SerializerMethodField(help_text="schema.table.column it references.")
    score = serializers.FloatField(help_text="How confident the last catalog read was, 0..1.")
    evidence = serializers.CharField(help_text="What matched, in plain words.")
    state = serializers.ChoiceField(choices=InferredKeyState.choices)
    reviewed_by = serializers.SerializerMethodField()
    reviewed_at = serializers.DateTimeField(allow_null=True)
    detected_at = serializers.DateTimeField()

    def get_column(self, obj: InferredKey) -> str:
        return str(obj.column)

    def get_references(self, obj: InferredKey) -> str:
        return str(obj.target)

    def get_reviewed_by(self, obj: InferredKey) -> str:
        return obj.reviewed_by.get_username() if obj.reviewed_by else ""


INFERRED_KEYS_HELP = (
    "Join keys the source does not declare, inferred from column names and types at every catalog read "
    "(orders.customer_id -> customers.id). For those who administer the source (owners and admins): every state, "
    "with score and evidence. Other members see the detected and confirmed ones as the `references` (with "
    "`inferred: true`) of the columns in the tables API; rejected keys are given to nobody, models included."
)


class InferredKeyListApi(APIView):
    @extend_schema(
        operation_id="datasources_inferred_keys",
        parameters=[OpenApiParameter("state", str, required=False, enum=InferredKeyState.values)],
        responses={200: InferredKeyOutput(many=True), **ERROR_RESPONSES},
        tags=["datasources"],
        description=INFERRED_KEYS_HELP,
    )
    def get(self, request: Request, datasource_id: str) -> Response:
        datasource = selectors.access_datasource(
            user=request.user, datasource_id=datasource_id, perm="administer_datasource"
        )
        state = request.query_params.get("state") or None
        if state is not None and state not in InferredKeyState.values:
            raise ApiError(400, "validation_error", "Unknown state.", {"state": list(InferredKeyState.values)})
        keys = selectors.inferred_keys(datasource=datasource, state=state)
        return Response(InferredKeyOutput(keys, many=True).data)


class InferredKeyDetailApi(APIView):
    class InferredKeyReviewInput(serializers.Serializer):
        state = serializers.ChoiceField(
            choices=InferredKeyState.choices,
            help_text="confirmed (models join along it), rejected (never used again, whatever later reads find) "
            "or detected (undo a decision).",
        )

    @extend_schema(
        operation_id="datasources_inferred_keys_review",
        request=InferredKeyReviewInput,
        responses={200: InferredKeyOutput, **ERROR_RESPONSES},
        tags=["datasources"],
        description="Confirm or reject an inferred key (owners and admins of the source; 404 for a key of "
        "another source or workspace).",
    )
    def patch(self, request: Request, datasource_id: str, key_id: str) -> Response:
        datasource = selectors.access_datasource(
            user=request.user, datasource_id=datasource_id, perm="administer_datasource"
        )
        key = selectors.access_inferred_key(datasource=datasource, key_id=key_id)
        data = self.InferredKeyReviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        user: Any = request.user  # authenticated: access_datasource found the source for them
        key = services.inferred_key_review(key=key, state=data.validated_data["state"], user=user)
        return Response(InferredKeyOutput(key).data)


class ExportOutput(serializers.Serializer):
    id = serializers.UUIDField()
    datasource_id = serializers.UUIDField()
    format = serializers.CharField()
    rows = serializers.IntegerField()
    bytes = serializers.IntegerField()
    duration_ms = serializers.FloatField()
    created_at = serializers.DateTimeField()
    download_url = serializers.SerializerMethodField()

    def get_download_url(self, obj: Any) -> str:
        return f"/api/v1/exports/{obj.pk}/download"


CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}


class ExportDetailApi(APIView):
    @extend_schema(operation_id="exports_retrieve", responses={200: ExportOutput, **ERROR_RESPONSES},
                   tags=["exports"])  # fmt: skip
    def get(self, request: Request, export_id: str) -> Response:
        export = selectors.access_export(user=request.user, export_id=export_id)
        return Response(ExportOutput(export).data)


class FileRenderer(BaseRenderer):
    """Lets a client ask for the file's own type (Accept: text/csv) without a 406."""

    media_type = "*/*"
    format = "file"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> Any:
        return data


class FileDownloadView(APIView):
    """A view answering a file (the client may ask for its type, Accept: text/csv) or, on any
    error, the JSON error body, whatever was asked for (?format=file included)."""

    renderer_classes = [JSONRenderer, FileRenderer]

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(response, Response) and response.status_code >= 400:
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
        return super().finalize_response(request, response, *args, **kwargs)


class ExportDownloadApi(FileDownloadView):
    @extend_schema(
        operation_id="exports_download",
        responses={(200, "text/csv"): bytes, (200, "application/vnd.apache.parquet"): bytes, **ERROR_RESPONSES},
        tags=["exports"],
    )
    def get(self, request: Request, export_id: str) -> Any:
        from datasources.queries import export_path

        export = selectors.access_export(user=request.user, export_id=export_id)
        path = export_path(export)
        if not path.exists():
            raise ApiError(410, "export_expired", "The exported file is no longer in the result store.")
        # Sent in blocks: constant memory whatever its size.
        return file_response(
            request, open(path, "rb"), filename=f"result-{export.pk}.{export.format}",
            content_type=CONTENT_TYPES[export.format],
        )  # fmt: skip
