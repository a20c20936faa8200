"""Services enforce the area too: every write service, given a target outside the acting user's
area (an officer of another township) or any target by a user with no area at all, refuses with
``outside_jurisdiction`` and changes nothing; the officer of the right township is not refused
for the area. The list of services is read from the service modules: a new service taking an
``actor`` fails ``test_every_write_service_is_in_the_matrix`` until it has a row here.
"""

from __future__ import annotations

import importlib
import inspect

import pytest
from django.db import transaction

from population.codes import Relation
from population.errors import DomainError
from population.jurisdiction import area_rules, serving_staff
from population.models import Person
from registry.models import HouseholdKind
from residence_permit.models import PersonFactKind
from tests.population.area_world import citizen_id
from tests.population.test_area_matrix import _snapshot

pytestmark = pytest.mark.django_db

MODULES = [
    "population.services",
    "registry.services",
    "registry.quality.services",
    "residence_permit.services",
    "residence_permit.points",
    "settlement.services",
    "population.sync.services",
]

# Functions taking an actor that act on no person's record, and why.
NOT_ON_PERSONAL_DATA = {
    "population.services.history_context": "attaches who and why to history rows; writes none",
    "population.sync.services.batch_requeue": "a department's file, not a person's record",
    "registry.quality.services.quality_detect": "runs the detectors over the whole library",
    "settlement.services.application_create": (
        "a draft for an applicant the library may not know yet; the area holds from submission"
    ),
}


# Each write service and arguments that a user of township A could act with (actor aside).
SERVICE_CALLS = {
    # population
    "population.services.person_create": lambda w: dict(
        citizen_id=citizen_id(), name="新人", reason="测试", hukou_region=w.village
    ),
    "population.services.person_update": lambda w: dict(
        person=w.spouse, reason="更名", name="李改名"
    ),
    "population.services.person_correct_citizen_id": lambda w: dict(
        person=w.spouse, new_citizen_id=citizen_id(male=False), reason="录入错误"
    ),
    # registry events
    "registry.services.birth_register": lambda w: dict(
        household=w.household,
        name="新生儿",
        sex=1,
        birth_date=w.today,
        relation=Relation.SON,
        birth_certificate_number="B-1",
    ),
    "registry.services.death_cancel": lambda w: dict(
        person=w.spouse, death_date=w.today, document_number="D-1"
    ),
    "registry.services.move_out": lambda w: dict(
        person=w.spouse, from_household=w.household, destination="广州", on=w.today
    ),
    "registry.services.move_in": lambda w: dict(
        citizen_id=citizen_id(),
        name="迁入人",
        household=w.household,
        relation=Relation.SON,
        transfer_permit_number="T-9",
        on=w.today,
    ),
    "registry.services.move_within_city": lambda w: dict(
        person=w.spouse,
        from_household=w.household,
        to_household=w.household2,
        relation=Relation.DAUGHTER,
        on=w.today,
    ),
    "registry.services.attach_to_relative": lambda w: dict(
        person=w.spouse,
        from_household=w.household,
        to_household=w.household2,
        relation=Relation.DAUGHTER,
        owner_consent_document="同意书1",
        on=w.today,
    ),
    "registry.services.settle_into_collective": lambda w: dict(
        person=w.spouse, from_household=w.household, to_household=w.collective, on=w.today
    ),
    "registry.services.head_change": lambda w: dict(
        household=w.household, new_head=w.spouse, former_head_relation=Relation.HUSBAND
    ),
    "registry.services.household_create": lambda w: dict(
        kind=HouseholdKind.FAMILY, address="凤城路8号", region=w.village
    ),
    "registry.services.household_split": lambda w: dict(
        household=w.household, members=[(w.spouse, Relation.HEAD)], address="凤城路4号"
    ),
    "registry.services.household_close": lambda w: dict(household=w.collective, reason="销户"),
    # 变更更正登记
    "registry.services.correction_propose": lambda w: dict(
        person=w.spouse,
        field="ethnicity",
        new_value="02",
        document_type="户口簿",
        document_number="HK-2",
        reason="民族录错",
    ),
    "registry.services.correction_approve": lambda w: dict(correction=w.correction),
    "registry.services.correction_refuse": lambda w: dict(correction=w.correction, note="材料不符"),
    "registry.services.relation_correct": lambda w: dict(
        person=w.spouse,
        household=w.household,
        relation=Relation.DAUGHTER,
        document_type="户口簿",
        document_number="HK-3",
        reason="关系录错",
    ),
    # data quality
    "registry.quality.services.quality_issue_decide": lambda w: dict(
        issue=w.issue, status="confirmed"
    ),
    "registry.quality.services.person_merge_propose": lambda w: dict(
        survivor=w.head, duplicate=w.duplicate, reason="重复"
    ),
    "registry.quality.services.person_merge_approve": lambda w: dict(merge=w.merge),
    "registry.quality.services.person_merge_reject": lambda w: dict(merge=w.merge, note="否"),
    # department sync
    "population.sync.services.followup_close": lambda w: dict(followup=w.followup),
    # residence permits
    "residence_permit.services.residence_registration_create": lambda w: dict(
        person=w.head, address="凤城路6号", region=w.village, basis="job", start_date=w.today
    ),
    "residence_permit.services.residence_registration_end": lambda w: dict(
        registration=w.newcomer_registration, end_date=w.today, reason="搬离"
    ),
    "residence_permit.services.person_fact_record": lambda w: dict(
        person=w.newcomer, kind=PersonFactKind.EMPLOYMENT, start_date=w.today, evidence="合同2"
    ),
    "residence_permit.services.person_fact_retract": lambda w: dict(
        fact=w.person_fact, reason="录入有误"
    ),
    "residence_permit.services.permit_application_submit": lambda w: dict(person=w.newcomer),
    "residence_permit.services.permit_issue": lambda w: dict(application=w.waiting),
    "residence_permit.services.permit_application_reject": lambda w: dict(
        application=w.waiting, reason="不符合"
    ),
    "residence_permit.services.permit_application_withdraw": lambda w: dict(application=w.waiting),
    "residence_permit.services.permit_endorse": lambda w: dict(permit=w.due),
    "residence_permit.services.permit_renew": lambda w: dict(permit=w.due),
    "residence_permit.services.permit_reissue": lambda w: dict(permit=w.due),
    "residence_permit.services.permit_change_address": lambda w: dict(
        permit=w.due, address="凤城路5号", region=w.village
    ),
    "residence_permit.services.permit_lapse": lambda w: dict(permit=w.due, on=w.today),
    "residence_permit.services.permit_expire": lambda w: dict(permit=w.due, on=w.today),
    "residence_permit.services.permit_cancel_on_leaving": lambda w: dict(permit=w.due),
    "residence_permit.services.permit_cancel_on_death": lambda w: dict(permit=w.due, on=w.today),
    "residence_permit.services.permit_cancel_on_settlement": lambda w: dict(person=w.due.person),
    "residence_permit.points.points_recompute": lambda w: dict(person=w.due.person),
    "residence_permit.points.points_deduction_add": lambda w: dict(
        person=w.due.person, code="any", evidence="违法记录"
    ),
    # settlement
    "settlement.services.application_window_open": lambda w: dict(
        city_code="441800",
        on=w.today,
        channel="home_purchase",
        target="residence",
        citizen_id=citizen_id(address="441881"),
        name="窗口申请人",
        relation=Relation.SON,
        materials=["购房合同"],
        evidence={
            "properties": [
                {"owner": "applicant", "use": "residential", "area_m2": 90, "registered": True}
            ]
        },
        household=w.household,
    ),
    "settlement.services.application_submit": lambda w: dict(application=w.application),
    "settlement.services.application_accept": lambda w: dict(application=w.application),
    "settlement.services.application_review_start": lambda w: dict(application=w.application),
    "settlement.services.application_return": lambda w: dict(
        application=w.application, missing=["购房合同"]
    ),
    "settlement.services.application_approve": lambda w: dict(application=w.application),
    "settlement.services.application_issue_permit": lambda w: dict(
        application=w.application, household=w.household
    ),
    "settlement.services.application_complete": lambda w: dict(application=w.application),
    "settlement.services.application_reject": lambda w: dict(
        application=w.application, reason="不符合"
    ),
    "settlement.services.application_withdraw": lambda w: dict(application=w.application),
    "settlement.services.application_expire": lambda w: dict(application=w.application, on=w.today),
}


