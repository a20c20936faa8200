"""Review queue of suspected data problems, detector runs, and person merges."""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import F, Q

from population.models import Person


class IssueKind(models.TextChoices):
    DUPLICATE_SAME_NAME = "dup_same_name", "疑似重复人员（同名同性别同出生日期）"
    DUPLICATE_NORMALISED = "dup_normalised", "疑似重复人员（繁简、全角归一后同名）"
    DUPLICATE_HOMOPHONE = "dup_homophone", "疑似重复人员（同音姓名）"
    REGISTERED_TWICE = "registered_twice", "多重户口"
    INACTIVE_REGISTERED = "inactive_registered", "应销未销户口"
    ID_MISMATCH = "id_mismatch", "信息与身份号码不符"
    MISSING_FIELDS = "missing_fields", "信息缺漏"
    REGION_MISMATCH = "region_mismatch", "户籍地与所在户不符"
    HOUSEHOLD_NO_HEAD = "household_no_head", "家庭户无户主"
    DECEASED_PER_NOTICE = "deceased_per_notice", "死亡未注销（卫健死亡信息）"


class IssueStatus(models.TextChoices):
    OPEN = "open", "待核查"
    CONFIRMED = "confirmed", "已确认"
    DISMISSED = "dismissed", "已排除"
    RESOLVED = "resolved", "已解决"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class QualityIssue(models.Model):
    """One suspected problem found by a detector, reviewed by an officer.

    ``fingerprint`` names the finding (kind plus what it is about), so a rerun updates the same
    row; ``evidence_hash`` tells whether the evidence changed, which alone reopens a dismissed
    finding.
    """

    kind = models.CharField("问题类型", max_length=40, choices=IssueKind.choices)
    fingerprint = models.CharField("问题标识", max_length=120)
    person_ids = ArrayField(models.BigIntegerField(), verbose_name="涉及人员", default=list)
    household = models.ForeignKey(
        "registry.Household",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="涉及户",
        db_index=False,
    )
    evidence = models.JSONField("证据", default=dict)
    evidence_hash = models.CharField("证据摘要", max_length=32)
    status = models.CharField(
        "状态", max_length=12, choices=IssueStatus.choices, default=IssueStatus.OPEN
    )
    found_at = models.DateTimeField("发现时间")
    evidence_changed_at = models.DateTimeField("证据更新时间")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="处理人",
    )
    decided_at = models.DateTimeField("处理时间", null=True, blank=True)
    decision_note = models.CharField("处理说明", max_length=200, blank=True)

    class Meta:
        verbose_name = "数据质量问题"
        verbose_name_plural = "数据质量问题"
        permissions = [("view_quality_figures", "可查看数据质量指标（采集率、准确率）")]
        constraints = [
            models.UniqueConstraint(fields=["fingerprint"], name="qualityissue_fingerprint_unique"),
        ]
        indexes = [
            models.Index(fields=["kind", "status"], name="qualityissue_kind_status_idx"),
            GinIndex(fields=["person_ids"], name="qualityissue_person_ids_gin"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}（{self.found_at:%Y-%m-%d}发现）"


class RunStatus(models.TextChoices):
    RUNNING = "running", "运行中"
    DONE = "done", "完成"
    FAILED = "failed", "失败"


class QualityRun(models.Model):
    """One run of the detectors, committed detector by detector so progress is visible."""

    started_at = models.DateTimeField("开始时间", auto_now_add=True)
    finished_at = models.DateTimeField("结束时间", null=True, blank=True)
    status = models.CharField(
        "状态", max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING
    )
    detectors = ArrayField(models.CharField(max_length=40), verbose_name="检测项")
    results = models.JSONField("结果", default=dict, help_text="每个检测项：发现、新增、重开、解决")
    error = models.TextField("错误", blank=True)

    class Meta:
        verbose_name = "数据质量检测批次"
        verbose_name_plural = "数据质量检测批次"
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M} {self.get_status_display()}"


class MergeStatus(models.TextChoices):
    PROPOSED = "proposed", "待审批"
    APPROVED = "approved", "已批准"
    REJECTED = "rejected", "已驳回"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class PersonMerge(models.Model):
    """A proposal to merge a duplicate person record into the surviving one (重复户口注销).

    Once approved, this row is the pointer from the cancelled duplicate to the survivor: at most
    one approved merge per duplicate, which the database enforces.
    """

    survivor = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="+", verbose_name="保留人员"
    )
    duplicate = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="+", verbose_name="重复人员（将注销）"
    )
    issue = models.ForeignKey(
        QualityIssue,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="merges",
        verbose_name="来源问题",
    )
    reason = models.CharField("理由", max_length=200)
    status = models.CharField(
        "状态", max_length=10, choices=MergeStatus.choices, default=MergeStatus.PROPOSED
    )
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="提出人",
    )
    proposed_at = models.DateTimeField("提出时间", auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="审批人",
    )
    decided_at = models.DateTimeField("审批时间", null=True, blank=True)
    decision_note = models.CharField("审批意见", max_length=200, blank=True)
    details = models.JSONField("合并明细", default=dict, blank=True)

    class Meta:
        verbose_name = "重复人员合并"
        verbose_name_plural = "重复人员合并"
        permissions = [("approve_personmerge", "可审批重复人员合并")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(survivor=F("duplicate")),
                name="personmerge_two_persons",
                violation_error_message="保留人员与重复人员不能是同一人 / the survivor and the "
                "duplicate must be two different records",
            ),
            # The pointer from a cancelled duplicate to its survivor is unique.
            models.UniqueConstraint(
                fields=["duplicate"],
                condition=Q(status="approved"),
                name="personmerge_one_approved_per_duplicate",
            ),
            # Four eyes: whoever proposed does not approve.
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("proposed_by")),
                name="personmerge_four_eyes",
            ),
        ]
        indexes = [
            models.Index(fields=["status"], name="personmerge_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.duplicate.name} → {self.survivor.name}（{self.get_status_display()}）"
