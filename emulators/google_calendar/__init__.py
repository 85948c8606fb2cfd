"""A local Google Calendar API v3 emulator (HTTPS on 127.0.0.1, its own CA) with Google's
OAuth 2.0 token endpoint for service accounts and refresh tokens. It imports nothing from
calbridge. README.md beside this file lists what it emulates and the docs it follows.

Public Python API::

    from emulators.google_calendar import GoogleCalendarEmulator

    emu = GoogleCalendarEmulator(host="127.0.0.1", port=0, cert_dir=None, seed=None,
                                 state_file=None, token_path="/token")
    emu.start()                       # returns when serving
    emu.base_url                      # https://127.0.0.1:PORT  (www.googleapis.com)
    emu.api_url                       # base_url + "/calendar/v3"
    emu.directory_url                 # base_url + "/admin/directory/v1" (rooms)
    emu.token_uri                     # base_url + token_path   (oauth2.googleapis.com/token)
    emu.ca_path                       # the emulator's CA certificate (trust it; keep TLS on)
    emu.service_account_email         # the seeded service account (domain-wide delegation)
    emu.write_service_account_key(p)  # a key file for Credentials.from_service_account_file
    emu.service_account_info()        # the same as a dict (from_service_account_info)
    emu.oauth_client_id, emu.oauth_client_secret, emu.refresh_token_for("alex@example.org")
    emu.issue_token(subject=None, scopes=None)   # a bearer token without the OAuth dance
    emu.reset()                       # back to the seed (events, channels, tokens, faults)
    emu.expire_sync_tokens()          # every sync token → 410 fullSyncRequired
    emu.expire_channels()             # every push channel ends now
    emu.add_fault({...}), emu.request_counts(), emu.delete_calendar(calendar_id)
    emu.describe()                    # base_url, api_url, token_uri, ca_path, accounts
    emu.stop()

The same admin operations are served over HTTP under `/_admin` (see README.md).
"""

from __future__ import annotations

from .seed import CALENDAR_SCOPE, DEFAULT_SEED, ROOMS_SCOPE, SERVICE_ACCOUNT, load_seed
from .server import GoogleCalendarEmulator

__all__ = ["CALENDAR_SCOPE", "DEFAULT_SEED", "ROOMS_SCOPE", "SERVICE_ACCOUNT",
           "GoogleCalendarEmulator", "load_seed"]
