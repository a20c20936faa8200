"""Officers acting at once on the real PostgreSQL: locks decide, and exactly one wins."""

from __future__ import annotations

import datetime as dt

import pytest

from population.errors import DomainError
from residence_permit import rules, services
from residence_permit.models import (
    ApplicationStatus,
    PermitApplication,
    PermitEvent,
    ResidencePermit,
)
from tests.registry.test_concurrency import run_at_once

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_officers_issuing_one_application_at_once_one_wins_the_other_is_told(resident):
    person = resident(since=dt.date(2023, 8, 31))
    app = services.permit_application_submit(person=person, actor=None, on=dt.date(2024, 3, 1))

    results = run_at_once(
        2, lambda i: services.permit_issue(application=app, actor=None, on=dt.date(2024, 3, 1))
    )

    permits = [r for r in results if isinstance(r, ResidencePermit)]
    errors = [r for r in results if isinstance(r, DomainError)]
    assert (len(permits), len(errors)) == (1, 1)
    assert errors[0].code == "bad_transition"
    assert ResidencePermit.objects.count() == 1
    assert PermitEvent.objects.count() == 1
    assert PermitApplication.objects.get(pk=app.pk).status == ApplicationStatus.ISSUED


def test_ten_simultaneous_issues_in_one_county_get_ten_distinct_consecutive_numbers(resident):
    apps = [
        services.permit_application_submit(
            person=resident(since=dt.date(2023, 8, 31), name=f"申请人{i}"),
            actor=None,
            on=dt.date(2024, 3, 1),
        )
        for i in range(10)
    ]

    results = run_at_once(
        10,
        lambda i: services.permit_issue(application=apps[i], actor=None, on=dt.date(2024, 3, 1)),
    )

    assert [r for r in results if isinstance(r, Exception)] == []
    assert sorted(p.number for p in results) == [
        rules.permit_number_format("441802", 2024, n) for n in range(1, 11)
    ]


def test_two_officers_endorsing_one_permit_at_once_endorse_it_once(holder):
    permit = holder()  # due 2025-02-28

    results = run_at_once(
        2,
        lambda i: services.permit_endorse(permit=permit, actor=None, on=dt.date(2025, 2, 20)),
    )

    errors = [r for r in results if isinstance(r, DomainError)]
    assert [e.code for e in errors] == ["not_in_window"]  # the due date moved a year on
    assert ResidencePermit.objects.get(pk=permit.pk).next_endorsement_due == dt.date(2026, 2, 28)
    assert PermitEvent.objects.filter(permit=permit, kind="endorse").count() == 1


def test_two_simultaneous_registrations_of_one_person_one_wins(make_person, village):
    from residence_permit.models import ResidenceBasis, ResidenceRegistration

    person = make_person()
    results = run_at_once(
        2,
        lambda i: services.residence_registration_create(
            person=person,
            address=f"凤城路{i}号",
            region=village,
            basis=ResidenceBasis.JOB,
            start_date=dt.date(2024, 1, 1),
            actor=None,
        ),
    )
    errors = [r for r in results if isinstance(r, DomainError)]
    assert [e.code for e in errors] == ["registration_open"]
    assert ResidenceRegistration.objects.filter(person=person).count() == 1
