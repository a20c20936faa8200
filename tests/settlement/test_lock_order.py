"""Completion against a registry event on the same person and household, on the real
PostgreSQL: both lock persons first, then households, so one waits and neither deadlocks."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from population.codes import Relation
from population.errors import Conflict
from population.identity import build_citizen_id
from registry import services as registry
from registry.models import EventKind, Membership, RegistrationEvent
from residence_permit import services as permits
from residence_permit.models import PermitEvent, PermitEventKind, PermitStatus
from settlement import services
from settlement.models import Application, Status
from settlement.services import workflow

from ..registry.test_concurrency import backend_pid, run_at_once, wait_until_blocked
from .conftest import ON

pytestmark = pytest.mark.django_db(transaction=True)

PROPERTY = {"owner": "applicant", "use": "residential", "area_m2": 90, "registered": True}
HOME = {"residence_region_code": "441803104", "properties": [PROPERTY]}
SETTLED_ON = dt.date(2024, 3, 8)
CHILD_ID = build_citizen_id("441802", dt.date(2015, 6, 1), 31)


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


def _complete_while(app, officers, monkeypatch, other):
    """Complete ``app``; once the applicant is settled (before the fix the completion then held
    the household while the next person was still to lock), run ``other()`` in a second thread
    on its own connection and let it run into the completion's locks before the completion goes
    on. Returns the completion's and ``other``'s result (or exception), and whether ``other``
    waited for a lock."""
    other_pid: list[int] = []
    pid_known = threading.Event()
    applicant_settled = threading.Event()
    other_waited: list[bool] = []
    settled: list[int] = []
    cancel = workflow.permit_cancel_on_settlement

    def cancel_then_let_the_other_in(*, person, **kwargs):
        result = cancel(person=person, **kwargs)
        settled.append(person.pk)
        if len(settled) == 1:
            assert pid_known.wait(30)
            applicant_settled.set()
            other_waited.append(wait_until_blocked(other_pid[0]))
        return result

    monkeypatch.setattr(workflow, "permit_cancel_on_settlement", cancel_then_let_the_other_in)

    def complete() -> Application:
        return services.application_complete(
            application=Application.objects.get(pk=app.pk),
            actor=officers["officer"],
            on=SETTLED_ON,
        )

    def run_other():
        other_pid.append(backend_pid())
        pid_known.set()
        assert applicant_settled.wait(30)
        return other()

    completed, result = run_at_once(2, lambda i: (complete, run_other)[i]())
    return completed, result, other_waited == [True]


@pytest.fixture
def family_application(qy_current, officers, family_household, permit_holder):
    """Applicant and spouse hold residence permits; the child is new; the permit is issued."""
    applicant_permit = permit_holder()
    spouse_permit = permit_holder(name="王芳", born=dt.date(1991, 5, 5), male=False)
    spouse = spouse_permit.person
    app = _permit_issued(
        qy_current,
        officers,
        family_household,
        applicant_permit.person,
        [
            {"citizen_id": spouse.citizen_id, "name": "王芳", "kind": "spouse", "relation": "10"},
            {"citizen_id": CHILD_ID, "name": "李小", "kind": "unmarried_child", "relation": "20"},
        ],
    )
    return app, applicant_permit, spouse_permit


def test_completion_and_a_registry_event_on_its_second_member_and_household_both_finish(
    family_application, officers, family_household, monkeypatch
):
    """The completion settles the applicant, then the spouse; meanwhile a relation correction of
    the spouse in that household starts. Before the fix the correction held the spouse and
    waited for the household while the completion held the household and waited for the
    spouse: PostgreSQL's deadlock detector killed one."""
    app, applicant_permit, spouse_permit = family_application
    applicant, spouse = applicant_permit.person, spouse_permit.person

    completed, corrected, waited = _complete_while(
        app,
        officers,
        monkeypatch,
        lambda: registry.relation_correct(
            person=spouse,
            household=family_household,
            relation=Relation.WIFE,
            document_type="结婚证",
            document_number="J440000-2016-001",
            on=SETTLED_ON,
            actor=officers["officer"],
            reason="配偶关系细化为妻",
        ),
    )

    # Both finished, neither was chosen as a deadlock victim; the event waited for the completion.
    assert isinstance(completed, Application), completed
    assert isinstance(corrected, RegistrationEvent), corrected
    assert waited
    # The end state is the completion's, then the correction's on top of it.
    completed.refresh_from_db()
    assert (completed.status, completed.completed_on) == (Status.COMPLETED, SETTLED_ON)
    assert completed.person_id == applicant.pk
    open_here = Membership.objects.filter(household=family_household, end_date__isnull=True)
    assert sorted(open_here.values_list("person__citizen_id", "relation")) == sorted(
        [(applicant.citizen_id, "02"), (spouse.citizen_id, "12"), (CHILD_ID, "20")]
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


def test_completion_and_an_endorsement_of_the_second_members_permit_both_finish(
    family_application, officers, monkeypatch
):
    """The completion cancels each member's residence permit after locking the person; a permit
    service locks the holder before the permit. Before, it locked the permit first: holding
    the spouse's permit it waited for the spouse, whom the completion held while waiting for
    that permit."""
    app, applicant_permit, spouse_permit = family_application

    completed, endorsed, waited = _complete_while(
        app,
        officers,
        monkeypatch,
        lambda: permits.permit_endorse(
            permit=spouse_permit, actor=officers["officer"], on=dt.date(2025, 2, 20)
        ),
    )

    assert isinstance(completed, Application), completed
    assert waited
    # The endorsement came second and found the permit cancelled by the settlement: told so.
    assert isinstance(endorsed, Conflict), endorsed
    assert endorsed.code == "bad_transition" and "注销" in endorsed.message_zh
    completed.refresh_from_db()
    assert completed.status == Status.COMPLETED
    for permit in (applicant_permit, spouse_permit):
        permit.refresh_from_db()
        assert permit.status == PermitStatus.CANCELLED
    assert not PermitEvent.objects.filter(
        permit=spouse_permit, kind__in=[PermitEventKind.ENDORSE, PermitEventKind.ENDORSE_LATE]
    ).exists()
