"""Simultaneous registrations against the real PostgreSQL: locks and guards decide, not luck."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

import pytest
from django.db import close_old_connections, connection

from population.codes import Relation
from population.errors import DomainError
from population.identity import build_citizen_id, parse_citizen_id
from population.models import Person, PersonStatus
from registry import services
from registry.models import EventKind, Household, HouseholdKind, Membership, RegistrationEvent
from registry.services import households as household_services

# Threads open their own connections, so the data they see must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


def run_at_once(n: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(i)`` in n threads released together; return each result or exception."""
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def target(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # the test inspects every outcome
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    close_old_connections()
    return results


def backend_pid() -> int:
    """This thread's PostgreSQL backend (its connection is opened if need be)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def wait_until_blocked(
    pid: int, timeout: float = 20.0, unless: threading.Event | None = None
) -> bool:
    """Poll until backend ``pid`` waits for a lock another backend holds; False after timeout,
    or as soon as ``unless`` is set (the other side finished without waiting).

    ``pg_blocking_pids`` reads the lock manager as it is now (no per-transaction snapshot), so
    this may be called from inside the transaction that holds the lock.
    """
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline and not (unless and unless.is_set()):
            cursor.execute("SELECT cardinality(pg_blocking_pids(%s)) > 0", [pid])
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.02)
    return False


def test_twenty_simultaneous_births_for_one_place_and_date_get_twenty_distinct_valid_ids(
    village,
):
    household = services.household_create(
        kind=HouseholdKind.FAMILY, address="凤城路8号", region=village, actor=None
    )
    born = dt.date(2024, 2, 29)

    results = run_at_once(
        20,
        lambda i: services.birth_register(
            household=household,
            name=f"新生{i}",
            sex=1 if i % 2 else 2,
            birth_date=born,
            relation=Relation.SON if i % 2 else Relation.DAUGHTER,
            birth_certificate_number=f"Q{i:04d}",
            actor=None,
        ),
    )

    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []
    numbers = [p.citizen_id for p in results]
    assert len(set(numbers)) == 20
    for person in results:
        parsed = parse_citizen_id(person.citizen_id)
        assert (parsed.address_code, parsed.birth_date, parsed.sex) == (
            "441802",
            born,
            person.sex,
        )
    assert Membership.objects.filter(household=household, end_date__isnull=True).count() == 20
    assert RegistrationEvent.objects.filter(kind=EventKind.BIRTH).count() == 20


def test_two_simultaneous_transfers_of_one_person_one_wins_the_other_is_told(village):
    origin, a, b = (
        services.household_create(
            kind=HouseholdKind.FAMILY, address=f"凤城路{i}号", region=village, actor=None
        )
        for i in (1, 2, 3)
    )
    person = services.move_in(
        citizen_id=valid_id(seq=1),
        name="钱多多",
        household=origin,
        relation=Relation.HEAD,
        transfer_permit_number="T-1",
        on=dt.date(2020, 1, 1),
        actor=None,
    )
    services.move_in(
        citizen_id=valid_id(seq=20),
        name="钱少少",
        household=a,
        relation=Relation.HEAD,
        transfer_permit_number="T-2",
        on=dt.date(2020, 1, 1),
        actor=None,
    )
    services.move_in(
        citizen_id=valid_id(seq=40),
        name="钱刚好",
        household=b,
        relation=Relation.HEAD,
        transfer_permit_number="T-3",
        on=dt.date(2020, 1, 1),
        actor=None,
    )
    targets = [a, b]

    results = run_at_once(
        2,
        lambda i: services.move_within_city(
            person=person,
            from_household=origin,
            to_household=targets[i],
            relation=Relation.OTHER_RELATIVE,
            on=dt.date(2024, 6, 1),
            actor=None,
        ),
    )

    wins = [r for r in results if isinstance(r, Membership)]
    losses = [r for r in results if isinstance(r, DomainError)]
    assert (len(wins), len(losses)) == (1, 1)
    assert losses[0].code == "stale_membership"
    assert "请刷新后重试" in losses[0].message_zh
    open_memberships = Membership.objects.filter(person=person, end_date__isnull=True)
    assert list(open_memberships.values_list("household_id", flat=True)) == [wins[0].household_id]
    assert RegistrationEvent.objects.filter(kind=EventKind.MOVE_WITHIN).count() == 1
    person.refresh_from_db()
    assert person.hukou_region_id == village.pk
    assert Household.objects.get(pk=origin.pk).closed_on is None


def valid_id(seq: int = 1) -> str:
    return build_citizen_id("441802", dt.date(1990, 1, 1), seq)


def test_a_death_and_a_head_change_in_that_household_both_finish(village, monkeypatch):
    """The head change locks its new head, the household, then every membership of it; the
    death locks the person, then their membership only. Before, taking the membership also
    locked its household (a ``select_related`` under ``FOR UPDATE``): the death held the
    membership and waited for the household that the head change held while waiting for that
    membership, a deadlock."""
    household = services.household_create(
        kind=HouseholdKind.FAMILY, address="凤城路5号", region=village, actor=None
    )
    head, dying, heir = (
        services.move_in(
            citizen_id=valid_id(seq=seq),
            name=name,
            household=household,
            relation=relation,
            transfer_permit_number=f"T-{seq}",
            on=dt.date(2020, 1, 1),
            actor=None,
        )
        for seq, name, relation in (
            (1, "赵大", Relation.HEAD),
            (3, "赵二", Relation.SON),
            (5, "赵三", Relation.SON),
        )
    )
    death_pid: list[int] = []
    pid_known, household_locked, death_done = (threading.Event() for _ in range(3))
    death_waited: list[bool] = []
    require_within = household_services.actor_require_within

    def lock_then_let_the_death_in(actor, *records, **kwargs):
        """The head change checks its area right after locking the household: start the death
        there and let it run into the head change's locks (or finish)."""
        require_within(actor, *records, **kwargs)
        if records and isinstance(records[0], Household) and not household_locked.is_set():
            assert pid_known.wait(30)
            household_locked.set()
            death_waited.append(wait_until_blocked(death_pid[0], unless=death_done))

    monkeypatch.setattr(household_services, "actor_require_within", lock_then_let_the_death_in)

    def change_the_head() -> Household:
        return services.head_change(
            household=household,
            new_head=heir,
            former_head_relation=Relation.FATHER,
            actor=None,
            on=dt.date(2024, 6, 1),
        )

    def die() -> object:
        death_pid.append(backend_pid())
        pid_known.set()
        assert household_locked.wait(30)
        try:
            return services.death_cancel(
                person=dying, death_date=dt.date(2024, 6, 1), document_number="S-1", actor=None
            )
        finally:
            death_done.set()

    changed, died = run_at_once(2, lambda i: (change_the_head, die)[i]())

    assert isinstance(changed, Household), changed
    assert isinstance(died, Person) and died.status == PersonStatus.DECEASED, died
    assert death_waited == [False]  # nothing of the head change's stands in the death's way
    open_here = Membership.objects.filter(household=household, end_date__isnull=True)
    assert sorted(open_here.values_list("person_id", "relation")) == sorted(
        [(head.pk, Relation.FATHER), (heir.pk, Relation.HEAD)]
    )
    assert RegistrationEvent.objects.filter(kind=EventKind.DEATH, person=dying).count() == 1
    assert RegistrationEvent.objects.filter(kind=EventKind.HEAD_CHANGE).count() == 1
