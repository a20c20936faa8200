"""Department clients and keys: hashed, shown once, expiring, rotated, revoked."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from population.errors import Conflict, DomainError, NotFound
from population.sharing import services
from population.sharing.keycache import api_keys_changed
from population.sharing.models import ApiClient, ApiKey
from tests.sharing.conftest import Caller, assert_error


def _ok(key: str) -> int:
    return Caller(key).get("/api/v1/changes").status_code


def test_only_a_prefix_and_a_sha512_hash_are_stored(make_client):
    client, secret = make_client()
    prefix, _, rest = secret.partition(".")
    stored = ApiKey.objects.get(client=client)
    assert stored.prefix == prefix and len(rest) == 32
    assert stored.hashed_key == "sha512$$" + hashlib.sha512(secret.encode()).hexdigest()
    assert rest not in stored.hashed_key and rest not in stored.id
    assert _ok(secret) == 200


def test_rotation_keeps_the_old_key_for_the_grace_period_only(make_client):
    client, old = make_client()
    _key, new = services.api_key_rotate(client=client, actor=None, grace=dt.timedelta(hours=1))
    assert _ok(old) == 200 and _ok(new) == 200
    old_row = ApiKey.objects.get(prefix=old.split(".")[0])
    assert timezone.now() < old_row.expiry_date <= timezone.now() + dt.timedelta(hours=1)
    ApiKey.objects.filter(pk=old_row.pk).update(expiry_date=timezone.now())
    api_keys_changed()  # an edit behind the services' back drops verified keys, as they do
    assert_error(Caller(old).get("/api/v1/changes"), 401, "api_key_expired")
    assert _ok(new) == 200


def test_rotation_without_grace_revokes_at_once(make_client):
    client, old = make_client()
    _key, new = services.api_key_rotate(client=client, actor=None, grace=dt.timedelta(0))
    assert_error(Caller(old).get("/api/v1/changes"), 401, "api_key_revoked")
    assert _ok(new) == 200


def test_revocation_cannot_be_undone(make_client):
    _client, secret = make_client()
    services.api_key_revoke(prefix=secret.split(".")[0], actor=None)
    key = ApiKey.objects.get(prefix=secret.split(".")[0])
    key.revoked = False
    with pytest.raises(Exception, match="revoked"):
        key.save()
    with pytest.raises(NotFound):
        services.api_key_revoke(prefix="nosuchpf", actor=None)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"department": "police"}, "bad_department"),
        ({"code": "Bad Code"}, "bad_client_code"),
        ({"endpoints": ["persons", "everything"]}, "unknown_scope_value"),
        ({"purposes": ["curiosity"]}, "unknown_scope_value"),
        ({"person_fields": ["password"]}, "unknown_scope_value"),
        ({"change_kinds": ["gossip"]}, "unknown_scope_value"),
        ({"facts": ["net_worth"]}, "unknown_scope_value"),
        ({"region_prefixes": ["44a"]}, "invalid_region_prefix"),
        ({"rate_limit_per_minute": 0}, "invalid_rate_limit"),
        ({"expires_at": timezone.now() - dt.timedelta(days=1)}, "bad_expiry"),
    ],
)
def test_bad_client_definitions_are_refused_and_create_nothing(changes, code, make_client):
    with pytest.raises(DomainError) as caught:
        make_client(**changes)
    assert caught.value.code == code
    assert ApiClient.objects.count() == 0
    assert ApiKey.objects.count() == 0


def test_duplicate_client_code_is_a_conflict(make_client):
    make_client(code="hrss-a")
    with pytest.raises(Conflict):
        make_client(code="hrss-a")
    assert ApiClient.objects.count() == 1


def test_scope_change_takes_effect_on_the_next_request(make_client):
    client, key = make_client()
    assert _ok(key) == 200
    services.api_client_update(client=client, actor=None, endpoints=["persons"])
    assert_error(Caller(key).get("/api/v1/changes"), 403, "endpoint_not_allowed")


def test_commands_create_rotate_and_revoke_and_show_each_key_once(db):
    out = io.StringIO()
    call_command(
        "api_client_create", "edu-enrol", "--name", "教育局学位系统", "--department",
        "edu", "--endpoints", "verifications,facts", "--purposes", "school_enrolment",
        "--facts", "local_hukou,hukou_in_region", "--expires-days", "90", stdout=out,
    )  # fmt: skip
    first = re.search(r"key \(shown once\): (\S+)", out.getvalue()).group(1)
    client = ApiClient.objects.get(code="edu-enrol")
    assert client.endpoints == ["facts", "verifications"]
    assert client.purposes == ["school_enrolment"]
    key = ApiKey.objects.get(client=client)
    assert first.split(".")[0] == key.prefix
    assert dt.timedelta(days=89) < key.expiry_date - timezone.now() <= dt.timedelta(days=90)

    out = io.StringIO()
    call_command("api_key", "rotate", "edu-enrol", "--grace-hours", "0", stdout=out)
    second = re.search(r"\(shown once\): (\S+)", out.getvalue()).group(1)
    assert second != first
    assert ApiKey.objects.get(prefix=first.split(".")[0]).revoked is True

    call_command("api_key", "revoke", second.split(".")[0], stdout=io.StringIO())
    assert ApiKey.objects.filter(client=client, revoked=False).count() == 0

    with pytest.raises(CommandError, match="unknown purposes"):
        call_command(
            "api_client_create", "x-1", "--name", "x", "--department", "tax",
            "--purposes", "fun", stdout=io.StringIO(),
        )  # fmt: skip
    with pytest.raises(CommandError, match="no client"):
        call_command("api_key", "issue", "nobody", stdout=io.StringIO())


def test_admin_creates_a_client_and_shows_its_key_once(admin_client):
    response = admin_client.post(
        "/admin/sharing/apiclient/add/",
        {
            "code": "health-1",
            "department": "health",
            "name": "卫健委",
            "endpoints": "persons",
            "person_fields": "name",
            "purposes": "health_service",
            "change_kinds": "",
            "facts": "",
            "region_prefixes": "",
            "rate_limit_per_minute": "100",
            "is_active": "on",
            "keys-TOTAL_FORMS": "0",
            "keys-INITIAL_FORMS": "0",
        },
        follow=True,
    )
    assert response.status_code == 200
    client = ApiClient.objects.get(code="health-1")
    shown = [str(m) for m in response.context["messages"]]
    secret = re.search(r"：(\S+\.\S+)$", next(m for m in shown if "只显示这一次" in m)).group(1)
    assert ApiKey.objects.get(client=client).prefix == secret.split(".")[0]
    page = admin_client.get(f"/admin/sharing/apiclient/{client.pk}/change/").content.decode()
    assert secret not in page
    # The key's row, under Chinese column names (the key library's own labels are English).
    assert secret.split(".")[0] in page
    for column in ("前缀", "名称", "创建时间", "到期时间", "已吊销"):
        assert re.search(rf">\s*{column}\s*<", page), column
    for english in ("Prefix", "Created", "Revoked"):
        assert not re.search(rf">\s*{english}\s*<", page), english


def test_admin_refuses_an_unknown_purpose_and_creates_nothing(admin_client):
    response = admin_client.post(
        "/admin/sharing/apiclient/add/",
        {
            "code": "tax-1",
            "department": "tax",
            "name": "税务局",
            "endpoints": "persons",
            "person_fields": "",
            "purposes": "curiosity",
            "change_kinds": "",
            "facts": "",
            "region_prefixes": "",
            "rate_limit_per_minute": "100",
            "keys-TOTAL_FORMS": "0",
            "keys-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200  # the form again, with its error
    assert "curiosity" in response.content.decode()
    assert ApiClient.objects.count() == 0
    assert ApiKey.objects.count() == 0
