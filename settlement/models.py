"""Settlement (落户): policy rule sets as data, applications, their workflow and its log.

A rule set is one version of a city's settlement policy, loaded from a data file and never
changed once stored (a changed policy is a new version). An application is judged by the rule
set in force on its submission date. The application status is a state machine (django-fsm-2)
and the database refuses an illegal status change even from raw SQL (``pgtrigger.FSM``).
"""

from __future__ import annotations

import pghistory
import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django_fsm import FSMField, FSMModelMixin, transition

from population.identity import mask_citizen_id
from population.models import Person
from registry.models import Household


class RuleSet(models.Model):
    """One version of a city's settlement policy (rules as data, ``settlement/data/rules``)."""

    city_code = models.CharField("城市代码", max_length=6)
    city = models.CharField("城市", max_length=20)
    version = models.CharField("版本", max_length=20)
    document = models.CharField("依据文件", max_length=200)
    document_number = models.CharField("文号", max_length=60, blank=True)
    issuer = models.CharField("发文机关", max_length=60)
    effective_from = models.DateField("生效日期")
    effective_to = models.DateField("失效日期", null=True, blank=True)
    content = models.JSONField("规则内容")
    source_file = models.CharField("数据文件", max_length=200)

    class Meta:
        verbose_name = "落户政策规则"
        verbose_name_plural = "落户政策规则"
        constraints = [
            models.UniqueConstraint(fields=["city_code", "version"], name="ruleset_version_unique"),
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gte=F("effective_from")),
                name="ruleset_dates_ordered",
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="immutable", operation=pgtrigger.Update, condition=pgtrigger.AnyChange()
            ),
            pgtrigger.Protect(name="never_deleted", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        demo = "（演示）" if self.is_demo else ""
        return f"{self.city}《{self.document}》{self.document_number}（{self.version}版）{demo}"

    @property
    def is_demo(self) -> bool:
        """A demonstration copy loaded only by the demo city (``settlement.demo``)."""
        return bool(self.content.get("demo"))

    def channel(self, code: str) -> dict | None:
        return next((c for c in self.content["channels"] if c["code"] == code), None)


class Status(models.TextChoices):
    DRAFT = "draft", "草稿"
    SUBMITTED = "submitted", "已提交"
    ACCEPTED = "accepted", "已受理"
    UNDER_REVIEW = "under_review", "审核调查中"
    RETURNED = "returned", "退回补正"
    APPROVED = "approved", "审批通过"
    PERMIT_ISSUED = "permit_issued", "已签发准迁证"
    COMPLETED = "completed", "已落户"
    REJECTED = "rejected", "不予落户"
    WITHDRAWN = "withdrawn", "已撤回"
    EXPIRED = "expired", "准迁证过期"


S = Status
TRANSITIONS = [
    (S.DRAFT, S.SUBMITTED),
    (S.DRAFT, S.WITHDRAWN),
    (S.SUBMITTED, S.ACCEPTED),
    (S.SUBMITTED, S.RETURNED),
    (S.SUBMITTED, S.REJECTED),
    (S.SUBMITTED, S.WITHDRAWN),
    (S.ACCEPTED, S.UNDER_REVIEW),
    (S.ACCEPTED, S.REJECTED),
    (S.ACCEPTED, S.WITHDRAWN),
    (S.UNDER_REVIEW, S.RETURNED),
    (S.UNDER_REVIEW, S.APPROVED),
    (S.UNDER_REVIEW, S.REJECTED),
    (S.UNDER_REVIEW, S.WITHDRAWN),
    (S.RETURNED, S.SUBMITTED),
    (S.RETURNED, S.WITHDRAWN),
    (S.APPROVED, S.PERMIT_ISSUED),
    (S.APPROVED, S.WITHDRAWN),
    (S.PERMIT_ISSUED, S.COMPLETED),
    (S.PERMIT_ISSUED, S.EXPIRED),
]
OPEN_STATUSES = [S.SUBMITTED, S.ACCEPTED, S.UNDER_REVIEW, S.RETURNED, S.APPROVED, S.PERMIT_ISSUED]


def _sources(target: str) -> list[str]:
    return [str(a) for a, b in TRANSITIONS if b == target]


class Target(models.TextChoices):
    RESIDENCE = "residence", "合法稳定住所（家庭户）"
    EMPLOYER_COLLECTIVE = "employer_collective", "工作单位集体户"
    PUBLIC_COLLECTIVE = "public_collective", "公共/社区集体户"
    TALENT_COLLECTIVE = "talent_collective", "人才交流中心集体户"
    SCHOOL_COLLECTIVE = "school_collective", "学校集体户"
    ORIGIN = "origin", "原籍地（迁回）"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Application(FSMModelMixin, models.Model):
    """落户申请: an applicant (who need not be in the database yet), a channel, evidence."""

    rule_set = models.ForeignKey(
        RuleSet, on_delete=models.PROTECT, related_name="applications", verbose_name="适用政策"
    )
    channel = models.CharField("落户渠道", max_length=40)
    target = models.CharField("落户去向", max_length=24, choices=Target.choices)
    citizen_id = models.CharField("申请人身份号码", max_length=18, db_index=True)
    name = models.CharField("申请人姓名", max_length=50)
    relation = models.CharField("与户主关系", max_length=2, default="02")
    person = models.ForeignKey(
        Person,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="settlement_applications",
        verbose_name="人员（落户后）",
    )
    evidence = models.JSONField(
        "证明事实", default=dict, blank=True, help_text="按 docs/settlement.md 的事实模式填写"
    )
    eligibility = models.JSONField("资格审查结果", default=dict, blank=True)
    missing_items = models.JSONField("补正材料清单", default=list, blank=True)
    status = FSMField(
        "状态", max_length=14, choices=Status.choices, default=Status.DRAFT, protected=True
    )
    submitted_on = models.DateField("提交日期", null=True, blank=True)
    step_due = models.DateField("本环节办结期限", null=True, blank=True)
    household = models.ForeignKey(
        Household,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="迁入户",
    )
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="受理人",
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="审批人",
    )
    permit_number = models.CharField("准迁证编号", max_length=30, blank=True)
    permit_valid_until = models.DateField("准迁证有效期至", null=True, blank=True)
    rejection_reason = models.CharField("不予落户理由", max_length=300, blank=True)
    completed_on = models.DateField("落户日期", null=True, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = "落户申请"
        verbose_name_plural = "落户申请"
        permissions = [("decide_application", "可审批落户申请")]
        constraints = [
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=F("accepted_by")),
                name="settle_acceptor_not_approver",
                violation_error_message="受理人不能审批 / the acceptor cannot approve",
            ),
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(rejection_reason=""),
                name="settle_rejection_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["permit_issued", "completed", "expired"])
                | (~Q(permit_number="") & Q(permit_valid_until__isnull=False)),
                name="settle_permit_numbered",
            ),
            models.UniqueConstraint(
                fields=["permit_number"],
                condition=~Q(permit_number=""),
                name="settle_permit_number_unique",
            ),
            models.UniqueConstraint(
                fields=["citizen_id"],
                condition=Q(status__in=[str(s) for s in OPEN_STATUSES]),
                name="settle_one_open_per_person",
                violation_error_message="已有办理中的落户申请 / an application is already open",
            ),
        ]
        triggers = [
            pgtrigger.FSM(
                name="status_fsm",
                field="status",
                transitions=[(str(a), str(b)) for a, b in TRANSITIONS],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}（{mask_citizen_id(self.citizen_id)}）的落户申请"

    @transition(field=status, source=_sources(S.SUBMITTED), target=S.SUBMITTED)
    def mark_submitted(self) -> None:
        pass

    @transition(field=status, source=_sources(S.ACCEPTED), target=S.ACCEPTED)
    def mark_accepted(self) -> None:
        pass

    @transition(field=status, source=_sources(S.UNDER_REVIEW), target=S.UNDER_REVIEW)
    def mark_under_review(self) -> None:
        pass

    @transition(field=status, source=_sources(S.RETURNED), target=S.RETURNED)
    def mark_returned(self) -> None:
        pass

    @transition(field=status, source=_sources(S.APPROVED), target=S.APPROVED)
    def mark_approved(self) -> None:
        pass

    @transition(field=status, source=_sources(S.PERMIT_ISSUED), target=S.PERMIT_ISSUED)
    def mark_permit_issued(self) -> None:
        pass

    @transition(field=status, source=_sources(S.COMPLETED), target=S.COMPLETED)
    def mark_completed(self) -> None:
        pass

    @transition(field=status, source=_sources(S.REJECTED), target=S.REJECTED)
    def mark_rejected(self) -> None:
        pass

    @transition(field=status, source=_sources(S.WITHDRAWN), target=S.WITHDRAWN)
    def mark_withdrawn(self) -> None:
        pass

    @transition(field=status, source=_sources(S.EXPIRED), target=S.EXPIRED)
    def mark_expired(self) -> None:
        pass


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class ApplicationMember(models.Model):
    """随迁人员: a family member moving with the applicant."""

    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="members", verbose_name="申请"
    )
    citizen_id = models.CharField("身份号码", max_length=18)
    name = models.CharField("姓名", max_length=50)
    kind = models.CharField("随迁类别", max_length=30, help_text="见规则文件 members")
    relation = models.CharField("与户主关系", max_length=2)
    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = "随迁人员"
        verbose_name_plural = "随迁人员"
        constraints = [
            models.UniqueConstraint(
                fields=["application", "citizen_id"], name="settle_member_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {mask_citizen_id(self.citizen_id)}"


class ApplicationTransition(models.Model):
    """One status change of an application: who, when, why (append-only)."""

    application = models.ForeignKey(
        Application, on_delete=models.PROTECT, related_name="transitions", verbose_name="申请"
    )
    from_status = models.CharField("原状态", max_length=14, choices=Status.choices)
    to_status = models.CharField("新状态", max_length=14, choices=Status.choices)
    officer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="经办人",
    )
    at = models.DateTimeField("时间", auto_now_add=True)
    comment = models.CharField("意见", max_length=500, blank=True)
    details = models.JSONField("附加信息", default=dict, blank=True)

    class Meta:
        verbose_name = "落户申请流转记录"
        verbose_name_plural = "落户申请流转记录"
        ordering = ["at", "pk"]
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.get_from_status_display()} → {self.get_to_status_display()}"


class PermitCounter(models.Model):
    """The last 准迁证 serial per city and year (row-locked when a number is taken)."""

    city_code = models.CharField(max_length=6)
    year = models.PositiveSmallIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["city_code", "year"], name="settle_counter_unique")
        ]

    def __str__(self) -> str:
        return f"{self.city_code} {self.year}: {self.last}"