def _write_services() -> set[str]:
    found = set()
    for name in MODULES:
        module = importlib.import_module(name)
        for attr, function in inspect.getmembers(module, inspect.isfunction):
            defined_here = function.__module__ == name or function.__module__.startswith(f"{name}.")
            if attr.startswith("_") or not defined_here:
                continue
            if "actor" in inspect.signature(function).parameters:
                found.add(f"{name}.{attr}")
    return found


def _service(dotted: str):
    module, attr = dotted.rsplit(".", 1)
    return getattr(importlib.import_module(module), attr)


def test_every_write_service_is_in_the_matrix():
    services = _write_services()
    assert services - set(NOT_ON_PERSONAL_DATA) == set(SERVICE_CALLS)
    assert len(SERVICE_CALLS) >= 45


def test_a_write_outside_the_users_area_is_refused_and_changes_nothing(world):
    """One world, every service: the other township's officer and the user with no area are
    refused with outside_jurisdiction and nothing changes; the right officer is not refused
    for the area (the attempt is rolled back, whatever its outcome)."""
    problems = []
    for dotted, arguments in sorted(SERVICE_CALLS.items()):
        service = _service(dotted)
        for who in ("officer_b", "nobody"):
            before = _snapshot()
            try:
                service(**arguments(world), actor=getattr(world, who))
            except DomainError as exc:
                if exc.code != "outside_jurisdiction":
                    problems.append(f"{dotted} by {who}: refused as {exc.code}, not for the area")
            else:
                problems.append(f"{dotted} by {who}: done outside the area")
            if _snapshot() != before:
                problems.append(f"{dotted} by {who}: changed data")
        try:
            with transaction.atomic():
                service(**arguments(world), actor=world.officer_a)
                transaction.set_rollback(True)
        except DomainError as exc:
            if exc.code == "outside_jurisdiction":
                problems.append(f"{dotted}: the right township's officer refused")
    assert problems == [], "\n".join(problems)


def test_a_superuser_and_the_system_act_everywhere(world, django_user_model):
    root = django_user_model.objects.create_superuser("root", password="pw-root")
    from registry.services import death_cancel

    death_cancel(person=world.spouse, death_date=world.today, document_number="D", actor=root)
    world.spouse.refresh_from_db()
    assert world.spouse.status == "deceased"
    from residence_permit.services import permit_lapse

    assert permit_lapse(permit=world.due, on=world.today, actor=None) is None  # not due: no-op


def test_the_system_identity_is_refused_while_serving_staff(world):
    """actor=None is the system (beat jobs, commands); inside a staff request it is a bug."""
    from registry.services import death_cancel

    before = _snapshot()
    with serving_staff(world.officer_a), pytest.raises(RuntimeError, match="actor=None"):
        death_cancel(person=world.spouse, death_date=world.today, document_number="D", actor=None)
    assert _snapshot() == before
    assert Person.objects.get(pk=world.spouse.pk).status == "active"
    assert area_rules()  # the rules are registered at start-up
