"""Department clients of the sharing API, their hashed keys, and stored write answers.

The tables were created by the population app and keep its names (``db_table``): the sharing
app took them over in Django's state only (``sharing/migrations/0001_initial.py``).
"""

from __future__ import annotations

import pgtrigger
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from rest_framework_api_key.models import AbstractAPIKey

from population.sharing.scopes import Department, PersonField, Purpose


def _codes(choices, verbose_name: str) -> ArrayField:
    """A list of codes. ``choices=None`` for the catalogues other apps register into (endpoints,
    change kinds): checked against their hooks on save, so adding one needs no migration."""
    return ArrayField(
        models.CharField(max_length=40, choices=choices),
        default=list,
        blank=True,
        verbose_name=verbose_name,
    )


class _ProtectInstalledAs(pgtrigger.Protect):
    """A ``pgtrigger.Protect`` keeping the database name it was installed under.

    pgtrigger names a trigger (and its function) after a hash of ``app_label.Model:name``; the
    model moved from the population app to this one in Django's state only, so the trigger in
    the database keeps its first name instead of being dropped and created again.
    """

    def __init__(self, pgid: str, **kwargs) -> None:
        self.pgid = pgid
        super().__init__(**kwargs)

    def get_pgid(self, model) -> str:
        return self.pgid


class ApiClient(models.Model):
    """A department system allowed to call the API, and exactly what it may do there."""

    code = models.SlugField("客户端代码", max_length=40, help_text="英文短代码，如 hrss-pension")
    name = models.CharField("名称", max_length=100)
    department = models.CharField("部门", max_length=20, choices=Department.choices)
    endpoints = _codes(None, "可用接口")
    person_fields = _codes(PersonField.choices, "可读字段")
    purposes = _codes(Purpose.choices, "可声明用途")
    change_kinds = _codes(None, "订阅变更类型")
    facts = ArrayField(
        models.CharField(max_length=40), default=list, blank=True, verbose_name="可核验事实"
    )
    region_prefixes = ArrayField(
        models.CharField(max_length=12),
        default=list,
        blank=True,
        verbose_name="人员范围（区划代码前缀）",
        help_text="户籍地或居住地以其中之一开头的人员；留空表示全市",
    )
    full_citizen_id = models.BooleanField(
        "可见完整身份号码", default=False, help_text="否则身份号码以掩码返回"
    )
    rate_limit_per_minute = models.PositiveIntegerField("每分钟请求上限", default=600)
    is_active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        db_table = "population_apiclient"
        verbose_name = "接口客户端"
        verbose_name_plural = "接口客户端"
        constraints = [
            models.UniqueConstraint(fields=["code"], name="apiclient_code_unique"),
            models.CheckConstraint(
                condition=Q(rate_limit_per_minute__gt=0), name="apiclient_rate_limit_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"


class ApiKey(AbstractAPIKey):
    """A key of a client: only a prefix and a SHA-512 hash are stored; shown once at issue."""

    client = models.ForeignKey(
        ApiClient, on_delete=models.PROTECT, related_name="keys", verbose_name="客户端"
    )

    class Meta(AbstractAPIKey.Meta):
        db_table = "population_apikey"
        verbose_name = "接口密钥"
        verbose_name_plural = "接口密钥"
        indexes = [models.Index(fields=["client", "created"], name="apikey_client_created_idx")]


class IdempotencyRecord(models.Model):
    """The first answer to a write sent with an ``Idempotency-Key``, replayed on a repeat."""

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body")
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "population_idempotencyrecord"
        verbose_name = "幂等记录"
        verbose_name_plural = "幂等记录"
        constraints = [
            models.UniqueConstraint(fields=["client", "key"], name="idempotency_client_key_unique")
        ]
        triggers = [
            _ProtectInstalledAs(
                "pgtrigger_no_update_b0af1", name="no_update", operation=pgtrigger.Update
            )
        ]

    def __str__(self) -> str:
        return f"{self.client_id}:{self.key}"
