"""The guide's results block of a large run: every count over all its operations, the
rows an operator has to look at always among those listed."""

from __future__ import annotations

from calbridge.cli.results import totals
from calbridge.cli.sync import Run, report
from calbridge.functions.answers import DeletionResults, GuideResults
from calbridge.functions.results import (
    OPERATIONS_SHOWN,
    deletion_results,
    guide_results,
    results_block,
)
from calbridge.model import OperationKind
from calbridge.services.guide import GuideReport
from calbridge.services.sync import RunReport
from calbridge.sync.outcome import Outcome, OutcomeStatus


def outcome(n: int, status: OutcomeStatus) -> Outcome:
    return Outcome(OperationKind.CREATE, status, "new in outlook", "outlook",
                   "booking_system", f"event-{n}", title=f"Meeting {n}")


def test_a_run_of_few_operations_lists_them_all() -> None:
    block = results_block([outcome(n, OutcomeStatus.COMPLETED) for n in range(3)])
    assert [op["title"] for op in block["operations"]] == ["Meeting 0", "Meeting 1", "Meeting 2"]
    assert block["operations_omitted"] == 0


def test_a_large_run_lists_a_thousand_rows_its_failures_among_them() -> None:
    total = OPERATIONS_SHOWN + 1500
    troubled = {1200: OutcomeStatus.FAILED, 1800: OutcomeStatus.CONFLICT,
                2400: OutcomeStatus.WAITING}
    outcomes = [outcome(n, troubled.get(n, OutcomeStatus.COMPLETED)) for n in range(total)]
    block = results_block(outcomes)

    rows = block["operations"]
    assert len(rows) == OPERATIONS_SHOWN
    assert block["operations_omitted"] == total - OPERATIONS_SHOWN
    # The troubled ones are listed, the rest from the start, in the run's order.
    titles = [row["title"] for row in rows]
    assert titles == [f"Meeting {n}" for n in range(OPERATIONS_SHOWN - 3)] + [
        "Meeting 1200", "Meeting 1800", "Meeting 2400"]
    assert [row["status"] for row in rows[-3:]] == ["failed", "conflict", "waiting"]
    # Every count is of the whole run.
    assert (block["processed"], block["successful"], block["created"], block["errors"],
            block["conflicts"], block["waiting"]) == (total - 1, total - 3, total - 3, 1, 1, 1)


def test_the_writes_of_a_large_run_are_listed_before_what_it_skipped() -> None:
    # A run after a crash: the calendar read again whole, most of it already in step,
    # the few events still to book at the end of the listing.
    outcomes = [outcome(n, OutcomeStatus.SKIPPED) for n in range(OPERATIONS_SHOWN + 100)]
    outcomes += [outcome(n, OutcomeStatus.COMPLETED) for n in range(30)]
    block = results_block(outcomes)
    rows = block["operations"]
    assert len(rows) == OPERATIONS_SHOWN
    assert [row["status"] for row in rows].count("completed") == 30
    assert rows[-30:] == [o.as_dict() for o in outcomes[-30:]]
    assert (block["skipped"], block["created"], block["operations_omitted"]) == (
        OPERATIONS_SHOWN + 100, 30, 130)


def test_the_command_line_says_how_many_operations_the_answer_left_out() -> None:
    outcomes = [outcome(n, OutcomeStatus.COMPLETED) for n in range(OPERATIONS_SHOWN + 20)]
    block = results_block(outcomes)
    runs = [Run("room_101", block)]
    text = report("outlook", "booking_system", runs, totals([block]), dry_run=False)
    assert "20 more operations not listed in the answer" in text
    assert "GET /bridge/completed" in text
    few = results_block(outcomes[:5])
    assert "not listed" not in report("outlook", "booking_system", [Run("room_101", few)],
                                      totals([few]), dry_run=False)


def test_the_guides_details_list_a_thousand_writes_its_failures_among_them() -> None:
    total = OPERATIONS_SHOWN + 250
    outcomes = [outcome(n, OutcomeStatus.FAILED if n == total - 1 else OutcomeStatus.COMPLETED)
                for n in range(total)]
    outcomes += [outcome(total + n, OutcomeStatus.SKIPPED) for n in range(40)]
    block = guide_results(GuideReport(RunReport(outcomes), {}))
    GuideResults.model_validate(block)  # the documented answer
    assert len(block["details"]) == OPERATIONS_SHOWN
    assert block["details_omitted"] == 250  # writes only: skipped ones are never details
    assert block["details"][-1]["action"] == "failed"
    assert (block["created"], block["errors"]) == (total - 1, 1)


def deletion(n: int, status: OutcomeStatus, kind: OperationKind = OperationKind.DELETE
             ) -> Outcome:
    return Outcome(kind, status, "deleted in booking_system", "booking_system", "outlook",
                   f"booking-{n}", target_id=f"event-{n}", title=f"Booking {n}")


def test_a_large_deletion_answer_lists_a_thousand_rows_of_each_list() -> None:
    cancelled = OPERATIONS_SHOWN + 300
    outcomes = [deletion(n, OutcomeStatus.COMPLETED) for n in range(cancelled)]
    outcomes.append(deletion(cancelled, OutcomeStatus.FAILED))
    outcomes += [deletion(cancelled + 1 + n, OutcomeStatus.COMPLETED, OperationKind.CREATE)
                 for n in range(5)]
    block = deletion_results(RunReport(outcomes), ["outlook"])
    DeletionResults.model_validate(block)
    assert (len(block["cancelled_events"]), block["cancelled_events_omitted"]) == (
        OPERATIONS_SHOWN, 300)
    assert (len(block["reenabled_events"]), block["reenabled_events_omitted"]) == (5, 0)
    assert len(block["bridge_operations"]) == OPERATIONS_SHOWN
    assert block["bridge_operations_omitted"] == cancelled + 1 + 5 - OPERATIONS_SHOWN
    assert "failed" in [row["status"] for row in block["bridge_operations"]]
    # Counts are of the whole run.
    assert (block["processed_deletions"], block["outlook_deletions"], block["errors"]) == (
        cancelled, cancelled, 1)
