"""End to end: a supervisor requeues a stuck department batch by clicking, in Chromium.

A batch stopped half-way in 处理中 (its worker's lease lapsed, nobody took it over); next to it a
finished batch. The supervisor ticks both, runs 重新处理, first submits a blank reason (refused
on the field), types the reason, and sees the stuck batch finished (the task runs eagerly, as in
the quickstart) and the finished one refused by name; the batch's page shows the reason in its
event log. The database outcome is asserted at the end.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from playwright.sync_api import expect

from config.celery import app as celery_app
from population import roles
from population.models import OfficerRegion
from population.sync import leases, services
from population.sync.models import Batch, BatchEvent, BatchEventKind, BatchStatus, Fact
from population.sync.samples import sample_feed, sample_persons
from tests.e2e.desk_checks import follow, page_ok
from tests.sync.helpers import make_people

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Pc-2024-批次-e2e!"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"
REASON = "采集服务器断电，批次停在处理中，人工重新处理"
DEAD_WORKER = "采集服务器:4242:0001"


def stuck_batch() -> Batch:
    """A batch whose worker died after two chunks: processing, its lease lapsed."""
    feed = sample_feed(kind="death", persons=sample_persons(), rows=60, seed=21)
    batch = services.batch_receive(
        department="health", content=feed.content, filename="死亡医学证明2025.CSV", fmt="csv",
        feed="death", source="api", enqueue=False,
    )  # fmt: skip
    leases.lease_claim(batch_id=batch.pk, owner=DEAD_WORKER)

    class Killed(BaseException):
        pass

    def killed_after_two_chunks(b):
        if b.committed_line >= 20:
            raise Killed

    with pytest.raises(Killed):
        services.batch_process(
            batch_id=batch.pk, owner=DEAD_WORKER, progress=killed_after_two_chunks
        )
    # A killed process releases nothing: its lease stays, lapsed.
    with connection.cursor() as cursor:
        cursor.execute(
            """UPDATE population_batch SET lease_owner = %s,
                   lease_expires_at = clock_timestamp() - interval '5 minutes' WHERE id = %s""",
            [DEAD_WORKER, batch.pk],
        )
    return Batch.objects.defer("content").get(pk=batch.pk)


def test_a_supervisor_requeues_a_stuck_batch_with_a_reason(
    page, live_server, admin_login, make_person, city, settings, monkeypatch
):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    settings.SYNC_CHUNK_ROWS = 10
    make_people(make_person, 30)
    stuck = stuck_batch()
    assert (stuck.status, stuck.committed_line) == (BatchStatus.PROCESSING, 20)
    finished_feed = sample_feed(kind="death", persons=sample_persons(), rows=5, seed=22, start=1001)
    finished = services.batch_process(
        batch_id=services.batch_receive(
            department="health", content=finished_feed.content, filename="死亡医学证明2024.CSV",
            fmt="csv", feed="death", source="api", enqueue=False,
        ).pk
    )  # fmt: skip
    user = User.objects.create_user("主管丙", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=roles.SUPERVISOR))
    OfficerRegion.objects.create(user=user, region=city)

    admin_login("主管丙", PASSWORD)
    page_ok(page)
    follow(page, lambda: page.locator("#content-main tr.model-batch th a").click())
    row = page.locator("#result_list tbody tr", has_text="死亡医学证明2025")
    expect(row).to_contain_text("处理中")
    row.locator("input.action-select").check()
    page.locator("#result_list tbody tr", has_text="死亡医学证明2024").locator(
        "input.action-select"
    ).check()
    page.select_option("select[name=action]", "requeue")
    follow(page, lambda: page.get_by_role("button", name="执行").click())

    # The page asking for the reason: both batches listed, the finished one marked.
    expect(page.locator("h1")).to_contain_text("重新处理部门数据批次")
    expect(page.locator("#requeue-batches")).to_contain_text("处理中")
    expect(page.locator(".errornote")).to_contain_text("其中1个批次已处理完成，将不会重新处理")
    expect(page.locator(".field-reason .help")).to_contain_text("记入批次事件日志和变更历史")
    page.fill("#id_reason", "   ")  # blank to the server (the browser requires a value)
    follow(page, lambda: page.get_by_role("button", name="确认重新处理").click())
    expect(page.locator(".field-reason .errorlist")).to_contain_text("请填写重新处理的原因")
    assert Batch.objects.get(pk=stuck.pk).status == BatchStatus.PROCESSING

    page.fill("#id_reason", REASON)
    page.screenshot(path=str(SHOTS / "batch-requeue-reason.png"), full_page=True)
    follow(page, lambda: page.get_by_role("button", name="确认重新处理").click())
    expect(page.locator(".messagelist .success")).to_contain_text(
        f"已重新处理1个批次（批次{stuck.pk}），原因：{REASON}"
    )
    expect(page.locator(".messagelist .error")).to_contain_text(
        f"批次{finished.pk}已处理完成，不能重新处理"
    )
    done_row = page.locator("#result_list tbody tr", has_text="死亡医学证明2025")
    expect(done_row).to_contain_text("已完成")
    expect(done_row).to_contain_text("100%")
    page.screenshot(path=str(SHOTS / "batch-requeue.png"), full_page=True)

    # The batch's page: the event log names the dead worker and keeps the reason. (Worker
    # names are host names, data rather than words of the interface.)
    with page.expect_navigation():
        done_row.locator("th a").click()
    events = page.locator("#events-group")
    expect(events).to_contain_text("人工重新处理")
    expect(events).to_contain_text(REASON)
    expect(events).to_contain_text(DEAD_WORKER)
    expect(events).to_contain_text("租约")

    b = Batch.objects.get(pk=stuck.pk)
    assert (b.status, b.attempts, b.requeues, b.lease_owner) == ("done", 1, 1, "")
    assert (b.received, b.applied, b.rejected) == (60, 60, 0)
    assert Fact.objects.filter(batch_id=stuck.pk).count() == 60
    event = BatchEvent.objects.get(batch=b, kind=BatchEventKind.REQUEUED)
    assert (event.reason, event.actor, event.previous_worker) == (REASON, user, DEAD_WORKER)
    assert Batch.objects.get(pk=finished.pk).requeues == 0
