"""`POST /$batch`: JSON batching of up to 20 requests, each run through the full pipeline.

Each item passes the same routing, authentication (the batch's own bearer token), fault
injection and throttling as a direct call, so one item can be throttled while others succeed:
Graph evaluates every request of a batch against the throttling limits on its own, and a
throttled one answers 429 with its own `Retry-After` inside the 200 batch answer.

Without `dependsOn`, Graph runs a batch's requests in parallel, in any order, handing up to
four at a time to the Outlook service (so a batch of five to one mailbox can trip the
mailbox's 4-concurrent-requests limit by itself); here too. A batch that uses `dependsOn`
runs its items one by one, in order, and an item whose `dependsOn` target failed answers
424 Failed Dependency.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .api import ApiRequest, ApiResponse, GraphError, error_response

if TYPE_CHECKING:
    from .service import GraphService

MAX_REQUESTS = 20
PARALLEL_ITEMS = 4  # items of one batch Graph hands to the service at a time
METHODS = {"GET", "POST", "PATCH", "PUT", "DELETE"}


class BatchApi:
    """The `$batch` endpoint."""

    def __init__(self, service: GraphService) -> None:
        self.service = service

    def run_batch(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """Execute the batch and answer `{"responses": [...]}`."""
        payload = req.json()
        items = payload.get("requests") if isinstance(payload, dict) else None
        if not isinstance(items, list) or not items:
            raise GraphError(400, "BadRequest", "Invalid batch payload format.")
        if len(items) > MAX_REQUESTS:
            raise GraphError(
                400,
                "BadRequest",
                f"Too many requests in the batch. The maximum is {MAX_REQUESTS} requests.",
            )
        ids = [str(item.get("id", "")) if isinstance(item, dict) else "" for item in items]
        if any(not i for i in ids) or len(set(ids)) != len(ids):
            raise GraphError(400, "BadRequest", "Batch request ids must be present and unique.")
        for item in items:
            if str(item.get("method", "")).upper() not in METHODS or not item.get("url"):
                raise GraphError(
                    400, "BadRequest", f"Invalid method or url in batch request {item.get('id')}."
                )
        statuses: dict[str, int] = {}
        if not any(item.get("dependsOn") for item in items):
            with ThreadPoolExecutor(max_workers=min(PARALLEL_ITEMS, len(items)),
                                    thread_name_prefix="graph-batch") as pool:
                responses = list(pool.map(lambda item: self._run_item(req, item, statuses),
                                          items))
            return ApiResponse(200, {"responses": responses})
        responses = []
        for item in items:
            response = self._run_item(req, item, statuses)
            statuses[str(item["id"])] = response["status"]
            responses.append(response)
        return ApiResponse(200, {"responses": responses})

    def _run_item(
        self, outer: ApiRequest, item: dict[str, Any], statuses: dict[str, int]
    ) -> dict[str, Any]:
        item_id = str(item["id"])
        depends = item.get("dependsOn") or []
        if isinstance(depends, str):
            depends = [depends]
        if any(statuses.get(str(d), 599) >= 400 for d in depends):
            error = GraphError(424, "FailedDependency", "A dependent request failed.")
            return self._as_item(item_id, error_response(error, outer))
        url = str(item["url"])
        if "://" in url:
            error = GraphError(400, "BadRequest", "Batch request urls must be relative.")
            return self._as_item(item_id, error_response(error, outer))
        headers = {str(k): str(v) for k, v in (item.get("headers") or {}).items()}
        body = item.get("body")
        data = b""
        if body is not None:
            if not any(k.lower() == "content-type" for k in headers):
                error = GraphError(
                    400,
                    "BadRequest",
                    f"Write request id : {item_id} does not contain Content-Type header or body.",
                )
                return self._as_item(item_id, error_response(error, outer))
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        headers["Authorization"] = outer.header("authorization")
        if not url.startswith("/"):
            url = "/" + url
        sub = ApiRequest.from_target(str(item["method"]), url, headers, data)
        return self._as_item(item_id, self.service.handle(sub))

    @staticmethod
    def _as_item(item_id: str, response: ApiResponse) -> dict[str, Any]:
        headers = dict(response.headers)
        if response.body is not None:
            headers.setdefault("Content-Type", response.content_type)
        result: dict[str, Any] = {"id": item_id, "status": response.status, "headers": headers}
        if response.body is not None:
            result["body"] = response.body
        return result
