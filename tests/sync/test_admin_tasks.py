"""Department sync in the admin (roles, progress, rejected rows, quarantine) and its task."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from population import roles
from population.models import AccessLog
from population.sync import services
from population.sync.models import Batch, BatchEvent, BatchEventKind, BatchStatus, Fact, FollowUp
from population.sync.samples import sample_feed, sample_persons
from population.sync.tasks import batch_process_task
from tests.sync.helpers import make_people

pytestmark = pytest.mark.django_db

PASSWORD = "x-Strong-pass-1"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def login(client, django_user_model, city, assign_area):
    def _login(role: str):
        user = django_user_model.objects.create_user(role, password=PASSWORD, is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        assign_area(user, city)  # the whole city: persons with no region too
        client.force_login(user)
        return client

    return _login


@pytest.fixture
def batch(make_person):
    make_people(make_person)
    feed = sample_feed(
        kind="death", persons=sample_persons(), rows=20, seed=3, faults={"unknown_id": 2}
    )
    batch = services.batch_receive(
        department="health", content=feed.content, filename="death_1.csv", fmt="csv",
        source="api", enqueue=False,
    )  # fmt: skip
    return services.batch_process(batch_id=batch.pk)


def test_a_supervisor_sees_batches_with_progress_and_downloads_rejected_rows(batch, login):
    client = login(roles.SUPERVISOR)

    page = client.get("/admin/sync/batch/")
    detail = client.get(f"/admin/sync/batch/{batch.pk}/change/")
    download = client.get(f"/admin/sync/batch/{batch.pk}/rejected.csv")

    assert page.status_code == detail.status_code == download.status_code == 200
    assert '<progress max="100" value="100"></progress> 100%' in page.content.decode()
    assert f"/admin/sync/batch/{batch.pk}/rejected.csv" in detail.content.decode()
    lines = b"".join(download.streaming_content).decode().lstrip("\ufeff").splitlines()
    assert [line.split(",")[1] for line in lines] == ["reason_code", *["unknown_person"] * 2]
    # The supervisor may see full numbers: the unknown ones are in the download unmasked.
    assert AccessLog.objects.filter(channel="admin.sync_rejected_rows").count() == 1


def test_a_statistician_has_no_access_to_batches_or_rejected_rows(batch, login):
    client = login(roles.STATISTICIAN)
    assert client.get("/admin/sync/batch/").status_code == 403
    assert client.get(f"/admin/sync/batch/{batch.pk}/rejected.csv").status_code == 403


def test_officers_list_follow_ups_and_the_list_read_is_audited(batch, login):
    client = login(roles.REGISTRATION_OFFICER)
    page = client.get("/admin/sync/followup/?kind=death_cancellation")
    assert page.status_code == 200
    assert len(page.context["cl"].result_list) == FollowUp.objects.count() == 18
    log = AccessLog.objects.get(channel="admin.sync_followup_list")
    assert sorted(log.person_ids) == sorted(set(FollowUp.objects.values_list("person_id", flat=1)))


def test_a_quarantined_batch_is_requeued_from_the_admin_with_a_reason(batch, login):
    Batch.objects.filter(pk=batch.pk).update(status=BatchStatus.QUARANTINED)
    client = login(roles.SUPERVISOR)
    asked = client.post("/admin/sync/batch/", {"action": "requeue", "_selected_action": [batch.pk]})
    # The first submission only asks for the reason.
    assert asked.status_code == 200
    assert "重新处理原因" in asked.content.decode()
    assert Batch.objects.get(pk=batch.pk).status == BatchStatus.QUARANTINED

    response = client.post(
        "/admin/sync/batch/",
        {
            "action": "requeue",
            "apply": "1",
            "_selected_action": [batch.pk],
            "reason": "部门已更正文件编码",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert f"已重新处理1个批次（批次{batch.pk}），原因：部门已更正文件编码" in (
        response.content.decode()
    )
    batch.refresh_from_db()
    assert (batch.status, batch.attempts, batch.requeues) == (BatchStatus.RECEIVED, 0, 1)
    event = BatchEvent.objects.get(batch=batch, kind=BatchEventKind.REQUEUED)
    assert (event.reason, event.actor.username) == ("部门已更正文件编码", roles.SUPERVISOR)


@pytest.mark.parametrize("reason", ["", "   ", "长" * 501])
def test_a_requeue_without_a_valid_reason_is_refused_on_its_field(batch, login, reason):
    Batch.objects.filter(pk=batch.pk).update(status=BatchStatus.QUARANTINED)
    client = login(roles.SUPERVISOR)
    response = client.post(
        "/admin/sync/batch/",
        {"action": "requeue", "apply": "1", "_selected_action": [batch.pk], "reason": reason},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert ("原因不能超过500个字" if reason.strip() else "请填写重新处理的原因") in page
    batch.refresh_from_db()
    assert (batch.status, batch.requeues) == (BatchStatus.QUARANTINED, 0)
    assert not BatchEvent.objects.filter(kind=BatchEventKind.REQUEUED).exists()


def test_a_finished_batch_is_refused_by_name_and_left_as_it_was(batch, login):
    client = login(roles.SUPERVISOR)
    before = Batch.objects.filter(pk=batch.pk).values().get()
    asked = client.post("/admin/sync/batch/", {"action": "requeue", "_selected_action": [batch.pk]})
    assert "已处理完成，将不会重新处理" in asked.content.decode()
    response = client.post(
        "/admin/sync/batch/",
        {"action": "requeue", "apply": "1", "_selected_action": [batch.pk], "reason": "误操作"},
        follow=True,
    )
    page = response.content.decode()
    assert f"批次{batch.pk}已处理完成，不能重新处理" in page
    assert "已重新处理" not in page
    assert Batch.objects.filter(pk=batch.pk).values().get() == before
    assert not BatchEvent.objects.filter(kind=BatchEventKind.REQUEUED).exists()


def test_a_task_whose_batch_keeps_failing_retries_then_quarantines(make_person, settings):
    settings.SYNC_MAX_ATTEMPTS = 3
    make_people(make_person)
    feed = sample_feed(kind="degree", persons=sample_persons(), rows=5, seed=3)
    batch = services.batch_receive(
        department="edu", content=feed.content, filename="degree.csv", fmt="csv",
        source="api", enqueue=False,
    )  # fmt: skip
    # A version the code does not know: every attempt fails the same way.
    Batch.objects.filter(pk=batch.pk).update(schema_version=9)

    # Run in-process (apply), each retry runs at once instead of after its backoff.
    conf = batch_process_task.app.conf
    propagates, conf.task_eager_propagates = conf.task_eager_propagates, False
    try:
        result = batch_process_task.apply(args=[batch.pk])
    finally:
        conf.task_eager_propagates = propagates

    batch.refresh_from_db()
    assert result.get() == BatchStatus.QUARANTINED
    assert (batch.status, batch.attempts) == (BatchStatus.QUARANTINED, 3)
    assert batch.last_error.startswith("KeyError")
    assert not Fact.objects.exists()


def test_a_task_for_a_wrong_file_quarantines_without_retrying(make_person):
    make_people(make_person)
    feed = sample_feed(kind="degree", persons=sample_persons(), rows=5, seed=3)
    batch = services.batch_receive(
        department="edu", content=feed.content, filename="degree.csv", fmt="csv",
        source="api", enqueue=False,
    )  # fmt: skip
    Batch.objects.filter(pk=batch.pk).update(content=b"\xff\xfe\xfa" * 4)

    assert batch_process_task.apply(args=[batch.pk]).get() == BatchStatus.QUARANTINED
    batch.refresh_from_db()
    assert batch.attempts == 1
    assert "undecodable" not in batch.last_error and "UTF-8" in batch.last_error


def test_an_officer_closes_follow_ups_and_an_auditor_may_not(batch, login, client):
    item = FollowUp.objects.order_by("id").first()
    auditor = login(roles.AUDITOR)
    refused = auditor.post(
        "/admin/sync/followup/", {"action": "close", "_selected_action": [item.pk]}
    )
    assert refused.status_code == 403
    item.refresh_from_db()
    assert item.status == "open"

    officer = login(roles.REGISTRATION_OFFICER)
    officer.post("/admin/sync/followup/", {"action": "close", "_selected_action": [item.pk]})
    item.refresh_from_db()
    assert (item.status, item.closed_by.username) == ("closed", roles.REGISTRATION_OFFICER)
    assert FollowUp.objects.filter(status="open").count() == 17


def test_an_auditor_may_read_batches_but_not_requeue_them(batch, login):
    Batch.objects.filter(pk=batch.pk).update(status=BatchStatus.QUARANTINED)
    client = login(roles.AUDITOR)
    page = client.get("/admin/sync/batch/")
    assert page.status_code == 200
    assert "requeue" not in page.content.decode()  # the action is not offered
    client.post(
        "/admin/sync/batch/",
        {"action": "requeue", "apply": "1", "_selected_action": [batch.pk], "reason": "试试"},
    )
    batch.refresh_from_db()
    assert (batch.status, batch.requeues) == (BatchStatus.QUARANTINED, 0)
    assert not BatchEvent.objects.filter(kind=BatchEventKind.REQUEUED).exists()
