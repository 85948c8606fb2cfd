"""The status page's HTML, built with the standard library. Every value that comes from
storage, a calendar system or a request goes through `_e` (or `action_path`) before it is
written, so a booking titled `<script>` shows as text."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from calbridge.model import DeletionHold, End
from calbridge.services.dashboard import (
    ActivityHour,
    MappingRow,
    MappingSort,
    StatusView,
)

# The form token of an action path, for this session.
TokenFor = Callable[[str], str]

NOTICES = {
    "hold-confirmed": "The held deletions were carried out.",
    "hold-rejected": "The held deletions were rejected; the missing events are being restored.",
    "conflict-resolved": "The conflict was resolved.",
    "retried": "Pending and failed items were retried.",
    "subscription-renewed": "The subscription was renewed.",
}

_STYLE = """
body{font:15px/1.4 system-ui,sans-serif;margin:0;padding:0 .8rem 2rem;color:#1b1b1b;
background:#fafafa}
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:baseline;padding:.6rem 0}
h1{font-size:1.3rem;margin:0}h2{font-size:1.1rem;margin:1.4rem 0 .4rem}
.wrap{overflow-x:auto}table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #ddd;padding:.3rem .45rem;text-align:left;vertical-align:top}
th a{color:inherit}td.n{text-align:right;font-variant-numeric:tabular-nums}
.healthy{color:#17692b}.degraded,.expiring{color:#8a5a00}
.unhealthy,.failing,.expired,.bad{color:#b00020;font-weight:600}
.notice{background:#e7f4ea;border:1px solid #9cc9a6;padding:.5rem .7rem}
.attention{background:#fff4e5;border:1px solid #e2b66f;padding:.5rem .7rem;margin:.4rem 0}
.diff{background:#fff4e5}
form.inline{display:inline}button,.button{font:inherit;padding:.35rem .8rem;
border:1px solid #555;border-radius:4px;background:#fff;color:#1b1b1b;text-decoration:none;
display:inline-block;margin:.15rem 0;cursor:pointer}
button.danger{border-color:#b00020;color:#b00020}small,.muted{color:#666}
input[type=search],input[type=password],select{font:inherit;padding:.3rem}
svg{max-width:100%;height:auto;background:#fff}
"""

_REFRESH = ("setTimeout(function(){var a=document.activeElement;"
            "if(!document.hidden&&!(a&&a.tagName==='INPUT'))location.reload();},60000);")


def _e(value: Any) -> str:
    """Text for HTML content or a quoted attribute."""
    return escape("" if value is None else str(value), quote=True)


def action_path(*segments: str) -> str:
    """A path under /dashboard with each segment percent-encoded: links and form actions
    use it, and a form's token is bound to it."""
    return "/dashboard/" + "/".join(quote(s, safe="") for s in segments)


def _when(moment: datetime | date | str | None, now: datetime | None = None) -> str:
    if moment is None or moment == "":
        return "never"
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        except ValueError:
            return _e(moment)
    if not isinstance(moment, datetime):
        return _e(moment.isoformat())
    text = moment.strftime("%Y-%m-%d %H:%M UTC")
    if now is not None:
        minutes = int((now - moment).total_seconds() // 60)
        span = abs(minutes)
        amount = f"{span} min" if span < 120 else f"{span // 60} h"
        text += f" ({amount} ago)" if minutes >= 0 else f" (in {amount})"
    return _e(text)


def layout(title: str, body: str, nonce: str, *, refresh: bool = False) -> str:
    """A whole page: its style and script carry the response's CSP nonce."""
    script = f'<script nonce="{nonce}">{_REFRESH}</script>' if refresh else ""
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{_e(title)}</title><style nonce=\"{nonce}\">{_STYLE}</style></head>"
            f"<body>{body}{script}</body></html>")


def _form(action: str, token_for: TokenFor, label: str, *, danger: bool = False,
          fields: Iterable[tuple[str, str]] = ()) -> str:
    hidden = "".join(f'<input type="hidden" name="{_e(k)}" value="{_e(v)}">' for k, v in fields)
    css = ' class="danger"' if danger else ""
    return (f'<form class="inline" method="post" action="{_e(action)}">'
            f'<input type="hidden" name="csrf" value="{_e(token_for(action))}">{hidden}'
            f"<button{css}>{_e(label)}</button></form>")


def _table(head: list[str], rows: list[str], empty: str) -> str:
    if not rows:
        return f'<p class="muted">{_e(empty)}</p>'
    cells = "".join(f"<th>{h}</th>" for h in head)
    return f'<div class="wrap"><table><thead><tr>{cells}</tr></thead><tbody>' \
           f'{"".join(rows)}</tbody></table></div>'


def _status(value: str) -> str:
    return f'<span class="{_e(value)}">{_e(value)}</span>'


# ---------------------------------------------------------------------- the page

def dashboard(view: StatusView, rows: list[MappingRow], *, text: str, sort: MappingSort,
              descending: bool, notice: str | None, token_for: TokenFor, nonce: str,
              logged_in: bool) -> str:
    """The status page: what needs attention first, then each part's state."""
    now = view.generated_at
    logout = _form(action_path("logout"), token_for, "Log out") if logged_in else ""
    parts = [
        f"<header><h1>calbridge status</h1>{_status(view.status)}"
        f"<small>as of {_when(now)} · refreshes every minute</small>{logout}</header>",
        f'<p class="notice" role="status">{_e(NOTICES[notice])}</p>'
        if notice in NOTICES else "",
        _attention(view),
        "<h2>Bridges</h2>", _bridges(view, now),
        f"<h2>Mappings ({len(rows)} of {len(view.mappings)})</h2>",
        _mapping_filter(text, sort, descending), _mappings(rows, text, sort, descending, now),
        "<h2>Activity, last 24 hours</h2>", activity_svg(view.activity),
        "<h2>Queues</h2>", _queues(view, now),
        "<h2>Push subscriptions</h2>", _subscriptions(view, now),
        "<h2>Last failed operations</h2>", _failed(view, now),
    ]
    return layout("calbridge status", "".join(parts), nonce, refresh=True)


def _attention(view: StatusView) -> str:
    items = []
    if view.storage.get("status") != "healthy":
        items.append(f"Storage is unreachable: {_e(view.storage.get('error'))}")
    for held in view.holds:
        hold = held.hold
        more = len(hold.link_ids) - len(held.titles)
        titles = ", ".join(f"<q>{_e(t)}</q>" for t in held.titles) + (
            f" and {more} more" if more > 0 else "")
        items.append(
            f"Held mass deletion on <b>{_e(held.mapping)}</b>: {_e(hold.reason)} "
            f"<br><small>{titles}</small><br>"
            f'<a class="button" href="{_e(action_path("holds", hold.id, "confirm"))}">Confirm…</a> '
            f'<a class="button" href="{_e(action_path("holds", hold.id, "reject"))}">Reject…</a>')
    for link in view.conflicts:
        items.append(f"Conflict on <b>{_e(link.title or link.id)}</b> ({_e(link.last_error)}) "
                     f'<a class="button" href="{_e(action_path("conflicts", link.id))}">'
                     "Compare and resolve…</a>")
    for row in view.mappings:
        if row.problem:
            items.append(f"Mapping <b>{_e(row.label)}</b> cannot be synced: {_e(row.problem)}")
    if view.retryable:
        items.append(f"{view.retryable} item(s) pending or failed "
                     '<a class="button" href="/dashboard/retry">Retry now…</a>')
    if not items:
        return '<p class="healthy">Nothing needs attention.</p>'
    return "<h2>Needs attention</h2>" + "".join(
        f'<div class="attention">{item}</div>' for item in items)


def _bridges(view: StatusView, now: datetime) -> str:
    rows = [f"<tr><td>{_e(b.name)}</td><td>{_status(b.status)}</td>"
            f'<td class="n">{_e(b.latency_ms) if b.latency_ms is not None else "-"} ms</td>'
            f"<td>{_when(b.last_sync, now)}</td><td>{_e(b.error or '')}</td></tr>"
            for b in view.bridges]
    storage = view.storage
    rows.append(f"<tr><td>storage</td><td>{_status(storage.get('status', 'unknown'))}</td>"
                f'<td class="n">{_e(storage.get("latency_ms", "-"))} ms</td><td></td>'
                f"<td>{_e(storage.get('error') or '')}</td></tr>")
    return _table(["Bridge", "Status", "Latency", "Last sync", "Last error"], rows,
                  "No bridges configured.")


def _mapping_filter(text: str, sort: MappingSort, descending: bool) -> str:
    options = "".join(f'<option value="{s.value}"{" selected" if s is sort else ""}>'
                      f"{_e(s.value.replace('_', ' '))}</option>" for s in MappingSort)
    order = "".join(f'<option value="{o}"{" selected" if (o == "desc") == descending else ""}>'
                    f"{o}</option>" for o in ("asc", "desc"))
    return ('<form method="get" action="/dashboard">'
            f'<input type="search" name="q" value="{_e(text)}" placeholder="filter mappings" '
            'aria-label="filter mappings"> '
            f'<select name="sort" aria-label="sort by">{options}</select> '
            f'<select name="order" aria-label="order">{order}</select> '
            "<button>Apply</button></form>")


def _sort_link(label: str, column: MappingSort, text: str, sort: MappingSort,
               descending: bool) -> str:
    flip = not descending if column is sort else column is not MappingSort.NAME
    query = urlencode({"q": text, "sort": column.value, "order": "desc" if flip else "asc"})
    arrow = (" ▼" if descending else " ▲") if column is sort else ""
    return f'<a href="/dashboard?{_e(query)}">{_e(label)}{arrow}</a>'


def _end(end: Any) -> str:
    name = f" <small>{_e(end.name)}</small>" if end.name else ""
    return f"{_e(end.bridge)}: {_e(end.calendar_id)}{name}"


def _mappings(rows: list[MappingRow], text: str, sort: MappingSort, descending: bool,
              now: datetime) -> str:
    def head(label: str, column: MappingSort | None = None) -> str:
        return _sort_link(label, column, text, sort, descending) if column else _e(label)

    header = [head("A", MappingSort.NAME), head("B"), head("Direction"), head("Policy"),
              head("Last sync", MappingSort.LAST_SYNC), head("In step", MappingSort.IN_STEP),
              head("Pending", MappingSort.PENDING), head("Errors", MappingSort.ERRORS),
              head("Conflicts", MappingSort.CONFLICTS), head("Holds", MappingSort.HOLDS),
              head("State")]
    body = []
    for row in rows:
        state = (f'<span class="bad">{_e(row.problem)}</span>' if row.problem
                 else "active" if row.active else '<span class="muted">inactive</span>')
        numbers = "".join(
            f'<td class="n{" bad" if value and bad else ""}">{value}</td>'
            for value, bad in ((row.in_step, False), (row.pending, False), (row.errors, True),
                               (row.conflicts, True), (row.holds, True)))
        body.append(f'<tr data-mapping="{_e(row.id)}"><td>{_end(row.a)}</td>'
                    f"<td>{_end(row.b)}</td><td>{_e(row.direction.value)}</td>"
                    f"<td>{_e(row.conflict_policy.value)}</td>"
                    f"<td>{_when(row.last_sync, now)}</td>{numbers}<td>{state}</td></tr>")
    return _table(header, body, "No mapping matches." if text else "No mappings yet.")


def activity_svg(hours: list[ActivityHour]) -> str:
    """Bars of operations per hour, failed ones in red over them, drawn server-side."""
    width, height, left, bottom = 480, 140, 34, 20
    plot_h = height - bottom - 8
    top = max([h.operations for h in hours] + [1])
    slot = (width - left) / max(len(hours), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" '
             f'aria-label="operations and failures per hour over the last 24 hours">',
             f'<text x="2" y="14" font-size="10" fill="#666">{top}</text>',
             f'<text x="2" y="{height - bottom}" font-size="10" fill="#666">0</text>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" '
             'stroke="#999"/>']
    for n, hour in enumerate(hours):
        x = left + n * slot + 1
        for value, colour in ((hour.operations, "#4a78b5"), (hour.failed, "#b00020")):
            if value:
                bar = max(1.0, plot_h * value / top)
                parts.append(f'<rect x="{x:.1f}" y="{height - bottom - bar:.1f}" '
                             f'width="{slot - 2:.1f}" height="{bar:.1f}" fill="{colour}">'
                             f"<title>{_e(hour.start.strftime('%H:00'))}: {hour.operations} "
                             f"operations, {hour.failed} failed</title></rect>")
        if n % 6 == 0:
            parts.append(f'<text x="{x:.1f}" y="{height - 6}" font-size="10" fill="#666">'
                         f"{_e(hour.start.strftime('%H:00'))}</text>")
    total = sum(h.operations for h in hours)
    failed = sum(h.failed for h in hours)
    parts.append("</svg>")
    return "".join(parts) + f"<p><small>{total} operations, {failed} failed " \
                            "(blue: operations, red: failed; UTC hours)</small></p>"


def _queues(view: StatusView, now: datetime) -> str:
    rows = []
    for q in view.queues:
        # A message in a poison queue was given up on: it needs an operator.
        css = "n bad" if q.depth and q.name.endswith("-poison") else "n"
        rows.append(f'<tr><td>{_e(q.name)}</td><td class="{css}">{q.depth}</td>'
                    f"<td>{_when(q.oldest_waiting, now) if q.depth else '-'}</td></tr>")
    return _table(["Queue", "Waiting", "Oldest waiting since"], rows, "Queues not read.")


def _subscriptions(view: StatusView, now: datetime) -> str:
    rows = [f"<tr><td>{_e(s['bridge'])}</td><td>{_e(s['calendar_id'])}</td>"
            f"<td>{_status(s['status'])}</td><td>{_when(s['expires_at'], now)} "
            f"<small>({s['minutes_left']} min left)</small></td>"
            f"<td>{_e(s.get('last_error') or '')}</td>"
            f'<td><a class="button" href="{_e(action_path("subscriptions", s["id"], "renew"))}">'
            "Renew…</a></td></tr>" for s in view.subscriptions]
    return _table(["Bridge", "Calendar", "Status", "Expires", "Last error", ""], rows,
                  "No push subscriptions: changes are found by polling.")


def _failed(view: StatusView, now: datetime) -> str:
    rows = [f"<tr><td>{_when(op.at, now)}</td><td>{_e(op.operation)}</td>"
            f"<td>{_e(op.source_system)} → {_e(op.target_system)}</td>"
            f"<td><small>{_e(op.mapping_id or '')}</small></td>"
            f'<td class="bad">{_e(op.error or "")}</td></tr>' for op in view.failed]
    return _table(["When", "Operation", "Direction", "Mapping", "Reason"], rows,
                  "No failed operations.")


# ---------------------------------------------------------------------- confirm steps

def confirm_page(title: str, explanation: str, action: str, button: str,
                 token_for: TokenFor, nonce: str, *, danger: bool = False) -> str:
    """One action to confirm: what it does, a button that does it, a way back."""
    body = (f"<header><h1>{_e(title)}</h1></header>{explanation}"
            f"<p>{_form(action, token_for, button, danger=danger)} "
            '<a class="button" href="/dashboard">Cancel</a></p>')
    return layout(title, body, nonce)


def hold_explanation(hold: DeletionHold, mapping: str, titles: list[str],
                     confirm: bool) -> str:
    what = ("Confirming carries out every deletion this hold collected, on the other "
            "calendar too." if confirm else
            "Rejecting drops these deletions and restores the missing events from their "
            "copies.")
    more = len(hold.link_ids) - len(titles)
    items = "".join(f"<li>{_e(t)}</li>" for t in titles)
    rest = f"<li>… and {more} more</li>" if more > 0 else ""
    return (f"<p>Mapping <b>{_e(mapping)}</b>: {_e(hold.reason)}</p>"
            f"<p>Held since {_when(hold.created_at)}; deletions seen at end "
            f"{_e(hold.source.value)}. {what}</p><ul>{items}{rest}</ul>")


def subscription_explanation(shown: dict[str, Any]) -> str:
    return (f"<p>{_e(shown['bridge'])} subscription on <b>{_e(shown['calendar_id'])}</b>, "
            f"{_e(shown['status'])}, expires {_when(shown['expires_at'])} "
            f"({shown['minutes_left']} min left). Renewing extends it now.</p>")


def conflict_page(conflict: dict[str, Any], action: str, token_for: TokenFor,
                  nonce: str) -> str:
    """Both versions field by field, and a choice of the side that wins."""
    versions = conflict["versions"]
    fields = ["system", "id", "title", "start", "end", "location", "last_modified"]
    rows = []
    for name in fields:
        values = [(versions.get(end.value) or {}).get(name) for end in End]
        css = ' class="diff"' if name not in ("system", "id") and values[0] != values[1] else ""
        rows.append(f"<tr{css}><th>{_e(name)}</th>"
                    + "".join(f"<td>{_e(v if v is not None else '')}</td>" for v in values)
                    + "</tr>")
    for end in End:
        version = versions.get(end.value)
        if version is None or "error" in (version or {}):
            rows.append(f"<tr><th>{_e(end.value)}</th><td colspan=\"2\" class=\"bad\">"
                        f"{_e((version or {}).get('error', 'event not found'))}</td></tr>")
    choices = " ".join(_form(action, token_for, f"Keep end {end.value}'s version",
                             fields=[("winner", end.value)]) for end in End)
    body = (f"<header><h1>Resolve a conflict</h1></header>"
            f"<p><b>{_e(conflict.get('title') or conflict['id'])}</b> changed at both ends "
            f"(fields: {_e(conflict.get('fields') or 'unknown')}). The version you keep is "
            "written over the other end.</p>"
            + _table(["Field", "End a", "End b"], rows, "")
            + f"<p>{choices} <a class=\"button\" href=\"/dashboard\">Cancel</a></p>")
    return layout("Resolve a conflict", body, nonce)


# ---------------------------------------------------------------------- log-in, errors

def login_page(message: str | None, nonce: str) -> str:
    note = f'<p class="bad">{_e(message)}</p>' if message else ""
    body = ("<header><h1>calbridge status</h1></header>" + note +
            '<form method="post" action="/dashboard/login">'
            '<p><label>Operator key <input type="password" name="key" '
            'autocomplete="current-password" required></label></p>'
            "<p><button>Log in</button></p></form>")
    return layout("Log in · calbridge status", body, nonce)


def error_page(status: int, message: str, nonce: str) -> str:
    body = (f"<header><h1>{status}</h1></header><p class=\"bad\">{_e(message)}</p>"
            '<p><a class="button" href="/dashboard">Back to the status page</a></p>')
    return layout(f"{status} · calbridge status", body, nonce)
