"""Writes of the residence-permit app: registration, applications, permits. Every write here.

Each action is one transaction: lock the row it changes, check the guards (the FSM transition
among them), change it with ``update_fields``, append a ``PermitEvent``. A refusal raises a
``DomainError`` before anything is written, or rolls the transaction back. The person's actual
residence region is kept through ``population.services.person_update``.
"""

from __future__ import annotations

from residence_permit.services._common import CHANGE_KIND_OF_EVENT, CHANGE_KINDS
from residence_permit.services.applications import (
    permit_application_reject,
    permit_application_submit,
    permit_application_withdraw,
    permit_issue,
    permit_number_allocate,
)
from residence_permit.services.daily import permit_remind, permits_daily_run
from residence_permit.services.facts import person_fact_record, person_fact_retract
from residence_permit.services.merge import MERGE_KEPT_REFERENCES, permit_merge_guard
from residence_permit.services.permits import (
    permit_cancel_on_death,
    permit_cancel_on_leaving,
    permit_cancel_on_settlement,
    permit_change_address,
    permit_endorse,
    permit_expire,
    permit_lapse,
    permit_reissue,
    permit_renew,
)
from residence_permit.services.registration import (
    residence_registration_create,
    residence_registration_end,
)

__all__ = [
    "CHANGE_KINDS",
    "CHANGE_KIND_OF_EVENT",
    "MERGE_KEPT_REFERENCES",
    "permit_application_reject",
    "permit_application_submit",
    "permit_application_withdraw",
    "permit_cancel_on_death",
    "permit_cancel_on_leaving",
    "permit_cancel_on_settlement",
    "permit_change_address",
    "permit_endorse",
    "permit_expire",
    "permit_issue",
    "permit_lapse",
    "permit_merge_guard",
    "permit_number_allocate",
    "permit_reissue",
    "permit_remind",
    "permit_renew",
    "permits_daily_run",
    "person_fact_record",
    "person_fact_retract",
    "residence_registration_create",
    "residence_registration_end",
]
