"""Residence permits (居住证): residence registration, applications, permits, endorsement, points.

Follows 《居住证暂行条例》(国务院令第663号, 2015) and the seed documents (广州 穗府〔2016〕3号
item 八, 清远 六, 临沧 10–11, 韶关 三(九)). Status fields are state machines (django-fsm-2) and
the database refuses an illegal status change even from raw SQL (``pgtrigger.FSM``).
"""

from __future__ import annotations

import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import BigIntegerRangeField, DateRangeField, RangeOperators
from django.db import models
from django.db.models import F, Func, Q
from django.db.models.functions import Cast
from django_fsm import FSMField, FSMModelMixin, transition

from population.identity import mask_citizen_id
from population.models import Person, Region


class DateRangeInclusive(Func):
    """``daterange(start, end, '[]')``; an open end is unbounded."""

    function = "daterange"
    output_field = DateRangeField()


class KeyRange(Func):
    """``int8range(key, key, '[]')``: equality as range overlap, so an exclusion constraint needs
    no btree_gist extension (the embedded PostgreSQL of the quickstart does not ship it)."""

    function = "int8range"
    template = "%(function)s(%(expressions)s, %(expressions)s, '[]')"
    output_field = BigIntegerRangeField()


class ResidenceBasis(models.TextChoices):
    """The basis of a residence registration (《居住证暂行条例》第二条)."""

    JOB = "job", "就业"
    HOME = "home", "居住（合法稳定住所）"
    STUDY = "study", "就读"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class ResidenceRegistration(models.Model):
    """居住登记: a person living in the city away from their hukou address.

    Includes locals living away from their registered address (人户分离). One person's
    registrations never overlap: an exclusion constraint on the date ranges says so.
    """

    person = models.ForeignKey(
        Person,
        on_delete=models.PROTECT,
        related_name="residence_registrations",
        verbose_name="人员",
    )
    address = models.CharField("居住地址", max_length=200)
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="+", verbose_name="居住地区划"
    )
    basis = models.CharField("登记事由", max_length=10, choices=ResidenceBasis.choices)
    start_date = models.DateField("居住起始日期")
    end_date = models.DateField("居住终止日期", null=True, blank=True)
    officer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="经办人",
    )
    created_at = models.DateTimeField("登记时间", auto_now_add=True)

    class Meta:
        verbose_name = "居住登记"
        verbose_name_plural = "居住登记"
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")),
                name="resreg_dates_ordered",
            ),
            ExclusionConstraint(
                name="resreg_no_overlap",
                expressions=[
                    (KeyRange("person"), RangeOperators.OVERLAPS),
                    (
                        DateRangeInclusive("start_date", "end_date", models.Value("[]")),
                        RangeOperators.OVERLAPS,
                    ),
                ],
                violation_error_message="居住登记时间重叠 / residence registrations overlap",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person.name} {self.address}（{self.start_date}起）"


class PersonFactKind(models.TextChoices):
    """Facts about a person that eligibility and points read (later fed by departments)."""

    EMPLOYMENT = "employment", "合法稳定就业"
    HOUSING_OWNED = "housing_owned", "合法稳定住所（自有产权）"
    HOUSING_RENTED = "housing_rented", "合法稳定住所（登记备案租赁）"
    STUDY = "study", "连续就读"
    SOCIAL_INSURANCE = "social_insurance", "缴纳社会保险"
    EDUCATION = "education", "文化程度"
    TAX = "tax", "依法纳税"
    SKILL = "skill", "技术能力"
    COMMUNITY_SERVICE = "community_service", "社会服务"


