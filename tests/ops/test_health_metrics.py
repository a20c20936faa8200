"""/health/, /metrics and the JSON request logs (ops/)."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from ops.backup import marker_of
from population.identity import build_citizen_id
from tests.sharing.conftest import Caller, make_client  # noqa: F401

pytestmark = pytest.mark.django_db


def _health(client):
    response = client.get("/health/")
    body = response.json()
    assert set(body["components"]) >= {
        "database",
        "redis",
        "celery",
        "disk",
        "audit_sealing",
        "backup",
    }
    return response.status_code, body


def _unsealed_read(age: dt.timedelta):
    from population.models import AccessLog

    return AccessLog.objects.create(
        at=timezone.now() - age,
        user_id=None,
        username="",
        channel="test",
        purpose="test",
        person_ids=[1],
        fields=["name"],
    )


def _finished_backup(folder, finished: dt.datetime):
    base = folder / "base" / finished.strftime("%Y%m%dT%H%M%S")
    base.mkdir(parents=True)
    marker_of(base).write_text(
        json.dumps(
            {
                "started_at": (finished - dt.timedelta(minutes=5)).isoformat(),
                "finished_at": finished.isoformat(),
                "start_wal": "000000010000000000000002",
            }
        )
    )


def test_health_is_200_and_reports_each_component_when_all_is_well(client, tmp_path):
    _finished_backup(tmp_path, dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    with override_settings(BACKUP_DIR=str(tmp_path)):
        status, body = _health(client)
    assert status == 200, body
    parts = body["components"]
    for name in ("database", "redis", "disk", "audit_sealing", "backup"):
        assert parts[name]["status"] == "ok", (name, parts[name])
    # No worker runs in this test: a warning, not a failure (ops/health.py says why).
    assert parts["celery"]["status"] in {"ok", "warning"}
    assert body["status"] in {"ok", "warning"}


def test_health_is_503_when_redis_is_unreachable(client):
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        status, body = _health(client)
    assert status == 503
    assert body["status"] == "failing"
    assert body["components"]["redis"]["status"] == "failing"
    assert "unreachable" in body["components"]["redis"]["detail"]
    assert "127.0.0.1" not in json.dumps(body)  # no addresses in the answer
    assert body["components"]["database"]["status"] == "ok"


def test_health_fails_on_a_row_left_unsealed_past_the_limit(client):
    _unsealed_read(dt.timedelta(seconds=settings.AUDIT_SEAL_MAX_DELAY_SECONDS - 60))
    status, body = _health(client)
    assert body["components"]["audit_sealing"]["status"] == "ok"
    _unsealed_read(dt.timedelta(seconds=settings.AUDIT_SEAL_MAX_DELAY_SECONDS + 60))
    status, body = _health(client)
    assert status == 503
    assert body["components"]["audit_sealing"]["status"] == "failing"


def test_health_backup_states(client, tmp_path):
    status, body = _health(client)
    assert body["components"]["backup"]["status"] == "warning"  # BACKUP_DIR unset
    with override_settings(BACKUP_DIR=str(tmp_path)):
        status, body = _health(client)
        assert status == 503 and "no finished base backup" in body["components"]["backup"]["detail"]
        _finished_backup(tmp_path, dt.datetime.now(dt.UTC) - dt.timedelta(hours=30))
        status, body = _health(client)
        assert status == 503 and "30 h old" in body["components"]["backup"]["detail"]
        # A backup still being written (no marker yet) does not count, nor a marker whose
        # folder is gone.
        (tmp_path / "base" / ".20990101T000000.partial").mkdir()
        marker_of(tmp_path / "base" / "20990101T000000").write_text("{}")
        status, body = _health(client)
        assert status == 503


def test_health_fails_when_the_disk_is_short(client):
    with override_settings(HEALTH_DISK_MIN_FREE_PERCENT=100):
        status, body = _health(client)
    assert status == 503 and body["components"]["disk"]["status"] == "failing"


def test_metrics_expose_popbase_figures_without_personal_data(client, make_client):  # noqa: F811
    from population.statistics.models import StatSnapshot
    from population.sync.models import Batch

    _unsealed_read(dt.timedelta(seconds=30))
    Batch.objects.create(
        department="hrss",
        feed="employment",
        schema_version=1,
        fmt="csv",
        encoding="utf-8",
        source="api",
        filename="x.csv",
        content=b"",
        content_sha256="0" * 64,
        size_bytes=0,
        status="done",
        received=10,
        applied=6,
        unchanged=1,
        rejected=3,
    )
    StatSnapshot.objects.create(
        month=dt.date(2026, 10, 31),
        region_code="441800000000",
        level=2,
        registered_total=10,
        registered_urban=5,
        resident_total=10,
        resident_urban=5,
    )
    from ops.models import TaskFailure

    TaskFailure.objects.create(task_id="t1", task_name="population.audit_verify", exception="E")
    _api_client, key = make_client(code="hrss-pension")
    citizen_id = build_citizen_id("441802", dt.date(1990, 1, 1), 7)
    assert Caller(key).get(f"/api/v1/persons/{citizen_id}").status_code == 404
    assert Caller(None).get(f"/api/v1/persons/{citizen_id}").status_code == 401

    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    text = response.content.decode()
    assert "popbase_audit_unsealed_rows 1.0" in text
    oldest = next(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("popbase_audit_oldest_unsealed_seconds ")
    )
    assert 29 <= oldest < 120
    assert 'popbase_feed_rows_total{department="hrss",outcome="rejected"} 3.0' in text
    assert 'popbase_feed_rows_total{department="hrss",outcome="applied"} 6.0' in text
    assert 'popbase_feed_batches{status="done"} 1.0' in text
    assert 'popbase_api_requests_total{client="hrss-pension",status="404"}' in text
    assert 'popbase_api_requests_total{client="-",status="401"}' in text
    assert "popbase_stats_snapshot_age_seconds" in text
    assert "popbase_celery_queue_length{" in text
    assert 'popbase_celery_task_failures_total{task="population.audit_verify"} 1.0' in text
    assert "django_http_requests_total_by_method_total" in text  # django-prometheus
    assert citizen_id not in text and citizen_id[:6] + "********" not in text


def test_metrics_are_refused_to_other_addresses_without_the_token(client):
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    with override_settings(METRICS_TOKEN="s3cret-token"):
        assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
        wrong = {"HTTP_AUTHORIZATION": "Bearer nope"}
        assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", **wrong).status_code == 403
        right = {"HTTP_AUTHORIZATION": "Bearer s3cret-token"}
        assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", **right).status_code == 200
    # Behind one proxy the address is the one the proxy forwarded, not the proxy's own.
    forwarded = {"HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    with override_settings(TRUSTED_PROXY_COUNT=1):
        assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", **forwarded).status_code == 403
        local = {"HTTP_X_FORWARDED_FOR": "127.0.0.1"}
        assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", **local).status_code == 200


@pytest.fixture
def json_log():
    """A handler built as settings build the console one for LOG_FORMAT=json, into a buffer."""
    from django.utils.module_loading import import_string

    from ops.logs import RequestIdFilter
    from population.logging import MaskCitizenIdFilter

    options = dict(settings.LOGGING["formatters"]["json"])
    formatter = import_string(options.pop("()"))(**options)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(formatter)
    handler.addFilter(MaskCitizenIdFilter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield buffer
    root.removeHandler(handler)


def test_json_logs_carry_the_request_id_and_mask_citizen_ids(client, json_log):
    citizen_id = build_citizen_id("441802", dt.date(1990, 1, 1), 9)
    response = client.get(f"/admin/?q={citizen_id}", HTTP_X_REQUEST_ID="req-42.ops")
    assert response["X-Request-ID"] == "req-42.ops"
    logging.getLogger("popbase.test").error("looked up %s", citizen_id)
    try:
        raise ValueError(f"bad {citizen_id}")
    except ValueError:
        logging.getLogger("popbase.test").exception("failed")
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    access = [r for r in lines if r["logger"] == "popbase.request"]
    assert access and access[0]["request_id"] == "req-42.ops"
    assert access[0]["path"] == "/admin/" and access[0]["status"] == 302
    assert {"time", "level", "message"} <= set(access[0])
    assert citizen_id not in json_log.getvalue()
    assert any(
        r["message"] == f"looked up {citizen_id[:6]}********{citizen_id[-4:]}" for r in lines
    )
    assert any("bad 441802********" in r.get("exc_info", "") for r in lines)
    # Outside a request the id is "-".
    assert next(r for r in lines if r["logger"] == "popbase.test")["request_id"] == "-"
