"""Settlement (落户) services: the pre-check, applications and their workflow.

Every status change locks the application row, checks the transition is still allowed, and
appends an ``ApplicationTransition``; two officers acting at once: the second waits for the
first's lock, then gets a clear error. Completing runs the registry move-in for the applicant
and every accompanying member and cancels their residence permits in one transaction.
"""

from __future__ import annotations

from settlement.services._common import (
    RELATION_ZH,
    TARGET_KINDS,
    TARGET_ZH,
    RelationError,
    household_head_name,
)
from settlement.services.eligibility import (
    POPBASE,
    VERDICT_ZH,
    application_eligibility,
    channel_evaluate,
    facts_on_file,
    ruleset_evaluate,
    settlement_precheck,
    window_precheck,
)
from settlement.services.intake import application_create, application_window_open
from settlement.services.merge import MERGE_KEPT_REFERENCES, settlement_merge_guard
from settlement.services.workflow import (
    application_accept,
    application_approve,
    application_complete,
    application_expire,
    application_issue_permit,
    application_reject,
    application_return,
    application_review_start,
    application_submit,
    application_withdraw,
    permits_expire_due,
)

__all__ = [
    "MERGE_KEPT_REFERENCES",
    "POPBASE",
    "RELATION_ZH",
    "TARGET_KINDS",
    "TARGET_ZH",
    "VERDICT_ZH",
    "RelationError",
    "application_accept",
    "application_approve",
    "application_complete",
    "application_create",
    "application_eligibility",
    "application_expire",
    "application_issue_permit",
    "application_reject",
    "application_return",
    "application_review_start",
    "application_submit",
    "application_window_open",
    "application_withdraw",
    "channel_evaluate",
    "facts_on_file",
    "household_head_name",
    "permits_expire_due",
    "ruleset_evaluate",
    "settlement_merge_guard",
    "settlement_precheck",
    "window_precheck",
]