class PersonFactSource(models.TextChoices):
    OFFICER = "officer", "窗口录入"
    DEPARTMENT = "department", "部门数据"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class PersonFact(models.Model):
    """One fact about a person, with its period, evidence and source.

    Recorded by officers today; department feeds will write the same rows (source=department).
    A fact is never edited: a wrong one is retracted (``retracted_at``) and a new one recorded.
    ``quantity`` carries months (social insurance), yuan (tax) or hours (community service);
    ``level`` carries a code (education, skill) from the points policy.
    """

    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="permit_facts", verbose_name="人员"
    )
    kind = models.CharField("事实类别", max_length=20, choices=PersonFactKind.choices)
    start_date = models.DateField("起始日期")
    end_date = models.DateField("终止日期", null=True, blank=True)
    quantity = models.DecimalField(
        "数量", max_digits=12, decimal_places=2, null=True, blank=True, help_text="月数/元/小时"
    )
    level = models.CharField("等级代码", max_length=30, blank=True)
    evidence = models.CharField("证明材料", max_length=200, help_text="材料名称及编号")
    source = models.CharField("来源", max_length=12, choices=PersonFactSource.choices)
    source_name = models.CharField("来源单位", max_length=60, help_text="录入窗口或部门名称")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="录入人",
    )
    recorded_at = models.DateTimeField("录入时间", auto_now_add=True)
    retracted_at = models.DateTimeField("撤销时间", null=True, blank=True)
    changed_at = models.DateTimeField("最近变动时间", auto_now=True)
    retract_reason = models.CharField("撤销原因", max_length=200, blank=True)

    class Meta:
        verbose_name = "人员事实（居住证）"
        verbose_name_plural = "人员事实（居住证）"
        constraints = [
            models.CheckConstraint(condition=~Q(evidence=""), name="fact_evidence_required"),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")),
                name="fact_dates_ordered",
            ),
        ]
        indexes = [models.Index(fields=["person", "kind"], name="fact_person_kind_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.start_date}"


class ApplicationStatus(models.TextChoices):
    SUBMITTED = "submitted", "待审核"
    ISSUED = "issued", "已发证"
    REJECTED = "rejected", "不予办理"
    WITHDRAWN = "withdrawn", "撤回"


APPLICATION_TRANSITIONS = [
    (ApplicationStatus.SUBMITTED, ApplicationStatus.ISSUED),
    (ApplicationStatus.SUBMITTED, ApplicationStatus.REJECTED),
    (ApplicationStatus.SUBMITTED, ApplicationStatus.WITHDRAWN),
]


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class PermitApplication(FSMModelMixin, models.Model):
    """居住证申领: a person's application, its eligibility as shown, and the decision."""

    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="permit_applications", verbose_name="申请人"
    )
    registration = models.ForeignKey(
        ResidenceRegistration,
        on_delete=models.PROTECT,
        related_name="applications",
        verbose_name="居住登记",
    )
    proxy = models.ForeignKey(
        Person,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="代办人（监护人/近亲属）",
    )
    sponsor = models.ForeignKey(
        Person,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="共同居住的家庭成员",
        help_text="未成年人、随迁家属依其条件申领时填写",
    )
    status = FSMField(
        "状态",
        max_length=12,
        choices=ApplicationStatus.choices,
        default=ApplicationStatus.SUBMITTED,
        protected=True,
    )
    submitted_on = models.DateField("申请日期")
    eligibility = models.JSONField("资格审查结果", default=dict)
    eligible_now = models.BooleanField(
        "按最新证明符合条件",
        default=False,
        help_text="申请时审查，录入或撤销申请人（或共同居住家庭成员）的证明事实后重新审查",
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="审核人",
    )
    decided_at = models.DateTimeField("审核时间", null=True, blank=True)
    decision_reason = models.CharField("审核意见", max_length=200, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = "居住证申领"
        verbose_name_plural = "居住证申领"
        constraints = [
            models.UniqueConstraint(
                fields=["person"],
                condition=Q(status="submitted"),
                name="permitapp_one_pending_per_person",
                violation_error_message="已有待审核的申请 / an application is already pending",
            ),
        ]
        triggers = [
            pgtrigger.FSM(
                name="status_fsm",
                field="status",
                transitions=[(str(a), str(b)) for a, b in APPLICATION_TRANSITIONS],
            ),
        ]

    def __str__(self) -> str:
        masked = mask_citizen_id(self.person.citizen_id)
        return f"{self.person.name}（{masked}）{self.submitted_on}申领"

    @transition(field=status, source=ApplicationStatus.SUBMITTED, target=ApplicationStatus.ISSUED)
    def mark_issued(self) -> None:
        pass

    @transition(field=status, source=ApplicationStatus.SUBMITTED, target=ApplicationStatus.REJECTED)
    def mark_rejected(self) -> None:
        pass

    @transition(
        field=status, source=ApplicationStatus.SUBMITTED, target=ApplicationStatus.WITHDRAWN
    )
    def mark_withdrawn(self) -> None:
        pass


class PermitStatus(models.TextChoices):
    ACTIVE = "active", "有效"
    LAPSED = "lapsed", "中止（逾期未签注）"
    EXPIRED = "expired", "有效期届满"
    CANCELLED = "cancelled", "注销"


PERMIT_TRANSITIONS = [
    (PermitStatus.ACTIVE, PermitStatus.LAPSED),
    (PermitStatus.LAPSED, PermitStatus.ACTIVE),
    (PermitStatus.ACTIVE, PermitStatus.EXPIRED),
    (PermitStatus.LAPSED, PermitStatus.EXPIRED),
    (PermitStatus.EXPIRED, PermitStatus.ACTIVE),
    (PermitStatus.ACTIVE, PermitStatus.CANCELLED),
    (PermitStatus.LAPSED, PermitStatus.CANCELLED),
    (PermitStatus.EXPIRED, PermitStatus.CANCELLED),
]


class CancelReason(models.TextChoices):
    SETTLED = "settled", "在本市落户"
    LEFT = "left", "离开居住地"
    DECEASED = "deceased", "死亡"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class ResidencePermit(FSMModelMixin, models.Model):
    """居住证: number, holder, address, validity and the annual endorsement (签注) cycle.

    ``next_endorsement_due`` is the next anniversary; ``continuous_since`` is the day from which
    residence years count (a late endorsement restarts it, 条例第十四条).
    """

    number = models.CharField("居住证号码", max_length=20)
    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="residence_permits", verbose_name="持证人"
    )
    application = models.OneToOneField(
        PermitApplication,
        on_delete=models.PROTECT,
        related_name="permit",
        verbose_name="申领",
    )
    registration = models.ForeignKey(
        ResidenceRegistration,
        on_delete=models.PROTECT,
        related_name="permits",
        verbose_name="居住登记",
    )
    address = models.CharField("居住地址", max_length=200)
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="+", verbose_name="居住地区划"
    )
    status = FSMField(
        "状态",
        max_length=12,
        choices=PermitStatus.choices,
        default=PermitStatus.ACTIVE,
        protected=True,
    )
    issue_date = models.DateField("签发日期")
    valid_until = models.DateField("有效期至")
    next_endorsement_due = models.DateField("下次签注截止日")
    continuous_since = models.DateField("连续居住起算日")
    lapsed_on = models.DateField("中止日期", null=True, blank=True)
    cancelled_on = models.DateField("注销日期", null=True, blank=True)
    cancel_reason = models.CharField(
        "注销原因", max_length=10, choices=CancelReason.choices, blank=True
    )

    class Meta:
        verbose_name = "居住证"
        verbose_name_plural = "居住证"
        permissions = [("print_residencepermit", "可打印居住证")]
        constraints = [
            models.UniqueConstraint(fields=["number"], name="permit_number_unique"),
            models.UniqueConstraint(
                fields=["person"],
                condition=~Q(status="cancelled"),
                name="permit_one_live_per_person",
                violation_error_message="此人已持有居住证 / this person already holds a permit",
            ),
            models.CheckConstraint(
                condition=Q(valid_until__gt=F("issue_date")), name="permit_validity_after_issue"
            ),
            models.CheckConstraint(
                condition=Q(status="cancelled", cancelled_on__isnull=False)
                | (~Q(status="cancelled") & Q(cancelled_on__isnull=True)),
                name="permit_cancelled_has_date",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_endorsement_due"],
                condition=Q(status="active"),
                name="permit_active_due_idx",
            ),
        ]
        triggers = [
            pgtrigger.FSM(
                name="status_fsm",
                field="status",
                transitions=[(str(a), str(b)) for a, b in PERMIT_TRANSITIONS],
            ),
            # A cancelled permit is final: nothing on it changes any more.
            pgtrigger.Protect(
                name="cancelled_is_final",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__status="cancelled"),
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @transition(field=status, source=PermitStatus.ACTIVE, target=PermitStatus.LAPSED)
    def mark_lapsed(self) -> None:
        pass

    @transition(
        field=status, source=[PermitStatus.ACTIVE, PermitStatus.LAPSED], target=PermitStatus.ACTIVE
    )
    def mark_endorsed(self) -> None:
        """签注, on time or late: an expired permit is renewed instead."""

    @transition(
        field=status,
        source=[PermitStatus.ACTIVE, PermitStatus.LAPSED, PermitStatus.EXPIRED],
        target=PermitStatus.ACTIVE,
    )
    def mark_renewed(self) -> None:
        """换领."""

    @transition(
        field=status, source=[PermitStatus.ACTIVE, PermitStatus.LAPSED], target=PermitStatus.EXPIRED
    )
    def mark_expired(self) -> None:
        pass

    @transition(
        field=status,
        source=[PermitStatus.ACTIVE, PermitStatus.LAPSED, PermitStatus.EXPIRED],
        target=PermitStatus.CANCELLED,
    )
    def mark_cancelled(self) -> None:
        pass


class PermitEventKind(models.TextChoices):
    ISSUE = "issue", "签发"
    ENDORSE = "endorse", "签注"
    ENDORSE_LATE = "endorse_late", "逾期补办签注"
    LAPSE = "lapse", "逾期中止"
    EXPIRE = "expire", "有效期届满"
    RENEW = "renew", "换领"
    CHANGE_ADDRESS = "change_address", "变更居住地址"
    REISSUE = "reissue", "补领（遗失/损坏）"
    CANCEL = "cancel", "注销"
    REMIND = "remind", "签注提醒"


class PermitEvent(models.Model):
    """What happened to a permit, when, by whom; append-only. Old numbers stay here."""

    permit = models.ForeignKey(
        ResidencePermit, on_delete=models.PROTECT, related_name="log", verbose_name="居住证"
    )
    kind = models.CharField("事项", max_length=20, choices=PermitEventKind.choices)
    on = models.DateField("日期")
    number = models.CharField("当时证号", max_length=20)
    officer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="经办人",
    )
    reason = models.CharField("原因", max_length=200, blank=True)
    details = models.JSONField("其他信息", default=dict, blank=True)
    recorded_at = models.DateTimeField("登记时间", auto_now_add=True)

    class Meta:
        verbose_name = "居住证事项"
        verbose_name_plural = "居住证事项"
        constraints = [
            # One reminder per permit and due date: the daily job can run twice safely.
            models.UniqueConstraint(
                fields=["permit", "kind", "on"],
                condition=Q(kind="remind"),
                name="permitevent_one_reminder_per_day",
            ),
        ]
        indexes = [models.Index(fields=["number"], name="permitevent_number_idx")]
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.get_kind_display()} {self.on}"


