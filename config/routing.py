"""WebSocket routes. Each app that has consumers contributes its patterns here."""

from __future__ import annotations

from typing import Any

# ws/executions/<uuid>/ arrives with the live-progress issue (executions.consumers).
websocket_urlpatterns: list[Any] = []
