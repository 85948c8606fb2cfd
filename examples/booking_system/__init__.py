"""An example municipal room-booking system implementing the REST contract calbridge uses.

Run it with ``python -m examples.booking_system`` or embed it in tests::

    srv = BookingSystemServer(port=0, api_key="dev-key").start()
    ...
    srv.stop()
"""

from __future__ import annotations

from .server import BookingSystemServer
from .webhooks import sign, sign_delivery, verify_signature

__all__ = ["BookingSystemServer", "sign", "sign_delivery", "verify_signature"]
