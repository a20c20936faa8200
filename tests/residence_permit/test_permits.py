"""Permits: issuance, numbers, endorsement window, lapse, renewal, address, reissue, cancel."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.db import ProgrammingError, connection, transaction

from population.errors import DomainError
from residence_permit import rules, selectors, services
from residence_permit.models import (
    PERMIT_TRANSITIONS,
    ApplicationStatus,
    PermitApplication,
    PermitEvent,
    PermitEventKind,
    PermitStatus,
    ResidencePermit,
    ResidenceRegistration,
)

pytestmark = pytest.mark.django_db


def state(permit: ResidencePermit) -> tuple:
    """Everything a refusal must leave as it was."""
    row = ResidencePermit.objects.filter(pk=permit.pk).values().get()
    return (
        row,
        list(PermitEvent.objects.filter(permit=permit).values_list("kind", "on", "number")),
        list(ResidenceRegistration.objects.order_by("pk").values_list("pk", "end_date")),
        list(PermitApplication.objects.order_by("pk").values_list("pk", "status")),
    )


def test_issue_gives_a_documented_number_validity_and_first_anniversary(holder):
    permit = holder()
    assert permit.number == rules.permit_number_format("441802", 2024, 1) == "44180220240000011"
    assert rules.permit_number_is_valid(permit.number)
    assert (permit.issue_date, permit.valid_until, permit.next_endorsement_due) == (
        dt.date(2024, 2, 29),
        dt.date(2027, 2, 28),
        dt.date(2025, 2, 28),
    )
    assert permit.application.status == ApplicationStatus.ISSUED
    assert permit.application.eligibility["eligible"] is True
    assert list(permit.log.values_list("kind", flat=True)) == [PermitEventKind.ISSUE]


def test_the_check_character_catches_a_mistyped_digit():
    number = rules.permit_number_format("441802", 2024, 1)
    assert rules.permit_number_is_valid(number)
    assert not rules.permit_number_is_valid(number[:10] + "9" + number[11:])
    assert not rules.permit_number_is_valid(number[:-1])


def test_an_ineligible_application_cannot_be_issued_and_nothing_changes(resident):
    person = resident(since=dt.date(2024, 1, 31))
    app = services.permit_application_submit(person=person, actor=None, on=dt.date(2024, 7, 30))
    assert app.eligibility["eligible"] is False
    before = list(PermitApplication.objects.values_list("status", "decided_at"))
    with pytest.raises(DomainError) as exc:
        services.permit_issue(application=app, actor=None, on=dt.date(2024, 7, 30))
    assert exc.value.code == "not_eligible"
    assert "居住登记满六个月" in exc.value.message_zh
    assert list(PermitApplication.objects.values_list("status", "decided_at")) == before
    assert ResidencePermit.objects.count() == 0
    # The next day the six months are complete.
    permit = services.permit_issue(application=app, actor=None, on=dt.date(2024, 7, 31))
    assert permit.status == PermitStatus.ACTIVE


# -- endorsement ----------------------------------------------------------------------------


def test_endorsement_on_the_last_day_of_the_window_is_on_time(holder):
    permit = holder()  # anniversary 28 Feb 2025 (issued 29 Feb 2024)
    permit = services.permit_endorse(permit=permit, actor=None, on=dt.date(2025, 2, 28))
    assert (permit.status, permit.next_endorsement_due, permit.continuous_since) == (
        PermitStatus.ACTIVE,
        dt.date(2026, 2, 28),
        dt.date(2023, 8, 31),
    )
    assert permit.log.last().kind == PermitEventKind.ENDORSE


def test_endorsement_the_day_after_the_window_is_late_but_continuous_in_the_grace(holder):
    permit = holder()
    permit = services.permit_endorse(permit=permit, actor=None, on=dt.date(2025, 3, 1))
    assert (permit.status, permit.next_endorsement_due, permit.continuous_since) == (
        PermitStatus.ACTIVE,
        dt.date(2026, 2, 28),
        dt.date(2023, 8, 31),
    )
    assert permit.log.last().kind == PermitEventKind.ENDORSE_LATE


def test_endorsement_before_the_window_is_refused_and_changes_nothing(holder):
    permit = holder()
    first, last = rules.endorsement_window(dt.date(2025, 2, 28))
    assert (first, last) == (dt.date(2025, 1, 29), dt.date(2025, 2, 28))
    before = state(permit)
    with pytest.raises(DomainError) as exc:
        services.permit_endorse(permit=permit, actor=None, on=dt.date(2025, 1, 28))
    assert exc.value.code == "not_in_window"
    assert state(permit) == before
    services.permit_endorse(permit=permit, actor=None, on=dt.date(2025, 1, 29))


def test_lapse_comes_the_day_after_the_grace_and_a_late_endorsement_restarts_the_count(holder):
    permit = holder()  # due 28 Feb 2025, grace 30 days: lapses on 31 Mar 2025
    assert rules.lapse_day(dt.date(2025, 2, 28)) == dt.date(2025, 3, 31)
    assert services.permit_lapse(permit=permit, on=dt.date(2025, 3, 30)) is None
    lapsed = services.permit_lapse(permit=permit, on=dt.date(2025, 3, 31))
    assert (lapsed.status, lapsed.lapsed_on) == (PermitStatus.LAPSED, dt.date(2025, 3, 31))

    again = services.permit_endorse(permit=permit, actor=None, on=dt.date(2025, 4, 10))
    assert (again.status, again.next_endorsement_due, again.continuous_since, again.lapsed_on) == (
        PermitStatus.ACTIVE,
        dt.date(2026, 4, 10),
        dt.date(2025, 4, 10),
        None,
    )


def test_the_third_anniversary_needs_a_renewal_not_an_endorsement(holder):
    permit = holder()
    permit = services.permit_endorse(permit=permit, actor=None, on=dt.date(2025, 2, 20))
    permit = services.permit_endorse(permit=permit, actor=None, on=dt.date(2026, 2, 20))
    assert permit.next_endorsement_due == permit.valid_until == dt.date(2027, 2, 28)
    before = state(permit)
    with pytest.raises(DomainError) as exc:
        services.permit_endorse(permit=permit, actor=None, on=dt.date(2026, 11, 1))
    assert exc.value.code == "renew_instead"
    assert state(permit) == before


def test_renewal_of_a_lapsed_permit_keeps_the_number_and_restarts_validity(holder):
    permit = holder()
    services.permit_lapse(permit=permit, on=dt.date(2025, 4, 1))
    renewed = services.permit_renew(permit=permit, actor=None, on=dt.date(2025, 5, 6))
    assert (renewed.number, renewed.status, renewed.valid_until, renewed.continuous_since) == (
        permit.number,
        PermitStatus.ACTIVE,
        dt.date(2028, 5, 6),
        dt.date(2025, 5, 6),
    )


def test_renewal_of_an_active_permit_opens_30_days_before_validity_ends(holder):
    permit = holder()
    before = state(permit)
    with pytest.raises(DomainError) as exc:
        services.permit_renew(permit=permit, actor=None, on=dt.date(2025, 3, 1))
    assert exc.value.code == "not_in_window"
    assert state(permit) == before


# -- address, reissue, cancellation --------------------------------------------------------------


def test_change_of_address_keeps_residence_continuous(holder, other_village):
    permit = holder()
    moved = services.permit_change_address(
        permit=permit,
        address="太和镇新街8号",
        region=other_village,
        actor=None,
        on=dt.date(2024, 6, 1),
    )
    regs = list(
        ResidenceRegistration.objects.filter(person=permit.person)
        .order_by("start_date")
        .values_list("start_date", "end_date", "address")
    )
    assert regs == [
        (dt.date(2023, 8, 31), dt.date(2024, 5, 31), "凤城路1号"),
        (dt.date(2024, 6, 1), None, "太和镇新街8号"),
    ]
    moved.person.refresh_from_db()
    assert (moved.address, moved.region_id, moved.person.residence_region_id) == (
        "太和镇新街8号",
        "441803100001",
        "441803100001",
    )
    assert selectors.residence_continuous_since(
        person=permit.person, on=dt.date(2024, 7, 1)
    ) == dt.date(2023, 8, 31)


def test_reissue_after_loss_gives_a_new_number_and_keeps_the_old_one_in_the_log(holder):
    permit = holder()
    old = permit.number
    reissued = services.permit_reissue(
        permit=permit, actor=None, reason="遗失", on=dt.date(2024, 5, 1)
    )
    assert reissued.number == rules.permit_number_format("441802", 2024, 2)
    event = reissued.log.get(kind=PermitEventKind.REISSUE)
    assert (event.number, event.details["new_number"]) == (old, reissued.number)


def test_a_holder_who_settles_loses_the_permit_and_a_second_call_changes_nothing(holder):
    permit = holder()
    ended = services.permit_cancel_on_settlement(
        person=permit.person, actor=None, on=dt.date(2025, 1, 10)
    )
    reg = ResidenceRegistration.objects.get(pk=permit.registration_id)
    assert (ended.status, ended.cancelled_on, ended.cancel_reason, reg.end_date) == (
        PermitStatus.CANCELLED,
        dt.date(2025, 1, 10),
        "settled",
        dt.date(2025, 1, 10),
    )
    before = state(permit)
    assert services.permit_cancel_on_settlement(person=permit.person, actor=None) is None
    assert state(permit) == before
    assert selectors.permit_live_for(person=permit.person) is None


def test_leaving_the_city_cancels_and_returns_residence_to_none(holder):
    permit = holder()
    services.permit_cancel_on_leaving(permit=permit, actor=None, on=dt.date(2024, 9, 1))
    permit.person.refresh_from_db()
    assert permit.person.residence_region_id is None
    assert ResidencePermit.objects.get(pk=permit.pk).status == PermitStatus.CANCELLED


# -- transitions as tables -----------------------------------------------------------------------

STATUSES = [s.value for s in PermitStatus]
ALLOWED = {(str(a), str(b)) for a, b in PERMIT_TRANSITIONS}


def _put_in(permit: ResidencePermit, status: str) -> None:
    """Walk an allowed path to ``status`` with raw SQL (the trigger checks each step)."""
    with connection.cursor() as cursor:
        if status == "cancelled":
            cursor.execute(
                "UPDATE residence_permit_residencepermit SET status='cancelled',"
                " cancelled_on='2024-03-01' WHERE id=%s",
                [permit.pk],
            )
        elif status != "active":
            cursor.execute(
                "UPDATE residence_permit_residencepermit SET status=%s WHERE id=%s",
                [status, permit.pk],
            )


@pytest.mark.parametrize(("source", "target"), [p for p in itertools.permutations(STATUSES, 2)])
def test_the_database_allows_exactly_the_declared_status_changes(holder, source, target):
    permit = holder()
    _put_in(permit, source)
    sql = "UPDATE residence_permit_residencepermit SET status=%s, cancelled_on=%s WHERE id=%s"
    args = [target, dt.date(2024, 3, 2) if target == "cancelled" else None, permit.pk]
    if (source, target) in ALLOWED:
        with connection.cursor() as cursor:
            cursor.execute(sql, args)
        assert ResidencePermit.objects.get(pk=permit.pk).status == target
    else:
        with pytest.raises(ProgrammingError):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, args)
        assert ResidencePermit.objects.get(pk=permit.pk).status == source


SERVICE_CALLS = {
    "endorse": lambda p: services.permit_endorse(permit=p, actor=None, on=dt.date(2025, 2, 1)),
    "renew": lambda p: services.permit_renew(permit=p, actor=None, on=dt.date(2025, 2, 1)),
    "reissue": lambda p: services.permit_reissue(
        permit=p, actor=None, reason="遗失", on=dt.date(2025, 2, 1)
    ),
    "leave": lambda p: services.permit_cancel_on_leaving(
        permit=p, actor=None, on=dt.date(2025, 2, 1)
    ),
}
# (status before, action) -> status after, or the refusal code.
SERVICE_TABLE = [
    ("active", "endorse", "active"),
    ("active", "renew", "not_in_window"),
    ("active", "reissue", "active"),
    ("active", "leave", "cancelled"),
    ("lapsed", "endorse", "active"),
    ("lapsed", "renew", "active"),
    ("lapsed", "reissue", "lapsed"),
    ("lapsed", "leave", "cancelled"),
    ("expired", "endorse", "bad_transition"),
    ("expired", "renew", "active"),
    ("expired", "reissue", "bad_transition"),
    ("expired", "leave", "cancelled"),
    ("cancelled", "endorse", "bad_transition"),
    ("cancelled", "renew", "bad_transition"),
    ("cancelled", "reissue", "bad_transition"),
    ("cancelled", "leave", "bad_transition"),
]


@pytest.mark.parametrize(("source", "action", "outcome"), SERVICE_TABLE)
def test_services_follow_the_transition_table_and_refusals_change_nothing(
    holder, source, action, outcome
):
    permit = holder()
    _put_in(permit, source)
    permit = ResidencePermit.objects.get(pk=permit.pk)
    if outcome in STATUSES:
        SERVICE_CALLS[action](permit)
        assert ResidencePermit.objects.get(pk=permit.pk).status == outcome
    else:
        before = state(permit)
        with pytest.raises(DomainError) as exc:
            SERVICE_CALLS[action](permit)
        assert exc.value.code == outcome
        assert state(permit) == before


APPLICATION_TABLE = [
    ("issue", "issued", "reject", "bad_transition"),
    ("issue", "issued", "withdraw", "bad_transition"),
    ("issue", "issued", "issue", "bad_transition"),
    ("reject", "rejected", "issue", "bad_transition"),
    ("reject", "rejected", "withdraw", "bad_transition"),
    ("withdraw", "withdrawn", "issue", "bad_transition"),
    ("withdraw", "withdrawn", "reject", "bad_transition"),
]


def _app_action(name: str, app: PermitApplication):
    on = dt.date(2024, 3, 1)
    return {
        "issue": lambda: services.permit_issue(application=app, actor=None, on=on),
        "reject": lambda: services.permit_application_reject(
            application=app, actor=None, reason="材料不全"
        ),
        "withdraw": lambda: services.permit_application_withdraw(application=app, actor=None),
    }[name]()


@pytest.mark.parametrize(("first", "status", "second", "code"), APPLICATION_TABLE)
def test_a_decided_application_takes_no_second_decision(resident, first, status, second, code):
    person = resident(since=dt.date(2023, 8, 1))
    app = services.permit_application_submit(person=person, actor=None, on=dt.date(2024, 3, 1))
    _app_action(first, app)
    assert PermitApplication.objects.get(pk=app.pk).status == status
    before = state_of_apps()
    with pytest.raises(DomainError) as exc:
        _app_action(second, app)
    assert exc.value.code == code
    assert state_of_apps() == before


def state_of_apps() -> tuple:
    return (
        list(PermitApplication.objects.order_by("pk").values()),
        ResidencePermit.objects.count(),
        PermitEvent.objects.count(),
    )


def test_the_database_refuses_reopening_a_decided_application(resident):
    person = resident(since=dt.date(2023, 8, 1))
    app = services.permit_application_submit(person=person, actor=None, on=dt.date(2024, 3, 1))
    services.permit_application_reject(application=app, actor=None, reason="材料不全")
    with pytest.raises(ProgrammingError, match="Invalid transition"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "UPDATE residence_permit_permitapplication SET status='submitted' WHERE id=%s",
                [app.pk],
            )


def test_a_second_application_while_one_waits_or_a_permit_is_held_is_refused(holder, resident):
    permit = holder()
    with pytest.raises(DomainError) as exc:
        services.permit_application_submit(person=permit.person, actor=None)
    assert exc.value.code == "permit_exists"
    person = resident(since=dt.date(2024, 1, 1))
    services.permit_application_submit(person=person, actor=None, on=dt.date(2024, 8, 1))
    with pytest.raises(DomainError) as exc:
        services.permit_application_submit(person=person, actor=None, on=dt.date(2024, 8, 2))
    assert exc.value.code == "pending_exists"
    assert PermitApplication.objects.filter(person=person).count() == 1


def test_history_records_who_and_why_for_each_permit_change(
    holder, django_user_model, city, assign_area
):
    import pghistory.models

    officer = assign_area(django_user_model.objects.create_user("window1", is_staff=True), city)
    permit = holder()
    services.permit_endorse(permit=permit, actor=officer, on=dt.date(2025, 2, 1))

    rows = list(
        pghistory.models.Events.objects.tracks(ResidencePermit.objects.get(pk=permit.pk))
        .order_by("pgh_created_at")
        .values_list("pgh_label", "pgh_context__reason", "pgh_context__user")
    )
    assert rows == [
        ("insert", "签发居住证", None),
        ("update", "签注", officer.pk),
    ]
