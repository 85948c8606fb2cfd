"""The Admin SDK Directory API's calendar resources: `resources.calendars.list`.

Looked up (Admin SDK Directory API reference, `resources.calendars` and its `list` method;
errors as client-library issues show Google answering them):
- `GET https://admin.googleapis.com/admin/directory/v1/customer/{customer}/resources/calendars`
  where `customer` is the account's customer id or `my_customer` ("as an account
  administrator, you can also use the my_customer alias"); `maxResults`, `pageToken`
  (`nextPageToken` in the answer while more remain), `orderBy`, `query`.
- Scopes: `admin.directory.resource.calendar` or its `.readonly`; missing → 403
  `insufficientPermissions`.
- The answer: `{"kind": "admin#directory#resources#calendars#calendarResourcesList",
  "etag", "items": [CalendarResource], "nextPageToken"}`; a CalendarResource has `kind`
  `admin#directory#resources#calendars#CalendarResource`, `etags`, `resourceId`,
  `resourceName`, `generatedResourceName`, `resourceType`, `resourceEmail` (the resource's
  calendar id), `resourceCategory` (`CONFERENCE_ROOM`, `OTHER`, legacy `CATEGORY_UNKNOWN`),
  `capacity`, `buildingId`, `floorName`, `floorSection`, `userVisibleDescription`.
- A caller who is not an administrator allowed to read resources: 403 with reason
  `forbidden`, "Not Authorized to access this resource/api" (domain `global`).

Where the docs are silent: `maxResults` defaults to 100 here and takes 1 to 500 (the bound
client libraries check); a customer id other than the account's is answered like a caller
who may not read it (403 `forbidden`); `orderBy` and `query` are not emulated (ignored);
items come in the seed's order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..routing import Router
from .api import GoogleError, Request, Response, bad_request
from .calendar_api import _b64, _max_results, _unb64

if TYPE_CHECKING:
    from .service import CalendarService

DIRECTORY_ROOT = "/admin/directory/v1"
SCOPE = "https://www.googleapis.com/auth/"
RESOURCE_SCOPES = {SCOPE + "admin.directory.resource.calendar",
                   SCOPE + "admin.directory.resource.calendar.readonly"}
MY_CUSTOMER = "my_customer"
RESOURCE_KIND = "admin#directory#resources#calendars#CalendarResource"
LIST_KIND = "admin#directory#resources#calendars#calendarResourcesList"
NOT_AUTHORIZED = "Not Authorized to access this resource/api"


def forbidden() -> GoogleError:
    """The Directory API's refusal of a caller who may not read the customer's resources."""
    return GoogleError(403, "forbidden", NOT_AUTHORIZED)


class DirectoryApi:
    """Handlers for `/admin/directory/v1/...` (paths below the Directory API root)."""

    def __init__(self, service: CalendarService) -> None:
        self.service = service
        self.store = service.store
        seed = service.seed
        self.customer_id = str(seed.get("customer_id") or "C0emu1ated")
        self.admins = {str(u["email"]).lower() for u in seed.get("users", []) if u.get("admin")}

    def register(self, router: Router) -> None:
        """Add every route."""
        router.add("GET", "/customer/{customer}/resources/calendars", self.list_resources)

    def _resource(self, calendar_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        item: dict[str, Any] = {"kind": RESOURCE_KIND,
                                "etags": f'"{abs(hash(calendar_id)) % 10**15}"',
                                "resourceEmail": calendar_id}
        item.update({k: v for k, v in fields.items() if v is not None})
        return item

    def list_resources(self, req: Request, params: dict[str, str]) -> Response:
        """`resources.calendars.list`: the customer's calendar resources, paged."""
        principal = req.principal
        if not principal.scopes & RESOURCE_SCOPES:
            raise GoogleError(403, "insufficientPermissions",
                              "Request had insufficient authentication scopes.")
        if principal.email not in self.admins:
            raise forbidden()
        if params["customer"] not in (MY_CUSTOMER, self.customer_id):
            raise forbidden()
        size = _max_results(req, 100, 500)
        with self.store.lock:
            items = [self._resource(c.id, c.resource) for c in self.store.calendars.values()
                     if c.resource is not None and not c.deleted]
            version = self.store.version
        offset = self._offset(req)
        body: dict[str, Any] = {"kind": LIST_KIND, "etag": f'"{version}"',
                                "items": items[offset:offset + size]}
        if offset + size < len(items):
            body["nextPageToken"] = _b64({"o": offset + size, "c": params["customer"]})
        return Response(200, body)

    @staticmethod
    def _offset(req: Request) -> int:
        token = req.param("pageToken")
        if not token:
            return 0
        try:
            return int(_unb64(token)["o"])
        except (ValueError, KeyError, TypeError) as exc:
            raise bad_request("Invalid page token value.", "invalid", "pageToken") from exc
