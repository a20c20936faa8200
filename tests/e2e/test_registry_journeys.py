"""Registry desk journeys in the real admin, in headless Chromium: after logging in the officer
only clicks and types. Each journey checks the database outcome, and every page it passes is
checked for errors, English and Python internals (``assert_clean_page``). The last page of each
journey is saved under docs/img/ for the officer guide."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import assert_clean_page, watch_documents

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Hj-2024-户籍-e2e!"
IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def _staff(username: str, role: str, region, shown: str):
    from django.contrib.auth.models import Group, User

    from population.models import OfficerRegion

    user = User.objects.create_user(username, password=PASSWORD, is_staff=True, first_name=shown)
    user.groups.add(Group.objects.get(name=role))
    OfficerRegion.objects.create(user=user, region=region)
    return user


@pytest.fixture
def desk(village, make_person):
    """A family (王大 head, 李二 wife, 王小 son), a second family, an officer and a supervisor."""
    from population import roles
    from population.codes import Relation
    from registry import services

    def household(address):
        return services.household_create(kind="family", address=address, region=village, actor=None)

    def settle(name, hh, relation, male=True, born=dt.date(1980, 1, 1)):
        person = make_person(name=name, male=male, born=born)
        services.move_in(
            citizen_id=person.citizen_id, name=name, household=hh, relation=relation,
            transfer_permit_number="QY1", on=dt.date(2020, 1, 1), actor=None,
        )  # fmt: skip
        return person

    home = household("凤城路1号")
    head = settle("王大", home, Relation.HEAD)
    wife = settle("李二", home, Relation.WIFE, male=False)
    son = settle("王小", home, Relation.SON, born=dt.date(2001, 6, 1))
    other = household("凤城路9号")
    settle("陈户主", other, Relation.HEAD, born=dt.date(1950, 3, 3))
    return SimpleNamespace(
        home=home, head=head, wife=wife, son=son, other=other,
        officer=_staff("clerk_reg", roles.REGISTRATION_OFFICER, village.parent, "赵警官"),
        supervisor=_staff("chief_reg", roles.SUPERVISOR, village.parent, "钱主管"),
    )  # fmt: skip


@pytest.fixture
def officer_page(page, admin_login, desk):
    watch_documents(page)
    admin_login(desk.officer.username, PASSWORD)
    assert_clean_page(page)
    return page


def open_person(page, name: str):
    page.locator("#content-main a[href$='/population/person/']").first.click()
    page.fill("#searchbar", name)
    page.press("#searchbar", "Enter")
    assert_clean_page(page)
    page.locator("#result_list tbody tr th a").first.click()
    assert_clean_page(page)


def open_household(page, member_name: str):
    page.locator("#content-main a[href$='/registry/household/']").first.click()
    page.fill("#searchbar", member_name)
    page.press("#searchbar", "Enter")
    assert_clean_page(page)
    page.locator("#result_list tbody tr th a").first.click()
    assert_clean_page(page)


def button(page, label: str):
    page.locator(".object-tools a", has_text=label).first.click()
    assert_clean_page(page)


def go_home(page):
    page.locator("#site-name a").click()
    assert_clean_page(page)


def shot(page, name: str):
    IMG.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMG / name), full_page=True)


def test_birth_with_the_new_number_on_the_printed_household_book(officer_page, desk, tmp_path):
    from population.models import Person
    from registry.models import Membership

    page = officer_page
    open_household(page, "王大")
    button(page, "出生登记")
    born = dt.date.today() - dt.timedelta(days=5)  # noqa: DTZ011 (the browser's local date)
    page.fill("#id_name", "王宝宝")
    page.select_option("#id_sex", label="女")
    page.fill("#id_birth_date", born.isoformat())
    page.fill("#id_birth_certificate_number", "O440000077")
    # a second head is refused on the relation field, nothing registered
    page.select_option("#id_relation", label="户主")
    page.click("input[type=submit]")
    assert_clean_page(page)
    expect(page.locator(".field-relation .errorlist")).to_contain_text("不能为户主或本人")
    assert not Person.objects.filter(name="王宝宝").exists()
    page.select_option("#id_relation", label="孙女")
    page.click("input[type=submit]")
    assert_clean_page(page)

    baby = Person.objects.get(name="王宝宝")
    assert Membership.objects.get(person=baby, end_date__isnull=True).household == desk.home
    expect(page.locator(".messagelist")).to_contain_text(f"公民身份号码{baby.citizen_id}")
    with page.context.expect_page() as printed:
        button(page, "打印户口簿")
    book = printed.value
    book.wait_for_load_state()
    watch_documents(book)
    assert_clean_page(book)
    expect(book.locator("body")).to_contain_text(baby.citizen_id)
    expect(book.locator("body")).to_contain_text("王宝宝")
    shot(book, "registry-birth.png")

    # the same book as a PDF: downloaded with a Chinese name, the CJK font embedded, logged
    from population.models import AccessLog
    from tests.pdf_checks import pdf_fonts_and_text

    with book.expect_download() as download:
        book.get_by_role("link", name="下载 PDF").click()
    assert download.value.suggested_filename == f"户口簿_{desk.home.number}.pdf"
    pdf = tmp_path / "book.pdf"
    download.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF-")
    fonts, text = pdf_fonts_and_text(pdf.read_bytes())
    assert "WenQuanYi" in fonts or "CJK" in fonts
    assert "王宝宝" in text and baby.citizen_id in text
    assert AccessLog.objects.filter(channel="admin.household_print.pdf").count() == 1


def test_move_within_the_city(officer_page, desk):
    from population.codes import Relation
    from registry.models import Membership

    page = officer_page
    open_person(page, "王小")
    button(page, "市内迁移")
    page.fill("#id_to_household", desk.other.number)
    page.select_option("#id_relation", label="孙子")
    page.fill("#id_reason", "投靠祖父")
    page.click("input[type=submit]")
    assert_clean_page(page)
    expect(page.locator(".messagelist")).to_contain_text("已办理市内迁移")
    membership = Membership.objects.get(person=desk.son, end_date__isnull=True)
    assert (membership.household, membership.relation) == (desk.other, Relation.GRANDSON)
    # the person page tells the story and links to the new household
    expect(page.locator("#hukou-current")).to_contain_text(desk.other.number)
    expect(page.locator("#hukou-events")).to_contain_text("市内迁移")
    # the 常住人口登记表 shows the new household and where the person came from
    button(page, "打印常住人口登记表")
    expect(page.locator("body")).to_contain_text(desk.other.number)
    expect(page.locator("body")).to_contain_text("由本市凤城路1号迁来（市内迁移）")
    page.go_back()
    assert_clean_page(page)
    page.locator("#hukou-current a", has_text=desk.other.number).click()
    assert_clean_page(page)
    expect(page.locator("#content h2").first).to_be_visible()
    expect(page.locator("body")).to_contain_text("王小")
    shot(page, "registry-move.png")


def test_death(officer_page, desk):
    from population.models import Person, PersonStatus

    page = officer_page
    open_person(page, "李二")
    button(page, "死亡注销")
    # missing certificate: the error sits on its own field and nothing changes
    page.click("input[type=submit]")
    assert_clean_page(page)
    expect(page.locator(".field-document_number .errorlist")).to_contain_text("死亡医学证明")
    assert Person.objects.get(pk=desk.wife.pk).status == PersonStatus.ACTIVE
    page.fill("#id_document_number", "SW2026009")
    page.click("input[type=submit]")
    assert_clean_page(page)
    assert Person.objects.get(pk=desk.wife.pk).status == PersonStatus.DECEASED
    expect(page.locator("#hukou-events")).to_contain_text("死亡注销")
    page.locator("a.historylink").click()
    assert_clean_page(page)
    expect(page.locator("#hukou-events")).to_contain_text("SW2026009")
    shot(page, "registry-death.png")


def test_correction_proposed_by_an_officer_and_approved_by_a_supervisor(
    officer_page, admin_login, desk
):
    from registry.models import Correction, CorrectionStatus, EventKind, RegistrationEvent

    page = officer_page
    open_person(page, "王小")
    button(page, "变更更正登记")
    page.select_option("#id_field", label="姓名")
    page.fill("#id_new_value", "王晓")
    page.select_option("#id_document_type", label="出生医学证明")
    page.fill("#id_document_number", "O44123")
    page.fill("#id_reason", "登记时姓名录入错误")
    page.click("input[type=submit]")
    assert_clean_page(page)
    expect(page.locator(".messagelist")).to_contain_text("待户籍主管审批")
    desk.son.refresh_from_db()
    assert desk.son.name == "王小"
    page.locator("#logout-form button").click()

    admin_login(desk.supervisor.username, PASSWORD)
    assert_clean_page(page)
    page.locator("#content-main a[href$='/registry/correction/']").first.click()
    assert_clean_page(page)
    page.locator("#result_list tbody tr th a").first.click()
    assert_clean_page(page)
    button(page, "审批")
    expect(page.locator(".correction-change")).to_have_text("王小 → 王晓")
    page.click("button[value=approve]")
    assert_clean_page(page)

    desk.son.refresh_from_db()
    assert desk.son.name == "王晓"
    correction = Correction.objects.get()
    assert (correction.status, correction.decided_by_id) == (
        CorrectionStatus.APPROVED,
        desk.supervisor.pk,
    )
    assert RegistrationEvent.objects.get(kind=EventKind.CORRECTION).details["new"] == "王晓"
    expect(page.locator("#hukou-events")).to_contain_text("姓名：王小 → 王晓")
    shot(page, "registry-correction.png")


def test_split_a_household(officer_page, desk):
    from population.codes import Relation
    from registry.models import Household, Membership

    page = officer_page
    open_household(page, "王大")
    button(page, "分户")
    page.select_option(f"#id_member_{desk.son.pk}", label="户主")
    page.fill("#id_address", "凤城路1号之二")
    page.click("input[type=submit]")
    assert_clean_page(page)
    new = Household.objects.get(address="凤城路1号之二")
    expect(page.locator(".messagelist")).to_contain_text(new.number)
    membership = Membership.objects.get(person=desk.son, end_date__isnull=True)
    assert (membership.household, membership.relation) == (new, Relation.HEAD)
    # the officer types the new number from the message into the household search
    go_home(page)
    open_household(page, new.number)
    expect(page.locator("#id_address")).to_have_value("凤城路1号之二")
    expect(page.locator(".field-person_link").first).to_contain_text("王小")
    shot(page, "registry-split.png")
