"""What the printed registry documents show (户口簿 cards, 常住人口登记表, 户口迁移证).

The card's fields come from what the library records: 曾用名 from the person's history (every
earlier name), 出生地 from the birth registration, 婚姻状况 from the 民政 marriage facts,
何时由何地迁来本址 and 承办人 from the event that brought the person into the household.
Fields the library does not hold (籍贯, 文化程度, 服务处所) print as 未登记, never as blanks
that look like "none".
"""

from __future__ import annotations

from population.admin_utils import staff_name
from population.identity import mask_citizen_id
from population.models import Person
from population.sync.selectors import spouse_of
from registry.models import EventKind, Membership, RegistrationEvent

NOT_RECORDED = "未登记"


def former_names(person: Person) -> str:
    names: list[str] = []
    for name in (
        Person.pgh_event_model.objects.filter(pgh_obj_id=person.pk)
        .order_by("pgh_id")
        .values_list("name", flat=True)
    ):
        if name != person.name and name not in names:
            names.append(name)
    return "、".join(names) or "无"


def arrival(membership: Membership | None) -> tuple[str, str]:
    """(何时由何地迁来本址, 承办人) from the event that opened the membership."""
    if membership is None:
        return "—", "—"
    event = (
        RegistrationEvent.objects.filter(
            person_id=membership.person_id,
            to_household_id=membership.household_id,
            effective_date=membership.start_date,
        )
        .exclude(kind=EventKind.CORRECTION)
        .select_related("from_household", "officer")
        .order_by("-pk")
        .first()
    )
    when = f"{membership.start_date:%Y年%-m月%-d日}"
    if event is None:
        return f"{when}（来处未记录）", "—"
    if event.kind == EventKind.BIRTH:
        where = "出生登记"
    elif event.from_household_id:
        where = f"由本市{event.from_household.address}迁来（{event.get_kind_display()}）"
    elif event.document_number:
        where = f"由外地迁来（{event.document_type}{event.document_number}）"
    else:
        where = event.get_kind_display()
    return f"{when}，{where}", staff_name(event.officer)


def birthplace(person: Person) -> str:
    event = (
        RegistrationEvent.objects.filter(person=person, kind=EventKind.BIRTH)
        .select_related("to_household__region")
        .first()
    )
    return event.to_household.region.name if event and event.to_household_id else NOT_RECORDED


def marital_status(person: Person) -> str:
    return "有配偶" if spouse_of(person=person) else NOT_RECORDED


def card(membership: Membership | None, person: Person, *, full_id: bool) -> dict:
    """One 常住人口登记卡: the person's fields as the card lists them."""
    arrived, officer = arrival(membership)
    return {
        "person_id": person.pk,
        "name": person.name,
        "former_names": former_names(person),
        "relation": membership.get_relation_display() if membership else "—",
        "sex": person.get_sex_display(),
        "ethnicity": person.get_ethnicity_display(),
        "birth_date": person.birth_date,
        "birthplace": birthplace(person),
        "native_place": NOT_RECORDED,
        "marital_status": marital_status(person),
        "education": NOT_RECORDED,
        "employer": NOT_RECORDED,
        "citizen_id": person.citizen_id if full_id else mask_citizen_id(person.citizen_id),
        "start_date": membership.start_date if membership else None,
        "arrived": arrived,
        "officer": officer,
    }