class PermitNumberCounter(models.Model):
    """The last serial issued per county and year; one atomic UPSERT allocates the next."""

    county_code = models.CharField("县级代码", max_length=6)
    year = models.PositiveSmallIntegerField("年份")
    last_serial = models.PositiveIntegerField("已用序号")

    class Meta:
        verbose_name = "居住证号码序号"
        verbose_name_plural = "居住证号码序号"
        constraints = [
            models.UniqueConstraint(fields=["county_code", "year"], name="permitcounter_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.county_code}/{self.year}: {self.last_serial}"


# -- points (积分) ----------------------------------------------------------------------------


class PointsPolicy(models.Model):
    """One version of a city's points scheme, loaded from a data file (rules as data)."""

    city_code = models.CharField("城市代码", max_length=6, help_text="地级市6位代码，如440100")
    version = models.CharField("版本", max_length=20)
    name = models.CharField("名称", max_length=100)
    document = models.CharField("依据文件", max_length=200)
    effective_from = models.DateField("生效日期")
    effective_to = models.DateField("失效日期", null=True, blank=True)
    rules = models.JSONField("指标与分值")
    source_file = models.CharField("数据文件", max_length=200)

    class Meta:
        verbose_name = "积分政策"
        verbose_name_plural = "积分政策"
        constraints = [
            models.UniqueConstraint(fields=["city_code", "version"], name="policy_version_unique"),
            ExclusionConstraint(
                name="policy_no_overlap",
                expressions=[
                    (
                        KeyRange(Cast("city_code", models.BigIntegerField())),
                        RangeOperators.OVERLAPS,
                    ),
                    (
                        DateRangeInclusive("effective_from", "effective_to", models.Value("[]")),
                        RangeOperators.OVERLAPS,
                    ),
                ],
            ),
        ]
        triggers = [
            # A published version never changes: a changed scheme is a new version. (An UPDATE
            # writing identical values, as a test database's serialized reload does, passes.)
            pgtrigger.Protect(
                name="immutable", operation=pgtrigger.Update, condition=pgtrigger.AnyChange()
            ),
            pgtrigger.Protect(name="never_deleted", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


class EntrySource(models.TextChoices):
    COMPUTED = "computed", "按事实计算"
    OFFICER = "officer", "窗口录入"
    DEPARTMENT = "department", "部门数据"


class PointsEntry(models.Model):
    """One line of a holder's points ledger; append-only (changes are new adjusting lines)."""

    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="points_entries", verbose_name="持证人"
    )
    policy = models.ForeignKey(
        PointsPolicy, on_delete=models.PROTECT, related_name="entries", verbose_name="积分政策"
    )
    indicator = models.CharField("指标", max_length=30)
    points = models.DecimalField("分值", max_digits=8, decimal_places=2)
    evidence = models.CharField("依据", max_length=300)
    source = models.CharField("来源", max_length=12, choices=EntrySource.choices)
    source_name = models.CharField("来源单位", max_length=60, blank=True)
    officer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="录入人",
    )
    reverses = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="冲销的记录",
    )
    created_at = models.DateTimeField("记账时间", auto_now_add=True)

    class Meta:
        verbose_name = "积分记录"
        verbose_name_plural = "积分记录"
        constraints = [
            models.CheckConstraint(condition=~Q(evidence=""), name="points_evidence_required"),
            models.CheckConstraint(condition=~Q(points=0), name="points_nonzero"),
        ]
        indexes = [models.Index(fields=["person", "policy"], name="points_person_policy_idx")]
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.indicator} {self.points:+}"


class PointsAccount(models.Model):
    """When a person's points were last recomputed, so the job finds changed facts."""

    person = models.OneToOneField(
        Person, on_delete=models.PROTECT, related_name="points_account", verbose_name="人员"
    )
    computed_at = models.DateTimeField("最近计算时间")
    computed_on = models.DateField("计算基准日")

    class Meta:
        verbose_name = "积分账户"
        verbose_name_plural = "积分账户"

    def __str__(self) -> str:
        return f"{self.person.name} 积分（{self.computed_at:%Y-%m-%d %H:%M}）"


# -- officers' queues (admin lists over the same tables) ----------------------------------------


class ApplicationQueue(PermitApplication):
    class Meta:
        proxy = True
        verbose_name = "待审核申领"
        verbose_name_plural = "队列：待审核申领"


class EndorsementDueQueue(ResidencePermit):
    class Meta:
        proxy = True
        verbose_name = "待签注居住证"
        verbose_name_plural = "队列：待签注居住证（签注期内或宽限期内）"


class LapsedQueue(ResidencePermit):
    class Meta:
        proxy = True
        verbose_name = "已中止居住证"
        verbose_name_plural = "队列：逾期未签注已中止"
