"""Topic names and partition counts, declared once (contract: Kafka). Keys are UTF-8 strings."""
from __future__ import annotations

from typing import Iterable

REPORTS = "accidents.reported"
REJECTED = "accidents.rejected"
INCIDENTS = "incidents"
ORDERS = "dispatch.orders"
FUND_CASES = "fund.cases"
CLAIMS_EVENTS = "claims.events"
BILLS = "hospitals.bills"          # extension: a hospital recorded a rescue-cost bill (fund and claims split it)
QUICK_EVENTS = "claims.quick"      # extension: quick-handling case changes (parties' confirmations, outcome)
# internal: the intake's re-keying of reports by area (key: the area), and the incidents' facts with their
# reports, personal data included, for the pipelines' own copies (key: incident id)
BY_AREA = "intake.reports-by-area"
FACTS = "intake.incident-facts"

PARTITIONS = {
    REPORTS: 6, REJECTED: 3, INCIDENTS: 6, ORDERS: 6, FUND_CASES: 3, CLAIMS_EVENTS: 3, BILLS: 3, QUICK_EVENTS: 3,
    BY_AREA: 6, FACTS: 6,
}

# The intake stage and the pipelines, each its own consumer group (contract: each consumes on its own).
PIPELINES = ("dispatch", "rescue-fund", "claims")
GROUPS = ("intake", *PIPELINES, "hospitals")


def insurer_topic(code: str) -> str:
    """Each insurer's own topic (its connector): a slow or failing insurer's consumer delays no one else."""
    return f"claims.insurer.{code.upper()}"


def declared(insurer_codes: "Iterable[str]" = (), prefix: str = "") -> dict[str, int]:
    """Every topic the platform writes or reads, with its partitions: the contract's, our extensions,
    and one ``claims.insurer.<CODE>`` per known insurer (its own connector topic); names prefixed."""
    return {prefix + t: n for t, n in {**PARTITIONS, **{insurer_topic(code): 1 for code in insurer_codes}}.items()}
