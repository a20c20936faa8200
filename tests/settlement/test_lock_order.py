"""Completion against a registry event on the same person and household, on the real
PostgreSQL: both lock persons first, then households, so one waits and neither deadlocks."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from population.codes import Relation
from population.identity import build_citizen_id
from registry import services as registry
from registry.models import EventKind, Membership, RegistrationEvent
from residence_permit.models import PermitStatus
from settlement import services
from settlement.models import Application, Status

from ..registry.test_concurrency import backend_pid, run_at_once, wait_until_blocked
from .conftest import ON

pytestmark = pytest.mark.django_db(transaction=True)

HOME = {"residence_zone": "town", "owns_residential_home": True, "property_certificate": True}
SETTLED_ON = dt.date(2024, 3, 8)


def _permit_issued(qy_current, officers, household, applicant, members):
    app = services.application_create(
        city_code="441800",
        on=ON,
        channel="home_purchase",
        target="residence",
        citizen_id=applicant.citizen_id,
        name=applicant.name,
        evidence=HOME,
        members=members,
        actor=None,
    )
    app = services.application_submit(application=app, actor=None, on=ON)
    app = services.application_accept(application=app, actor=officers["officer"], on=ON)
    app = services.application_review_start(application=app, actor=officers["officer"], on=ON)
    app = services.application_approve(application=app, actor=officers["chief"], on=ON)
    return services.application_issue_permit(
        application=app, household=household, actor=officers["chief"], on=ON
    )


def test_completion_and_a_registry_event_on_its_second_member_and_household_both_finish(
    qy_current, officers, family_household, permit_holder, monkeypatch
):
    """The completion settles the applicant, then (before the fix, holding the household) the
    spouse; meanwhile a relation correction of the spouse in that household starts. Before the
    fix the correction held the spouse and waited for the household while the completion held
    the household and waited for the spouse: PostgreSQL's deadlock detector killed one."""
    applicant_permit = permit_holder()
    spouse_permit = permit_holder(name="王芳", born=dt.date(1991, 5, 5), male=False)
    applicant, spouse = applicant_permit.person, spouse_permit.person
    child_id = build_citizen_id("441802", dt.date(2015, 6, 1), 31)
    app = _permit_issued(
        qy_current,
        officers,
        family_household,
        applicant,
        [
            {"citizen_id": spouse.citizen_id, "name": "王芳", "kind": "spouse", "relation": "10"},
            {"citizen_id": child_id, "name": "李小", "kind": "unmarried_child", "relation": "20"},
        ],
    )

    event_pid: list[int] = []
    pid_known = threading.Event()
    applicant_settled = threading.Event()
    event_waited: list[bool] = []
    settled: list[int] = []
    cancel = services.permit_cancel_on_settlement

    def cancel_then_let_the_event_in(*, person, **kwargs):
        """After the applicant (the first settled): start the event and let it run into the
        completion's locks before the completion goes on to the spouse."""
        result = cancel(person=person, **kwargs)
        settled.append(person.pk)
        if len(settled) == 1:
            assert pid_known.wait(30)
            applicant_settled.set()
            event_waited.append(wait_until_blocked(event_pid[0]))
        return result

    monkeypatch.setattr(services, "permit_cancel_on_settlement", cancel_then_let_the_event_in)

    def complete() -> Application:
        return services.application_complete(
            application=Application.objects.get(pk=app.pk),
            actor=officers["officer"],
            on=SETTLED_ON,
        )

    def correct_the_spouse() -> RegistrationEvent:
        event_pid.append(backend_pid())
        pid_known.set()
        assert applicant_settled.wait(30)
        return registry.relation_correct(
            person=spouse,
            household=family_household,
            relation=Relation.WIFE,
            document_type="结婚证",
            document_number="J440000-2016-001",
            on=SETTLED_ON,
            actor=officers["officer"],
            reason="配偶关系细化为妻",
        )

    completed, corrected = run_at_once(2, lambda i: (complete, correct_the_spouse)[i]())

    # Both finished, neither was chosen as a deadlock victim; the event waited for the completion.
    assert isinstance(completed, Application), completed
    assert isinstance(corrected, RegistrationEvent), corrected
    assert event_waited == [True]
    assert settled[0] == applicant.pk and spouse.pk in settled
    # The end state is the completion's, then the correction's on top of it.
    completed.refresh_from_db()
    assert (completed.status, completed.completed_on) == (Status.COMPLETED, SETTLED_ON)
    open_here = Membership.objects.filter(household=family_household, end_date__isnull=True)
    assert sorted(open_here.values_list("person__citizen_id", "relation")) == sorted(
        [(applicant.citizen_id, "02"), (spouse.citizen_id, "12"), (child_id, "20")]
    )
    assert Membership.objects.filter(person=spouse).count() == 1
    move_ins = RegistrationEvent.objects.filter(document_number=completed.permit_number)
    assert move_ins.count() == 3
    correction = RegistrationEvent.objects.get(kind=EventKind.CORRECTION)
    assert correction.pk > max(move_ins.values_list("pk", flat=True))
    assert (correction.person_id, correction.details) == (
        spouse.pk,
        {"field": "relation", "old": "10", "new": "12"},
    )
    for permit in (applicant_permit, spouse_permit):
        permit.refresh_from_db()
        assert permit.status == PermitStatus.CANCELLED
