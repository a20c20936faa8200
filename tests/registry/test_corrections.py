"""变更更正登记: an officer proposes from the person page, a supervisor approves or refuses;
identity fields change only then, each approval a registration event with old → new values.
A relation is corrected at once, as an event too. Bad input changes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages

from population import roles
from population.codes import Relation
from population.identity import build_citizen_id, mask_citizen_id
from population.models import CitizenIdCorrection, Person
from registry import services
from registry.models import (
    Correction,
    CorrectionStatus,
    EventKind,
    HouseholdKind,
    Membership,
    RegistrationEvent,
)

pytestmark = pytest.mark.django_db

PASSWORD = "x-Strong-pass-1"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def home(village, make_person):
    household = services.household_create(
        kind=HouseholdKind.FAMILY, address="凤城路1号", region=village, actor=None
    )
    for name, relation, born in [
        ("王大", Relation.HEAD, dt.date(1980, 1, 1)),
        ("王小", Relation.SON, dt.date(2005, 6, 1)),
    ]:
        person = make_person(name=name, born=born)
        services.move_in(
            citizen_id=person.citizen_id, name=name, household=household, relation=relation,
            transfer_permit_number="QY1", on=dt.date(2020, 1, 1), actor=None,
        )  # fmt: skip
    return household


@pytest.fixture
def son(home):
    return Person.objects.get(name="王小")


@pytest.fixture
def user(django_user_model, village, assign_area):
    counter = iter(range(100))

    def _make(role):
        u = django_user_model.objects.create_user(
            f"u{next(counter)}", password=PASSWORD, is_staff=True
        )
        u.groups.add(Group.objects.get(name=role))
        assign_area(u, village.parent)
        return django_user_model.objects.get(pk=u.pk)

    return _make


@pytest.fixture
def officer(user):
    return user(roles.REGISTRATION_OFFICER)


@pytest.fixture
def supervisor(user):
    return user(roles.SUPERVISOR)


def login(client, who):
    client.force_login(who)
    return client


def form_url(person) -> str:
    return f"/admin/registry/registrationevent/person/{person.pk}/correction/"


def data(home, **kw):
    return {
        "field": "name",
        "new_value": "王晓",
        "new_ethnicity": "",
        "new_relation": "",
        "document_type": "出生医学证明",
        "document_number": "O44123",
        "reason": "登记时姓名录入错误",
        "seen_household": home.pk,
        **kw,
    }


def state():
    return (
        list(Person.objects.order_by("pk").values_list("citizen_id", "name", "ethnicity")),
        list(Membership.objects.order_by("pk").values_list("relation", "end_date")),
        list(Correction.objects.order_by("pk").values_list("status", "new_value")),
        RegistrationEvent.objects.count(),
        CitizenIdCorrection.objects.count(),
    )


def message(response) -> str:
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


def test_a_name_correction_waits_for_a_supervisor_then_is_an_event(
    client, officer, supervisor, home, son
):
    # given an officer who proposes from the person page's button
    login(client, officer)
    page = client.get(f"/admin/population/person/{son.pk}/change/").content.decode()
    assert f'href="{form_url(son)}">变更更正登记<' in page
    response = client.post(form_url(son), data(home))
    assert response.status_code == 302
    assert message(response) == "已提交变更更正登记（姓名：王小 → 王晓），待户籍主管审批"
    # then nothing changed yet
    son.refresh_from_db()
    assert son.name == "王小"
    correction = Correction.objects.get()
    assert (correction.status, correction.proposed_by) == (CorrectionStatus.PENDING, officer)
    # and the officer cannot decide it
    assert client.get(f"/admin/registry/correction/{correction.pk}/decide/").status_code == 403

    # when a supervisor opens it from the list and approves
    login(client, supervisor)
    listed = client.get("/admin/registry/correction/").content.decode()
    assert f"/admin/registry/correction/{correction.pk}/change/" in listed
    detail = client.get(f"/admin/registry/correction/{correction.pk}/change/").content.decode()
    assert f'href="/admin/registry/correction/{correction.pk}/decide/">审批<' in detail
    response = client.post(
        f"/admin/registry/correction/{correction.pk}/decide/", {"decision": "approve", "note": ""}
    )
    assert response.status_code == 302

    # then the name changed, through one registration event with the old and new values
    son.refresh_from_db()
    assert son.name == "王晓"
    event = RegistrationEvent.objects.get(kind=EventKind.CORRECTION)
    assert (event.person, event.officer, event.document_number) == (son, supervisor, "O44123")
    assert (event.details["old"], event.details["new"]) == ("王小", "王晓")
    correction.refresh_from_db()
    assert (correction.status, correction.decided_by, correction.event) == (
        CorrectionStatus.APPROVED,
        supervisor,
        event,
    )
    # and the event's own page tells it in Chinese, not as stored codes
    shown = client.get(f"/admin/registry/registrationevent/{event.pk}/change/").content.decode()
    assert "姓名：王小 → 王晓" in shown
    assert '"field"' not in shown and "approved_by" not in shown
    # and the person page and its 历史 page tell it in Chinese
    for suffix in ("change/", "history/"):
        html = client.get(f"/admin/population/person/{son.pk}/{suffix}").content.decode()
        assert "变更更正登记" in html
        assert "姓名：王小 → 王晓" in html
        assert "此对象没有修改历史" not in html


def test_an_id_correction_reuses_the_id_correction_and_keeps_the_old_number(
    client, officer, supervisor, home, son
):
    old = son.citizen_id
    new = build_citizen_id("441802", dt.date(2005, 6, 2), 11)
    login(client, officer)
    # typed with a lower-case x and full-width digits where an input method gives them
    typed = new.replace("0", "０").lower()
    assert (
        client.post(form_url(son), data(home, field="citizen_id", new_value=typed)).status_code
        == 302
    )
    correction = Correction.objects.get()
    assert correction.new_value == new
    login(client, supervisor)
    client.post(f"/admin/registry/correction/{correction.pk}/decide/", {"decision": "approve"})
    son.refresh_from_db()
    assert (son.citizen_id, son.birth_date) == (new, dt.date(2005, 6, 2))
    assert CitizenIdCorrection.objects.get().old_citizen_id == old
    assert RegistrationEvent.objects.get(kind=EventKind.CORRECTION).details["old"] == old
    found = client.get("/admin/population/person/", {"q": old})
    assert found["Location"] == f"/admin/population/person/{son.pk}/change/"


def test_a_refusal_needs_a_reason_and_changes_nothing(client, officer, supervisor, home, son):
    login(client, officer)
    client.post(form_url(son), data(home, field="ethnicity", new_value="", new_ethnicity="08"))
    correction = Correction.objects.get()
    login(client, supervisor)
    url = f"/admin/registry/correction/{correction.pk}/decide/"
    response = client.post(url, {"decision": "refuse", "note": ""})
    assert response.status_code == 200
    assert response.context["form"].errors == {"note": ["驳回须说明理由"]}
    response = client.post(url, {"decision": "refuse", "note": "材料不符"})
    assert response.status_code == 302
    son.refresh_from_db()
    assert son.ethnicity == "01"
    correction.refresh_from_db()
    assert (correction.status, correction.decision_note) == (CorrectionStatus.REFUSED, "材料不符")
    assert not RegistrationEvent.objects.filter(kind=EventKind.CORRECTION).exists()
    # a decided correction is not decided twice
    again = client.post(url, {"decision": "approve"})
    assert again.context["form"].non_field_errors() == ["此更正已驳回，不能再审批"]


def test_a_supervisor_never_decides_their_own_proposal(client, supervisor, home, son):
    login(client, supervisor)
    client.post(form_url(son), data(home))
    correction = Correction.objects.get()
    before = state()
    response = client.post(
        f"/admin/registry/correction/{correction.pk}/decide/", {"decision": "approve"}
    )
    assert response.context["form"].non_field_errors() == ["申请人不能审批本人提交的更正"]
    assert state() == before


def test_a_relation_correction_is_an_event_at_once(client, officer, home, son):
    login(client, officer)
    response = client.post(
        form_url(son), data(home, field="relation", new_value="", new_relation=Relation.ELDEST_SON)
    )
    assert message(response) == "已办理变更更正登记：与户主关系由“子”更正为“长子”"
    assert Membership.objects.get(person=son, end_date__isnull=True).relation == (
        Relation.ELDEST_SON
    )
    event = RegistrationEvent.objects.get(kind=EventKind.CORRECTION)
    assert (event.details["old"], event.details["new"]) == (Relation.SON, Relation.ELDEST_SON)
    html = client.get(f"/admin/population/person/{son.pk}/history/").content.decode()
    assert "与户主关系：子 → 长子" in html


def _taken_number(home):
    return Person.objects.get(name="王大").citizen_id


@pytest.mark.parametrize(
    ("bad", "errors"),
    [
        ({"field": "citizen_id", "new_value": "44180220050601"}, "length"),
        ({"field": "citizen_id", "new_value": "taken"}, "taken"),
        ({"new_value": "王小"}, {"new_value": ["更正内容与原内容相同"]}),
        ({"new_value": ""}, {"new_value": ["请填写更正后的内容"]}),
        ({"document_number": ""}, {"document_number": ["须填写更正依据的材料及编号"]}),
        ({"document_type": ""}, {"document_type": ["该字段是必填项。"]}),
        ({"field": ""}, {"field": ["该字段是必填项。"]}),
        ({"reason": ""}, {"reason": ["该字段是必填项。"]}),
        ({"field": "relation", "new_relation": Relation.HEAD}, "head"),
    ],
    ids=[
        "short-id", "taken-id", "same-name", "no-value", "no-document",
        "no-document-type", "no-field", "no-reason", "relation-head",
    ],
)  # fmt: skip
def test_bad_input_is_refused_on_its_field_and_changes_nothing(
    client, officer, home, son, bad, errors
):
    login(client, officer)
    if bad.get("new_value") == "taken":
        bad["new_value"] = _taken_number(home)
        errors = {"new_value": [f"公民身份号码{mask_citizen_id(bad['new_value'])}已属于他人"]}
    if errors == "length":
        errors = {"new_value": ["公民身份号码应为18位（旧号码15位），实际为14位"]}
    if errors == "head":
        errors = {"new_relation": ["选择一个有效的选项。 02 不在可用的选项中。"]}
    before = state()
    response = client.post(form_url(son), data(home, **bad))
    assert response.status_code == 200
    got = {k: list(v) for k, v in response.context["form"].errors.items()}
    assert got == errors
    assert state() == before
