"""Household registration (户籍): households and who belongs to them."""

from __future__ import annotations

import pghistory
import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import F, Q

from population.codes import Relation
from population.models import Person, Region


class HouseholdKind(models.TextChoices):
    FAMILY = "family", "家庭户"
    UNIT_COLLECTIVE = "unit_collective", "单位集体户"
    PUBLIC_COLLECTIVE = "public_collective", "公共/社区集体户"
    TALENT_COLLECTIVE = "talent_collective", "人才集体户"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Household(models.Model):
    """A 户: family or collective, at an address in a village-level unit."""

    number = models.CharField("户号", max_length=20)
    kind = models.CharField(
        "户别", max_length=20, choices=HouseholdKind.choices, default=HouseholdKind.FAMILY
    )
    address = models.CharField("住址", max_length=200)
    region = models.ForeignKey(
        Region,
        on_delete=models.PROTECT,
        related_name="households",
        verbose_name="所在区划",
        db_index=False,  # indexed in Meta without the unused LIKE twin
    )
    closed_on = models.DateField("销户日期", null=True, blank=True)
    created_at = models.DateTimeField("立户时间", auto_now_add=True)

    class Meta:
        verbose_name = "户"
        verbose_name_plural = "户"
        triggers = [
            # A household with members cannot be closed, whoever writes.
            pgtrigger.Trigger(
                name="close_only_when_empty",
                operation=pgtrigger.Update,
                when=pgtrigger.Before,
                condition=pgtrigger.Q(old__closed_on__isnull=True, new__closed_on__isnull=False),
                func="""
                IF EXISTS (SELECT 1 FROM registry_membership m
                           WHERE m.household_id = NEW.id AND m.end_date IS NULL) THEN
                    RAISE EXCEPTION 'household % still has members', NEW.id
                        USING ERRCODE = 'check_violation';
                END IF;
                RETURN NEW;
                """,
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["number"], name="household_number_unique"),
            models.CheckConstraint(
                condition=Q(kind__in=HouseholdKind.values), name="household_kind_known"
            ),
        ]
        # (region, id): a jurisdiction's households are an index-only range scan.
        indexes = [models.Index(fields=["region", "id"], name="household_region_id_idx")]

    def __str__(self) -> str:
        return f"{self.number}（{self.get_kind_display()}）"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Membership(models.Model):
    """A person's membership of a household, with relation to the head (GB/T 4761)."""

    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="memberships", verbose_name="人员"
    )
    household = models.ForeignKey(
        Household, on_delete=models.PROTECT, related_name="memberships", verbose_name="户"
    )
    relation = models.CharField("与户主关系", max_length=2, choices=Relation.choices)
    start_date = models.DateField("入户日期")
    end_date = models.DateField("离户日期", null=True, blank=True)

    class Meta:
        verbose_name = "户成员"
        verbose_name_plural = "户成员"
        constraints = [
            # One person, at most one open membership: enforced by the database.
            models.UniqueConstraint(
                fields=["person"],
                condition=Q(end_date__isnull=True),
                name="membership_one_open_per_person",
                violation_error_message="此人已有在册户籍 / this person already has an open "
                "household membership",
            ),
            models.UniqueConstraint(
                fields=["household"],
                # 本人 (01) and 户主 (02) both name the head: one of either per household.
                condition=Q(end_date__isnull=True, relation__in=["01", "02"]),
                name="membership_one_head_per_household",
                violation_error_message="此户已有户主 / this household already has a head",
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")),
                name="membership_dates_ordered",
            ),
            models.CheckConstraint(
                condition=Q(relation__in=Relation.values), name="membership_relation_gbt4761"
            ),
        ]
        indexes = [
            # Who is in these households now: an index-only scan for jurisdictions and lists.
            models.Index(
                fields=["household", "person"],
                condition=Q(end_date__isnull=True),
                name="membership_open_household_idx",
            ),
        ]
        # No one joins a closed household, and a deceased or cancelled person joins none.
        # Statement-level with transition tables: one set-based check per statement, so a bulk
        # COPY of a million memberships is checked by a join instead of a lookup per row.
        triggers = [
            pgtrigger.Trigger(
                name=f"open_membership_guard_{op_name}",
                operation=op,
                when=pgtrigger.After,
                level=pgtrigger.Statement,
                referencing=pgtrigger.Referencing(new="new_rows"),
                declare=[("bad", "bigint")],
                func="""
                SELECT n.household_id INTO bad FROM new_rows n
                  JOIN registry_household h ON h.id = n.household_id
                 WHERE n.end_date IS NULL AND h.closed_on IS NOT NULL LIMIT 1;
                IF FOUND THEN
                    RAISE EXCEPTION 'household % is closed', bad
                        USING ERRCODE = 'check_violation';
                END IF;
                SELECT n.person_id INTO bad FROM new_rows n
                  JOIN population_person p ON p.id = n.person_id
                 WHERE n.end_date IS NULL AND p.status <> 'active' LIMIT 1;
                IF FOUND THEN
                    RAISE EXCEPTION 'person % is deceased or cancelled', bad
                        USING ERRCODE = 'check_violation';
                END IF;
                RETURN NULL;
                """,
            )
            for op_name, op in (("insert", pgtrigger.Insert), ("update", pgtrigger.Update))
        ]

    def __str__(self) -> str:
        return f"{self.person} @ {self.household.number}"

    @property
    def is_open(self) -> bool:
        return self.end_date is None


