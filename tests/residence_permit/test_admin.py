"""The officers' admin: queues, eligibility explanation, actions through services, printing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from population.identity import mask_citizen_id
from population.models import AccessLog
from residence_permit import rules, services
from residence_permit.models import (
    ApplicationStatus,
    PermitApplication,
    PermitStatus,
    ResidenceBasis,
    ResidencePermit,
    ResidenceRegistration,
)

pytestmark = pytest.mark.django_db

OFFICER_PERMS = [
    "view_residenceregistration",
    "add_residenceregistration",
    "change_residenceregistration",
    "view_permitapplication",
    "add_permitapplication",
    "change_permitapplication",
    "view_residencepermit",
    "change_residencepermit",
    "view_permitevent",
]


@pytest.fixture
def officer_client(client, django_user_model, city, assign_area):
    def _make(*, printing=True, full_id=False):
        user = django_user_model.objects.create_user(
            f"officer{django_user_model.objects.count()}", is_staff=True
        )
        assign_area(user, city)
        codenames = OFFICER_PERMS + (["print_residencepermit"] if printing else [])
        user.user_permissions.add(
            *Permission.objects.filter(
                content_type__app_label="residence_permit", codename__in=codenames
            )
        )
        if full_id:
            user.user_permissions.add(Permission.objects.get(codename="view_full_citizen_id"))
        client.force_login(user)
        return client

    return _make


def test_the_application_queue_lists_waiting_applications_with_masked_ids(officer_client, resident):
    person = resident(since=dt.date(2024, 1, 1))
    services.permit_application_submit(person=person, actor=None, on=dt.date(2024, 8, 1))
    client = officer_client()

    page = client.get("/admin/residence_permit/applicationqueue/").content.decode()

    assert mask_citizen_id(person.citizen_id) in page
    assert person.citizen_id not in page
    log = AccessLog.objects.get(channel="admin.permit_application_list")
    assert log.person_ids == [person.pk]


def test_an_application_page_explains_eligibility_condition_by_condition(officer_client, resident):
    person = resident(since=dt.date(2024, 1, 1))
    app = services.permit_application_submit(person=person, actor=None, on=dt.date(2024, 8, 1))

    page = officer_client().get(f"/admin/residence_permit/permitapplication/{app.pk}/change/")

    text = page.content.decode()
    assert page.status_code == 200
    for expected in (
        "符合申领条件",
        "居住登记满六个月",
        "✔ 符合",
        "劳动合同 HT-001",
        "？ 缺少证明",
    ):
        assert expected in text
    assert AccessLog.objects.filter(
        channel="admin.permit_application", person_ids=[person.pk]
    ).exists()


def test_the_issue_action_issues_through_the_service(officer_client, resident):
    person = resident(since=dt.date(2024, 1, 1))
    app = services.permit_application_submit(person=person, actor=None, on=dt.date(2024, 8, 1))

    response = officer_client().post(
        "/admin/residence_permit/applicationqueue/",
        {"action": "issue", "_selected_action": [app.pk]},
        follow=True,
    )

    assert "签发居住证：已办理 1 件" in response.content.decode()
    permit = ResidencePermit.objects.get(person=person)
    assert permit.issue_date == timezone.localdate()
    assert PermitApplication.objects.get(pk=app.pk).status == ApplicationStatus.ISSUED
    assert permit.application.decided_by.username.startswith("officer")


def test_a_refused_action_is_a_message_and_changes_nothing(officer_client, resident):
    person = resident(since=timezone.localdate() - dt.timedelta(days=10))
    app = services.permit_application_submit(person=person, actor=None)
    response = officer_client().post(
        "/admin/residence_permit/permitapplication/",
        {"action": "issue", "_selected_action": [app.pk]},
        follow=True,
    )
    assert "不符合申领条件：居住登记满六个月" in response.content.decode()
    assert PermitApplication.objects.get(pk=app.pk).status == ApplicationStatus.SUBMITTED
    assert ResidencePermit.objects.count() == 0


def test_endorsement_and_lapsed_queues(officer_client, resident):
    today = timezone.localdate()
    issued = rules.add_years(today, -1) + dt.timedelta(days=10)  # due in 10 days
    due = resident(since=issued - dt.timedelta(days=200), name="待签注")
    permit = services.permit_issue(
        application=services.permit_application_submit(person=due, actor=None, on=issued),
        actor=None,
        on=issued,
    )
    old = resident(since=dt.date(2023, 8, 31), name="已中止")
    lapsed = services.permit_issue(
        application=services.permit_application_submit(
            person=old, actor=None, on=dt.date(2024, 3, 1)
        ),
        actor=None,
        on=dt.date(2024, 3, 1),
    )
    services.permit_lapse(permit=lapsed, on=dt.date(2025, 6, 1))
    client = officer_client()

    due_page = client.get("/admin/residence_permit/endorsementduequeue/").content.decode()
    lapsed_page = client.get("/admin/residence_permit/lapsedqueue/").content.decode()

    assert permit.number in due_page and lapsed.number not in due_page
    assert lapsed.number in lapsed_page and permit.number not in lapsed_page

    client.post(
        "/admin/residence_permit/endorsementduequeue/",
        {"action": "endorse", "_selected_action": [permit.pk]},
    )
    assert ResidencePermit.objects.get(pk=permit.pk).next_endorsement_due == rules.add_years(
        permit.next_endorsement_due, 1
    )


def test_the_printable_permit_needs_the_print_permission_and_masks_without_full_id_right(
    officer_client, holder
):
    permit = holder()
    url = f"/admin/residence_permit/residencepermit/{permit.pk}/print/"

    masked = officer_client().get(url).content.decode()
    full = officer_client(full_id=True).get(url).content.decode()
    refused = officer_client(printing=False).get(url)

    assert permit.number in masked and mask_citizen_id(permit.person.citizen_id) in masked
    assert permit.person.citizen_id not in masked
    assert permit.person.citizen_id in full
    assert refused.status_code == 403
    assert AccessLog.objects.filter(channel="admin.residence_permit_print").count() == 2


def test_registration_through_the_admin_uses_the_service(officer_client, make_person, village):
    person = make_person()
    response = officer_client().post(
        "/admin/residence_permit/residenceregistration/add/",
        {
            "person": person.pk,
            "address": "凤城路5号",
            "region": village.pk,
            "basis": ResidenceBasis.HOME,
            "start_date": "2024-01-01",
        },
        follow=True,
    )
    assert response.status_code == 200
    person.refresh_from_db()
    assert person.residence_region_id == village.pk
    assert ResidenceRegistration.objects.get(person=person).address == "凤城路5号"
    # A second, overlapping one is refused with a message and nothing is saved.
    response = officer_client().post(
        "/admin/residence_permit/residenceregistration/add/",
        {
            "person": person.pk,
            "address": "凤城路6号",
            "region": village.pk,
            "basis": ResidenceBasis.HOME,
            "start_date": "2024-02-01",
        },
        follow=True,
    )
    # On the field it concerns (the person), the form kept what was typed, nothing saved.
    form = response.context["adminform"].form
    assert form.errors == {"person": ["此人已有未终止的居住登记，请先终止或办理变更居住地址"]}
    assert form.data["address"] == "凤城路6号"
    assert ResidenceRegistration.objects.filter(person=person).count() == 1
    assert ResidencePermit.objects.filter(status=PermitStatus.ACTIVE).count() == 0


def test_queue_pages_take_the_same_number_of_queries_for_one_or_many_rows(
    officer_client, resident, django_assert_num_queries
):
    client = officer_client()

    def waiting(n):
        for i in range(n):
            person = resident(since=dt.date(2024, 1, 1), name=f"申请{i}{n}")
            services.permit_application_submit(person=person, actor=None, on=dt.date(2024, 8, 1))

    def count_queries():
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/admin/residence_permit/applicationqueue/").status_code == 200
        return len(ctx.captured_queries)

    waiting(1)
    one = count_queries()
    waiting(5)
    assert count_queries() == one


def test_the_queue_shows_the_verdict_on_the_latest_evidence(officer_client, resident):
    """Submitted without employment on file: ✘; employment recorded afterwards: ✔ in the
    queue; retracted: ✘ again. The verdict recorded at submission stays as it was."""
    from residence_permit.models import PersonFact, PersonFactKind

    person = resident(since=dt.date(2024, 1, 1), employed=False)
    application = services.permit_application_submit(
        person=person, actor=None, on=dt.date(2024, 8, 1)
    )
    client = officer_client()

    def mark() -> str:
        page = client.get("/admin/residence_permit/applicationqueue/").content.decode()
        assert person.name in page
        return "icon-yes.svg" if "icon-yes.svg" in page else "icon-no.svg"

    assert mark() == "icon-no.svg"
    fact = services.person_fact_record(
        person=person,
        kind=PersonFactKind.EMPLOYMENT,
        start_date=dt.date(2024, 1, 1),
        evidence="劳动合同 HT-002",
        actor=None,
    )
    assert mark() == "icon-yes.svg"
    application.refresh_from_db()
    assert application.eligible_now is True
    assert application.eligibility["eligible"] is False  # the record of the submission
    services.person_fact_retract(fact=PersonFact.objects.get(pk=fact.pk), actor=None, reason="错录")
    assert mark() == "icon-no.svg"


def test_titles_and_messages_name_the_person_not_an_internal_number(officer_client, resident):
    person = resident(since=dt.date(2024, 1, 1))
    application = services.permit_application_submit(
        person=person, actor=None, on=dt.date(2024, 8, 1)
    )
    text = str(application)
    # the person as officers see them (name and masked ID), then the date: no internal number
    masked = mask_citizen_id(person.citizen_id)
    assert text == f"{person.name}（{masked}）{application.submitted_on.isoformat()}申领", text
    assert "#" not in text
    page = officer_client().get(
        f"/admin/residence_permit/permitapplication/{application.pk}/change/"
    )
    assert f"#{application.pk}" not in page.content.decode()


def test_the_list_offers_print_only_to_those_who_may_print_and_the_link_prints(
    officer_client, holder
):
    import re

    permit = holder()
    listing = "/admin/residence_permit/residencepermit/"
    refused = officer_client(printing=False).get(listing).content.decode()
    assert permit.number in refused and "/print/" not in refused
    page = officer_client().get(listing).content.decode()
    href = re.search(r'<a href="([^"]+/print/)">打印</a>', page).group(1)
    printed = officer_client().get(href)
    assert printed.status_code == 200 and permit.number in printed.content.decode()


def test_an_officer_name_on_a_permit_is_text_unless_the_reader_may_open_user_accounts(
    officer_client, resident, django_user_model, city, assign_area, client
):
    colleague = django_user_model.objects.create_user(
        "colleague", is_staff=True, first_name="王", last_name="警官"
    )
    assign_area(colleague, city)
    person = resident(since=dt.date(2023, 8, 31))
    application = services.permit_application_submit(
        person=person, actor=colleague, on=dt.date(2024, 2, 29)
    )
    permit = services.permit_issue(
        application=application, actor=colleague, on=dt.date(2024, 2, 29)
    )
    url = f"/admin/residence_permit/residencepermit/{permit.pk}/change/"

    page = officer_client().get(url).content.decode()
    assert "/admin/auth/user/" not in page
    assert colleague.get_full_name() in page

    root = django_user_model.objects.create_superuser("root", "root@example.org", "x")
    client.force_login(root)
    page = client.get(url).content.decode()
    link = f"/admin/auth/user/{colleague.pk}/change/"
    assert link in page
    assert client.get(link).status_code == 200


REGISTRATION_ADD = "/admin/residence_permit/residenceregistration/add/"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"start_date": "2999-01-01"}, "start_date", "日期不能晚于今天"),
        ({"start_date": "1900-01-01"}, "start_date", "日期早于已有记录"),
        ({"at_hukou": True}, "region", "居住地即户籍地，无需居住登记"),
        ({"address": "   "}, "address", None),  # the form's own 'required' check
    ],
    ids=["future", "before-birth", "at-hukou-address", "blank-address"],
)
def test_a_refused_registration_shows_the_reason_on_its_field_and_saves_nothing(
    officer_client, make_person, village, change, field, message
):
    person = make_person(hukou_region=village if change.pop("at_hukou", False) else None)
    before = person.residence_region_id
    data = {
        "person": person.pk,
        "address": "凤城路5号",
        "region": village.pk,
        "basis": ResidenceBasis.HOME,
        "start_date": "2024-01-01",
    } | change
    response = officer_client().post(REGISTRATION_ADD, data)
    assert response.status_code == 200  # the form again, not a redirect
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field]
    if message:
        assert errors[field] == [message]
    assert "errornote" in response.content.decode()
    assert not ResidenceRegistration.objects.filter(person=person).exists()
    person.refresh_from_db()
    assert person.residence_region_id == before


def test_an_application_without_a_registration_is_refused_on_the_person_field(
    officer_client, make_person
):
    person = make_person(name="钱无登记")
    response = officer_client().post(
        "/admin/residence_permit/permitapplication/add/",
        {"person": person.pk, "submitted_on": str(timezone.localdate())},
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors == {"person": ["此人无有效居住登记，请先办理居住登记"]}
    assert not PermitApplication.objects.filter(person=person).exists()


def test_a_fact_ending_before_it_starts_is_refused_on_the_end_date(
    client, resident, django_user_model, city, assign_area
):
    from django.contrib.auth.models import Group

    from population import roles

    officer = django_user_model.objects.create_user("fact_officer", is_staff=True)
    officer.groups.add(Group.objects.get(name=roles.REGISTRATION_OFFICER))
    client.force_login(assign_area(officer, city))
    person = resident(since=dt.date(2024, 1, 1))
    response = client.post(
        "/admin/residence_permit/personfact/add/",
        {
            "person": person.pk,
            "kind": "employment",
            "start_date": "2024-05-01",
            "end_date": "2024-04-01",
            "evidence": "劳动合同 HT-009",
            "source_name": "清城区人社局",
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"end_date": ["终止日期早于起始日期"]}
    assert not person.permit_facts.filter(evidence="劳动合同 HT-009").exists()


def test_a_deduction_for_someone_without_a_permit_is_refused_on_the_person_field(
    client, make_person, django_user_model, city, assign_area
):
    from django.contrib.auth.models import Group

    from population import roles
    from residence_permit.models import PointsEntry, PointsPolicy

    officer = django_user_model.objects.create_user("points_officer", is_staff=True)
    officer.groups.add(Group.objects.get(name=roles.REGISTRATION_OFFICER))
    officer.user_permissions.add(Permission.objects.get(codename="add_pointsentry"))
    client.force_login(assign_area(officer, city))
    code = next(
        d["code"] for policy in PointsPolicy.objects.all() for d in policy.rules["deductions"]
    )
    person = make_person(name="孙无证")
    response = client.post(
        "/admin/residence_permit/pointsentry/add/",
        {"person": person.pk, "code": code, "evidence": "治安处罚决定书 QY-1"},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"person": ["此人未持有居住证"]}
    assert not PointsEntry.objects.filter(person=person).exists()


def test_the_permit_downloads_as_a_pdf_through_the_same_rules(
    officer_client, holder, django_user_model, city, assign_area
):
    from population.models import Region, RegionLevel
    from tests.pdf_checks import assert_print_pdf

    permit = holder()
    url = f"/admin/residence_permit/residencepermit/{permit.pk}/print/"
    client = officer_client()
    page = client.get(url).content.decode()
    assert 'href="?format=pdf"' in page and "下载 PDF" in page

    response = client.get(f"{url}?format=pdf")
    assert_print_pdf(
        response,
        filename=f"居住证_{permit.number}.pdf",
        shown=["居住证", "李四", permit.number, mask_citizen_id(permit.person.citizen_id)],
        hidden=[permit.person.citizen_id, "首页", "跳到主要内容"],  # no admin chrome
    )
    log = AccessLog.objects.get(channel="admin.residence_permit_print.pdf")
    assert log.person_ids == [permit.person_id]
    assert officer_client(printing=False).get(f"{url}?format=pdf").status_code == 403

    # An officer of another county: the Chinese not-found, no PDF, nothing logged.
    county = Region.objects.create(
        code="441803000000", name="清新区", level=RegionLevel.COUNTY, parent=city
    )
    outsider = django_user_model.objects.create_user("outsider", is_staff=True)
    outsider.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="residence_permit",
            codename__in=[*OFFICER_PERMS, "print_residencepermit"],
        )
    )
    client.force_login(assign_area(outsider, county))
    before = AccessLog.objects.count()
    refused = client.get(f"{url}?format=pdf")
    assert refused.status_code == 404 and "页面不存在" in refused.content.decode()
    assert AccessLog.objects.count() == before
