"""Printed registry documents: the 户口簿 cards with the card's fields, the 常住人口登记表 and the
户口迁移证, reached by clicking from the person page, scoped to the area, each print logged and
listed on the person page."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from population import roles
from population.codes import Relation
from population.identity import mask_citizen_id
from population.models import AccessLog, Person, Region, RegionLevel
from registry import services
from registry.models import EventKind, HouseholdKind, RegistrationEvent

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def officer(django_user_model, village, assign_area):
    user = django_user_model.objects.create_user(
        "officer", password="x-Pass-1", is_staff=True, first_name="赵警官"
    )
    user.groups.add(Group.objects.get(name=roles.REGISTRATION_OFFICER))
    assign_area(user, village.parent)
    return django_user_model.objects.get(pk=user.pk)


@pytest.fixture
def family(village, make_person, officer):
    home = services.household_create(
        kind=HouseholdKind.FAMILY, address="凤城路1号", region=village, actor=None
    )
    head = make_person(name="王大", born=dt.date(1980, 1, 1))
    services.move_in(
        citizen_id=head.citizen_id, name="王大", household=home, relation=Relation.HEAD,
        transfer_permit_number="QY77", on=dt.date(2020, 1, 1), actor=officer,
    )  # fmt: skip
    baby = services.birth_register(
        household=home, name="王宝", sex=1, birth_date=TODAY - dt.timedelta(days=9),
        relation=Relation.SON, birth_certificate_number="O1", actor=officer,
    )  # fmt: skip
    return home, Person.objects.get(pk=head.pk), baby


def links(html: str) -> dict[str, str]:
    return {
        label.strip(): href
        for href, label in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', html)
    }


def test_the_household_book_prints_the_cards_fields(client, officer, family):
    home, _head, _baby = family
    client.force_login(officer)
    html = client.get(f"/admin/registry/household/{home.pk}/print/").content.decode()
    for label in (
        "曾用名",
        "籍贯",
        "出生地",
        "婚姻状况",
        "文化程度",
        "服务处所",
        "何时由何地迁来本址",
        "承办人",
    ):
        assert f"<th>{label}</th>" in html, label
    assert "2020年1月1日，由外地迁来（户口迁移证QY77）" in html
    assert "出生登记" in html and "凤城街道第一社区" in html  # the baby's birthplace
    assert html.count("赵警官") == 2
    assert "None" not in html


def test_the_register_form_is_printed_from_the_person_page_and_logged(client, officer, family):
    _, head, _ = family
    client.force_login(officer)
    page = client.get(f"/admin/population/person/{head.pk}/change/").content.decode()
    href = links(page)["打印常住人口登记表"]
    response = client.get(href)
    assert response.status_code == 200
    html = response.content.decode()
    assert "常住人口登记表" in html and head.citizen_id in html and "@media print" in html
    log = AccessLog.objects.get(channel="admin.print.register_form")
    assert log.person_ids == [head.pk]
    # the person page lists what was printed for them
    story = client.get(f"/admin/population/person/{head.pk}/change/").content.decode()
    assert "常住人口登记表" in story.split('id="hukou-prints"')[1]


def test_the_transfer_permit_of_a_move_out_is_printed_from_the_story(client, officer, family):
    home, _head, baby = family
    services.move_out(
        person=baby, from_household=home, destination="湖南省长沙市", on=TODAY, actor=officer
    )
    event = RegistrationEvent.objects.get(kind=EventKind.MOVE_OUT)
    client.force_login(officer)
    page = client.get(f"/admin/population/person/{baby.pk}/change/").content.decode()
    href = links(page.split('id="hukou-events"')[1])["打印"]
    html = client.get(href).content.decode()
    assert "户口迁移证" in html
    assert event.document_number in html and "湖南省长沙市" in html and "子" in html
    assert AccessLog.objects.filter(channel="admin.print.transfer_permit").count() == 1


@pytest.mark.parametrize("suffix", ["", "?format=pdf"], ids=["page", "pdf"])
def test_prints_of_another_area_are_not_found_and_not_logged(
    client, django_user_model, village, assign_area, family, suffix
):
    home, head, baby = family
    services.move_out(person=baby, from_household=home, destination="长沙", on=TODAY, actor=None)
    event = RegistrationEvent.objects.get(kind=EventKind.MOVE_OUT)
    town = Region.objects.create(
        code="441802007000",
        name="东城街道",
        level=RegionLevel.TOWNSHIP,
        parent=village.parent.parent,
    )
    other = django_user_model.objects.create_user("east", password="x-Pass-1", is_staff=True)
    other.groups.add(Group.objects.get(name=roles.REGISTRATION_OFFICER))
    assign_area(other, town)
    client.force_login(other)
    before = AccessLog.objects.count()
    for url in (
        f"/admin/registry/registrationevent/person/{head.pk}/register-form/{suffix}",
        f"/admin/registry/registrationevent/{event.pk}/transfer-permit/{suffix}",
        f"/admin/registry/household/{home.pk}/print/{suffix}",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "页面不存在" in response.content.decode(), url
        assert not response.content.startswith(b"%PDF")
    assert AccessLog.objects.count() == before


def test_the_register_form_masks_the_number_without_the_full_id_permission(
    client, django_user_model, village, assign_area, family
):
    from django.contrib.auth.models import Permission

    _, head, _ = family
    user = django_user_model.objects.create_user("stat", password="x-Pass-1", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_person"))
    assign_area(user, village.parent)
    client.force_login(user)
    html = client.get(
        f"/admin/registry/registrationevent/person/{head.pk}/register-form/"
    ).content.decode()
    assert mask_citizen_id(head.citizen_id) in html
    assert head.citizen_id not in html


def test_the_household_history_lists_its_events(client, officer, family):
    home, _head, _baby = family
    client.force_login(officer)
    html = client.get(f"/admin/registry/household/{home.pk}/history/").content.decode()
    assert "此对象没有修改历史" not in html
    events = html.split('id="household-events"')[1]
    assert events.index("迁入") < events.index("出生登记")
    assert "王宝" in events and "户口迁移证 QY77" in events and "赵警官" in events
    assert AccessLog.objects.filter(channel="admin.household_history").exists()


# -- PDF copies ------------------------------------------------------------------------------


def test_each_registry_print_downloads_as_a_pdf_with_the_chinese_font_and_is_logged(
    client, officer, family
):
    from tests.pdf_checks import assert_print_pdf

    home, head, baby = family
    services.move_out(
        person=baby, from_household=home, destination="湖南省长沙市", on=TODAY, actor=officer
    )
    event = RegistrationEvent.objects.get(kind=EventKind.MOVE_OUT)
    client.force_login(officer)
    prints = [
        (
            f"/admin/registry/household/{home.pk}/print/",
            f"户口簿_{home.number}.pdf",
            ["户口簿", home.number, "王大", head.citizen_id, "凤城路1号"],
            "admin.household_print",
        ),
        (
            f"/admin/registry/registrationevent/person/{head.pk}/register-form/",
            f"常住人口登记表_{head.pk}.pdf",
            ["常住人口登记表", "王大", head.citizen_id],
            "admin.print.register_form",
        ),
        (
            f"/admin/registry/registrationevent/{event.pk}/transfer-permit/",
            f"户口迁移证_{event.document_number}.pdf",
            ["户口迁移证", "王宝", event.document_number, "湖南省长沙市"],
            "admin.print.transfer_permit",
        ),
    ]
    for url, filename, shown, channel in prints:
        page = client.get(url).content.decode()
        assert 'href="?format=pdf"' in page and "下载 PDF" in page, url  # the button
        before = AccessLog.objects.filter(channel=f"{channel}.pdf").count()
        assert_print_pdf(client.get(f"{url}?format=pdf"), filename=filename, shown=shown)
        assert AccessLog.objects.filter(channel=f"{channel}.pdf").count() == before + 1, url
    assert AccessLog.objects.get(channel="admin.print.register_form.pdf").person_ids == [head.pk]
    # the person page lists the PDF copies beside the printed pages
    story = client.get(f"/admin/population/person/{head.pk}/change/").content.decode()
    prints = story.split('id="hukou-prints"')[1]
    assert "常住人口登记表（电子版）" in prints and "户口簿（电子版）" in prints
    # an unknown format is the page itself, not a download
    other = client.get(f"/admin/registry/household/{home.pk}/print/?format=docx")
    assert other["Content-Type"].startswith("text/html")


def test_the_pdf_masks_the_number_without_the_full_id_permission(
    client, django_user_model, village, assign_area, family
):
    from django.contrib.auth.models import Permission

    from tests.pdf_checks import assert_print_pdf

    _, head, _ = family
    user = django_user_model.objects.create_user("stat", password="x-Pass-1", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_person"))
    assign_area(user, village.parent)
    client.force_login(user)
    response = client.get(
        f"/admin/registry/registrationevent/person/{head.pk}/register-form/?format=pdf"
    )
    assert_print_pdf(
        response,
        filename=f"常住人口登记表_{head.pk}.pdf",
        shown=["王大", mask_citizen_id(head.citizen_id), "公民身份号码已部分隐去"],
        hidden=[head.citizen_id],
    )