class EventKind(models.TextChoices):
    BIRTH = "birth", "出生登记"
    DEATH = "death", "死亡注销"
    MOVE_OUT = "move_out", "迁出"
    MOVE_IN = "move_in", "迁入"
    MOVE_WITHIN = "move_within", "市内迁移"
    ATTACH = "attach", "挂靠"
    SPLIT = "split", "分户"
    HEAD_CHANGE = "head_change", "变更户主"
    COLLECTIVE = "collective", "集体户落户"
    MERGE = "merge", "重复户口合并注销"
    CORRECTION = "correction", "变更更正登记"


class RegistrationEvent(models.Model):
    """One registration event (户籍登记事项): who did what to whom, when, why, on what paper.

    Append-only: a wrong event is answered by a new, correcting event, never by an edit.
    """

    kind = models.CharField("事项", max_length=20, choices=EventKind.choices)
    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="registration_events", verbose_name="人员"
    )
    from_household = models.ForeignKey(
        Household,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="原户",
    )
    to_household = models.ForeignKey(
        Household,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="新户",
    )
    effective_date = models.DateField("生效日期")
    recorded_at = models.DateTimeField("登记时间", auto_now_add=True)
    officer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="经办人",
    )
    reason = models.CharField("原因", max_length=200)
    document_type = models.CharField("凭证类型", max_length=40, blank=True)
    document_number = models.CharField("凭证编号", max_length=60, blank=True)
    details = models.JSONField("其他信息", default=dict, blank=True)

    class Meta:
        verbose_name = "户籍登记事项"
        verbose_name_plural = "户籍登记事项"
        indexes = [
            models.Index(fields=["kind", "effective_date"], name="regevent_kind_date_idx"),
        ]
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.effective_date} {self.person_id}"


class CorrectionField(models.TextChoices):
    """What a 变更更正登记 corrects. Identity fields need a supervisor's approval."""

    NAME = "name", "姓名"
    CITIZEN_ID = "citizen_id", "公民身份号码（性别、出生日期随之更正）"
    ETHNICITY = "ethnicity", "民族"
    RELATION = "relation", "与户主关系"


IDENTITY_FIELDS = frozenset(
    {CorrectionField.NAME, CorrectionField.CITIZEN_ID, CorrectionField.ETHNICITY}
)


class CorrectionStatus(models.TextChoices):
    PENDING = "pending", "待审批"
    APPROVED = "approved", "已批准"
    REFUSED = "refused", "已驳回"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent())
class Correction(models.Model):
    """变更更正登记 of an identity field: proposed by an officer, decided by a supervisor.

    Approval applies the change and appends a ``RegistrationEvent`` (kind 变更更正登记) with the
    old and new values; a refusal keeps the record unchanged. The proposer never decides.
    """

    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="corrections", verbose_name="人员"
    )
    field = models.CharField("更正项目", max_length=20, choices=CorrectionField.choices)
    old_value = models.CharField("原内容", max_length=60)
    new_value = models.CharField("更正为", max_length=60)
    document_type = models.CharField("依据材料", max_length=40)
    document_number = models.CharField("材料编号", max_length=60)
    reason = models.CharField("更正原因", max_length=200)
    status = models.CharField(
        "状态", max_length=10, choices=CorrectionStatus.choices, default=CorrectionStatus.PENDING
    )
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        verbose_name="申请民警",
    )
    proposed_at = models.DateTimeField("申请时间", auto_now_add=True)
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
    event = models.OneToOneField(
        RegistrationEvent,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="登记事项",
    )

    class Meta:
        verbose_name = "变更更正登记审批"
        verbose_name_plural = "变更更正登记审批"
        permissions = [("decide_correction", "可审批变更更正登记")]
        constraints = [
            models.CheckConstraint(
                condition=Q(field__in=[f for f in CorrectionField.values if f != "relation"]),
                name="correction_identity_field",
            ),
            models.CheckConstraint(
                condition=Q(status__in=CorrectionStatus.values), name="correction_status_known"
            ),
            # The officer who proposed a correction never approves or refuses it.
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("proposed_by")),
                name="correction_four_eyes",
            ),
            models.CheckConstraint(
                condition=Q(status="pending", decided_at__isnull=True)
                | (~Q(status="pending") & Q(decided_at__isnull=False)),
                name="correction_decided_when_not_pending",
            ),
            models.CheckConstraint(
                condition=~Q(status="approved") | Q(event__isnull=False),
                name="correction_approved_has_event",
            ),
            # At most one pending correction of one field of one person.
            models.UniqueConstraint(
                fields=["person", "field"],
                condition=Q(status="pending"),
                name="correction_one_pending_per_field",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "id"], name="correction_status_idx"),
            models.Index(fields=["person"], name="correction_person_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.person.name}：{self.get_field_display()}（{self.get_status_display()}）"


# Data quality (review queue, detector runs, merges) lives in its own module.
from registry.quality.models import (  # noqa: E402, F401
    IssueKind,
    IssueStatus,
    MergeStatus,
    PersonMerge,
    QualityIssue,
    QualityRun,
    RunStatus,
)
