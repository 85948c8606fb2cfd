"""`make demo`: start the local stack on free ports and show a newcomer what calbridge
does, step by step, through its HTTP API — then stop everything again."""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

import requests

from calbridge.host.stack import LocalStack, Ports

KEY = "demo-function-key"


class Walkthrough:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.session = requests.Session()
        self.session.headers["x-functions-key"] = KEY
        self.step = 0

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.session.request(method, self.stack.url + path, timeout=60, **kwargs)
        print(f"  $ curl -X {method} {self.stack.url}{path}"
              + (f" -d '{json.dumps(kwargs['json'])}'" if "json" in kwargs else ""))
        print(f"  → HTTP {response.status_code}")
        return response.json()

    def title(self, text: str) -> None:
        self.step += 1
        print(f"\n── {self.step}. {text} " + "─" * max(0, 60 - len(text)))

    def run(self) -> None:
        self.title("The bridges calbridge is configured with")
        for bridge in self.call("GET", "/bridges")["bridges"]:
            caps = ", ".join(k for k, v in bridge["capabilities"].items() if v)
            print(f"    {bridge['name']:<16} type={bridge['type']:<15} can: {caps}")

        self.title("Resources in your booking system")
        resources = self.call("GET", "/bridges/booking_system/calendars")["calendars"]
        for resource in resources:
            print(f"    {resource['id']:<12} {resource['name']}")

        self.title("Room calendars in Outlook (Microsoft Graph emulator)")
        rooms = self.call("GET", "/bridges/outlook/calendars")["calendars"]
        for room in rooms:
            print(f"    {room['id']:<32} {room['name']}")

        self.title("Map a booking resource to an Outlook room")
        pairs = list(zip(resources, rooms, strict=False))[:2]
        for resource, room in pairs:
            created = self.call("POST", "/mappings/resources", json={
                "booking_system_resource_id": resource["id"], "calendar_system": "outlook",
                "calendar_resource_id": room["id"], "calendar_resource_name": room["name"],
                "active": True})
            print(f"    mapping {created['id']}: {resource['id']} ↔ {room['id']}")

        self.title("Mapping the same pair again is refused")
        again = self.call("POST", "/mappings/resources", json={
            "booking_system_resource_id": pairs[0][0]["id"], "calendar_system": "outlook",
            "calendar_resource_id": pairs[0][1]["id"]})
        print(f"    {again['error']['code']}: {again['error']['message']}")

        self.title("The mappings now stored in Table Storage")
        for mapping in self.call("GET", "/mappings/resources")["mappings"]:
            print(f"    {mapping['booking_system_resource_id']:<12} ↔ "
                  f"{mapping['calendar_system']}:{mapping['calendar_resource_id']:<28} "
                  f"{mapping['sync_direction']}, {mapping['conflict_policy']}")

        self.title("Health of every bridge and of storage")
        health = self.call("GET", "/bridges/health")
        for name, report in health["bridges"].items():
            print(f"    {name:<16} {report['status']:<9} response {report['latency_ms']} ms"
                  f"  calendars {report['calendars_available']}")
        print(f"    storage          {health['storage']['status']}")
        print(f"    event links      {json.dumps(health['mappings'])}")


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="calbridge-demo-") as folder:
        stack = LocalStack(ports=Ports.free(), persistent=False, function_key=KEY,
                           workdir=Path(folder))
        print("Starting Azurite, the example booking system, the Graph emulator and the "
              "Functions host on 127.0.0.1 …")
        stack.start()
        try:
            Walkthrough(stack).run()
        finally:
            stack.stop()
    print("\nDone. `make serve` keeps this stack running so you can try the API yourself.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
