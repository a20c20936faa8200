"""Writes for the sharing API: department clients and their keys."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, cast

from django.db import transaction
from django.utils import timezone

from population.actors import Actor
from population.errors import Conflict, DomainError, NotFound
from population.services import history_context
from population.sharing.facts import derived_fact_hook
from population.sharing.keycache import api_keys_changed
from population.sharing.models import ApiClient, ApiKey
from population.sharing.scopes import (
    Department,
    PersonField,
    Purpose,
    change_kind_hook,
    endpoint_hook,
)

_PREFIX = re.compile(r"^[0-9]{2,12}$")


def _check_codes(values: list[str], allowed: set[str], what_zh: str, what_en: str) -> list[str]:
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise DomainError(
            f"未知的{what_zh}：{', '.join(unknown)}",
            f"unknown {what_en}: {', '.join(unknown)}",
            code="unknown_scope_value",
        )
    return sorted(set(values))


def api_client_scope_clean(**scope: Any) -> dict[str, Any]:
    """The scope values checked against the catalogues (raises DomainError); writes nothing.

    Endpoints, change kinds and facts are whatever the installed apps registered (their hooks),
    so a value an app no longer registers is refused on the next save."""
    out: dict[str, Any] = {}
    catalogues = {
        "endpoints": (set(endpoint_hook.keys()), "接口", "endpoints"),
        "person_fields": (set(PersonField.values), "字段", "person fields"),
        "purposes": (set(Purpose.values), "用途", "purposes"),
        "change_kinds": (set(change_kind_hook.keys()), "变更类型", "change kinds"),
        "facts": (set(derived_fact_hook.keys()), "事实", "facts"),
    }
    for name, value in scope.items():
        if name in catalogues:
            allowed, zh, en = catalogues[name]
            out[name] = _check_codes(list(value), allowed, zh, en)
        elif name == "region_prefixes":
            bad = [p for p in value if not _PREFIX.match(p)]
            if bad:
                raise DomainError(
                    f"区划代码前缀须为2至12位数字：{', '.join(bad)}",
                    f"region prefixes must be 2 to 12 digits: {', '.join(bad)}",
                    code="invalid_region_prefix",
                )
            out[name] = sorted(set(value))
        elif name == "rate_limit_per_minute":
            if int(value) <= 0:
                raise DomainError(
                    "每分钟请求上限须为正数",
                    "the rate limit must be positive",
                    code="invalid_rate_limit",
                )
            out[name] = int(value)
        elif name in {"full_citizen_id", "is_active", "name"}:
            out[name] = value
        else:
            raise DomainError(
                f"未知的客户端属性：{name}", f"unknown client attribute: {name}", code="bad_field"
            )
    return out


@transaction.atomic
def api_client_create(
    *,
    code: str,
    name: str,
    department: str,
    actor: Actor,
    expires_at: dt.datetime | None = None,
    **scope: Any,
) -> tuple[ApiClient, str]:
    """Create a department client with its scope and a first key; the key is returned once."""
    if department not in Department.values or department == Department.PSB:  # 公安: the registry
        raise DomainError(
            f"未知部门：{department}", f"unknown department: {department}", code="bad_department"
        )
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,39}", code or ""):
        raise DomainError(
            "客户端代码须为2至40位小写字母、数字或连字符",
            "the client code must be 2 to 40 lowercase letters, digits or hyphens",
            code="bad_client_code",
        )
    if ApiClient.objects.filter(code=code).exists():
        raise Conflict(f"客户端代码{code}已存在", f"client {code} exists", code="duplicate_client")
    values = api_client_scope_clean(name=name, **scope)
    with history_context(actor=actor, reason="创建接口客户端"):
        client = ApiClient.objects.create(code=code, department=department, **values)
        _key, secret = _issue(client, expires_at=expires_at)
    return client, secret


def _issue(client: ApiClient, *, expires_at: dt.datetime | None) -> tuple[ApiKey, str]:
    if expires_at is not None and expires_at <= timezone.now():
        raise DomainError(
            "到期时间须晚于现在", "the expiry must be in the future", code="bad_expiry"
        )
    key, secret = ApiKey.objects.create_key(
        client=client, name=f"{client.code} {timezone.now():%Y-%m-%d}", expiry_date=expires_at
    )
    # The manager builds ``self.model`` (ApiKey); the library annotates the abstract base.
    return cast(ApiKey, key), secret


@transaction.atomic
def api_client_update(*, client: ApiClient, actor: Actor, **scope: Any) -> ApiClient:
    """Change a client's scope, limit or activity; takes effect on its next request."""
    values = api_client_scope_clean(**scope)
    client = ApiClient.objects.select_for_update().get(pk=client.pk)
    api_keys_changed()
    for name, value in values.items():
        setattr(client, name, value)
    with history_context(actor=actor, reason="修改接口客户端"):
        client.save(update_fields=list(values))
    return client


@transaction.atomic
def api_key_issue(
    *, client: ApiClient, actor: Actor, expires_at: dt.datetime | None = None
) -> tuple[ApiKey, str]:
    """A new key for the client beside its existing ones; the secret is returned once."""
    client = ApiClient.objects.select_for_update().get(pk=client.pk)
    return _issue(client, expires_at=expires_at)


@transaction.atomic
def api_key_rotate(
    *,
    client: ApiClient,
    actor: Actor,
    grace: dt.timedelta = dt.timedelta(hours=24),
    expires_at: dt.datetime | None = None,
) -> tuple[ApiKey, str]:
    """Issue a new key; the client's older keys stop working after ``grace`` (zero: now)."""
    if grace < dt.timedelta(0):
        raise DomainError("过渡期不能为负", "the grace period cannot be negative", code="bad_grace")
    client = ApiClient.objects.select_for_update().get(pk=client.pk)
    api_keys_changed()
    cutoff = timezone.now() + grace
    for old in ApiKey.objects.select_for_update().filter(client=client, revoked=False):
        if old.expiry_date is None or old.expiry_date > cutoff:
            if grace:
                old.expiry_date = cutoff
                old.save(update_fields=["expiry_date"])
            else:
                old.revoked = True
                old.save(update_fields=["revoked"])
    return _issue(client, expires_at=expires_at)


@transaction.atomic
def api_key_revoke(*, prefix: str, actor: Actor) -> ApiKey:
    """Revoke one key at once (cannot be undone)."""
    key = ApiKey.objects.select_for_update().filter(prefix=prefix).first()
    if key is None:
        raise NotFound(f"没有前缀为{prefix}的密钥", f"no key with prefix {prefix}")
    if not key.revoked:
        api_keys_changed()
        key.revoked = True
        key.save(update_fields=["revoked"])
    return key
