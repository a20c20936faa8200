"""The base library: regions and persons, keyed by the citizen ID."""

from __future__ import annotations

import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Cast, Mod, Substr
from django.utils import timezone

from population.codes import ETHNICITIES
from population.identity import FEMALE, MALE, mask_citizen_id

# 统计用区划代码和城乡划分代码: these urban-rural codes count as urban.
URBAN_CODES = frozenset({"111", "112", "121", "122", "123"})
RURAL_CODES = frozenset({"210", "220"})


class RegionLevel(models.IntegerChoices):
    PROVINCE = 1, "省级"
    CITY = 2, "地级"
    COUNTY = 3, "县级"
    TOWNSHIP = 4, "乡级"
    VILLAGE = 5, "村级"


class UrbanRuralCode(models.TextChoices):
    """Urban-rural classification of a village-level unit (国家统计局 城乡划分代码)."""

    MAIN_URBAN = "111", "111 主城区"
    URBAN_FRINGE = "112", "112 城乡结合区"
    TOWN_CENTRE = "121", "121 镇中心区"
    TOWN_FRINGE = "122", "122 镇乡结合区"
    SPECIAL = "123", "123 特殊区域"
    TOWNSHIP_CENTRE = "210", "210 乡中心区"
    VILLAGE = "220", "220 村庄"


class Region(models.Model):
    """A statistical division unit: 12-digit code 省2 市2 县2 乡3 村3."""

    code = models.CharField("区划代码", max_length=12, primary_key=True)
    name = models.CharField("名称", max_length=100)
    level = models.PositiveSmallIntegerField("级别", choices=RegionLevel.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name="上级",
        on_delete=models.PROTECT,
        db_index=False,  # indexed below without the unused LIKE twin
        null=True,
        blank=True,
        related_name="children",
    )
    is_synthetic = models.BooleanField(
        "合成数据", default=False, help_text="演示用生成的村级单位，非国家统计局数据"
    )

    class Meta:
        verbose_name = "行政区划"
        verbose_name_plural = "行政区划"
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(code__regex=r"^[0-9]{12}$"), name="region_code_12_digits"
            ),
        ]
        indexes = [
            models.Index(fields=["parent"], name="region_parent_idx"),
            models.Index(fields=["level"], name="region_level_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"

    @property
    def county_code(self) -> str:
        return self.code[:6]


class RegionUrbanRural(models.Model):
    """The urban-rural code of a village-level unit in one year (it is reclassified yearly)."""

    region = models.ForeignKey(
        Region,
        on_delete=models.CASCADE,
        related_name="urban_rural",
        verbose_name="区划",
        db_index=False,  # the (region, year) unique index serves lookups by region
    )
    year = models.PositiveSmallIntegerField("年度")
    code = models.CharField("城乡分类代码", max_length=3, choices=UrbanRuralCode.choices)

    class Meta:
        verbose_name = "城乡分类"
        verbose_name_plural = "城乡分类"
        constraints = [
            models.UniqueConstraint(fields=["region", "year"], name="urban_rural_one_per_year"),
            models.CheckConstraint(
                condition=Q(code__in=sorted(URBAN_CODES | RURAL_CODES)),
                name="urban_rural_code_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.region_id} {self.year}: {self.code}"

    @property
    def is_urban(self) -> bool:
        return self.code in URBAN_CODES


class CountyCode(models.Model):
    """A GB/T 2260 county-level code, current or historical, and its current successor."""

    code = models.CharField("代码", max_length=6)
    name = models.CharField("名称", max_length=100)
    from_year = models.PositiveSmallIntegerField("启用年份", null=True, blank=True)
    to_year = models.PositiveSmallIntegerField("停用年份", null=True, blank=True)
    successor_code = models.CharField(
        "现行代码", max_length=6, blank=True, help_text="停用代码对应的现行代码"
    )

    class Meta:
        verbose_name = "县级代码沿革"
        verbose_name_plural = "县级代码沿革"
        constraints = [
            models.UniqueConstraint(fields=["code", "name"], name="county_code_name_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class PersonStatus(models.TextChoices):
    ACTIVE = "active", "正常"
    DECEASED = "deceased", "死亡"
    CANCELLED = "cancelled", "注销"


class Sex(models.IntegerChoices):
    """GB/T 2261.1."""

    MALE = MALE, "男"
    FEMALE = FEMALE, "女"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Person(models.Model):
    """One person the city knows, registered here or not, keyed by the citizen ID.

    The primary key is a surrogate so that a corrected citizen ID keeps every reference;
    sex and birth date must agree with the ID, which the database checks.
    """

    citizen_id = models.CharField("公民身份号码", max_length=18)
    name = models.CharField("姓名", max_length=50)
    sex = models.PositiveSmallIntegerField("性别", choices=Sex.choices)
    birth_date = models.DateField("出生日期")
    ethnicity = models.CharField("民族", max_length=2, choices=ETHNICITIES, default="01")
    status = models.CharField(
        "状态", max_length=10, choices=PersonStatus.choices, default=PersonStatus.ACTIVE
    )
    hukou_region = models.ForeignKey(
        Region,
        db_index=False,  # indexed in Meta without the unused LIKE twin
        verbose_name="户籍地",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="本市户籍所在村级单位；空表示非本市户籍",
    )
    residence_region = models.ForeignKey(
        Region,
        db_index=False,  # indexed in Meta without the unused LIKE twin
        verbose_name="实际居住地",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "人员"
        verbose_name_plural = "人员"
        permissions = [("view_full_citizen_id", "可查看完整公民身份号码")]
        constraints = [
            # A constraint, not unique=True: no second LIKE index on a column searched by equality.
            models.UniqueConstraint(fields=["citizen_id"], name="person_citizen_id_unique"),
            models.CheckConstraint(
                condition=Q(citizen_id__regex=r"^[0-9]{17}[0-9X]$"),
                name="person_citizen_id_format",
            ),
            # Sex is the parity of the 17th character: odd men, even women.
            models.CheckConstraint(
                condition=Q(
                    sex=2 - Mod(Cast(Substr("citizen_id", 17, 1), models.IntegerField()), 2)
                ),
                name="person_sex_matches_id",
            ),
            models.CheckConstraint(
                condition=Q(
                    birth_date=models.Func(
                        Cast(Substr("citizen_id", 7, 4), models.IntegerField()),
                        Cast(Substr("citizen_id", 11, 2), models.IntegerField()),
                        Cast(Substr("citizen_id", 13, 2), models.IntegerField()),
                        function="make_date",
                        output_field=models.DateField(),
                    )
                ),
                name="person_birth_date_matches_id",
            ),
        ]
        indexes = [
            # Prefix search by name in the admin (LIKE 'x%').
            models.Index(
                fields=["name"], name="person_name_prefix_idx", opclasses=["varchar_pattern_ops"]
            ),
            # (region, id): a jurisdiction's persons are an index-only range scan (see
            # population.jurisdiction); the region alone would visit every matching heap page.
            models.Index(fields=["hukou_region", "id"], name="person_hukou_region_id_idx"),
            models.Index(fields=["residence_region", "id"], name="person_residence_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.masked_citizen_id}）"

    @property
    def masked_citizen_id(self) -> str:
        return mask_citizen_id(self.citizen_id)

    @property
    def is_registered(self) -> bool:
        """Holds this city's hukou (本市户籍) and is neither dead nor cancelled."""
        return self.hukou_region_id is not None and self.status == PersonStatus.ACTIVE


class CitizenIdCorrection(models.Model):
    """A change of a person's citizen ID (duplicate corrected, error fixed); append-only."""

    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="id_corrections", verbose_name="人员"
    )
    old_citizen_id = models.CharField("原号码", max_length=18, db_index=True)
    new_citizen_id = models.CharField("新号码", max_length=18)
    reason = models.CharField("更正原因", max_length=200)
    document_number = models.CharField("依据文书号", max_length=60, blank=True)
    officer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="经办人",
    )
    corrected_at = models.DateTimeField("更正时间", auto_now_add=True)

    class Meta:
        verbose_name = "身份号码更正记录"
        verbose_name_plural = "身份号码更正记录"
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{mask_citizen_id(self.old_citizen_id)} → {mask_citizen_id(self.new_citizen_id)}"


# The content a row's HMAC covers, in order (population.audit); the log's rows never change.
ACCESS_LOG_CONTENT = (
    "id", "at", "user_id", "username", "channel", "purpose", "person_ids", "fields", "client",
)  # fmt: skip

# Every new log row joins the sealer's queue, in the inserting statement's transaction.
_SEAL_QUEUE_SQL = """
INSERT INTO population_accesslogpending (log_id) SELECT id FROM new_rows;
RETURN NULL;
"""


class AccessLog(models.Model):
    """One read of personal data (a person page, a list, an API answer); append-only.

    The request writes the row; a statement trigger queues it (``AccessLogPending``) and the
    sealer (``population.audit``) gives it its place in the chain (``AccessLogSeal``) exactly
    once. The row itself is never rewritten.
    """

    at = models.DateTimeField("时间", db_index=True)
    user_id = models.BigIntegerField("用户ID", null=True, blank=True)
    username = models.CharField("用户", max_length=150, blank=True)
    channel = models.CharField("渠道", max_length=40, help_text="admin.person, api.persons ...")
    purpose = models.CharField("用途", max_length=200)
    person_ids = ArrayField(models.BigIntegerField(), verbose_name="涉及人员")
    fields = ArrayField(models.CharField(max_length=60), verbose_name="读取字段")
    client = models.CharField("来源地址", max_length=64, blank=True)

    class Meta:
        verbose_name = "查阅日志"
        verbose_name_plural = "查阅日志"
        indexes = [
            models.Index(fields=["user_id", "at"], name="accesslog_user_at_idx"),
            # Print history on the person page (registry): GIN over the array of person ids.
            GinIndex(fields=["person_ids"], name="accesslog_person_ids_gin"),
        ]
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
            pgtrigger.Trigger(
                name="seal_queue",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                level=pgtrigger.Statement,
                referencing=pgtrigger.Referencing(new="new_rows"),
                func=_SEAL_QUEUE_SQL,
            ),
        ]

    def __str__(self) -> str:
        from population.audit_labels import channel_label

        who = self.username or "系统"
        return f"{timezone.localtime(self.at):%Y-%m-%d %H:%M} {who} {channel_label(self.channel)}"


class AccessLogPending(models.Model):
    """The sealer's queue: log rows not yet in the chain (a handful at any time)."""

    log_id = models.BigIntegerField("查阅日志ID", primary_key=True)

    class Meta:
        verbose_name = "待封存查阅日志"
        verbose_name_plural = "待封存查阅日志"

    def __str__(self) -> str:
        return str(self.log_id)


class AccessLogSeal(models.Model):
    """A log row's place in the chain: ``row_hash = HMAC(key, seq, content, previous hash)``.

    Narrow on purpose: sealing inserts these instead of rewriting the wide log rows. A row is
    sealed once (``log_id`` unique); links are never changed or removed.
    """

    seq = models.BigIntegerField("链序号", primary_key=True)
    log_id = models.BigIntegerField("查阅日志ID", unique=True)
    row_hash = models.CharField("本记录哈希", max_length=64)

    class Meta:
        verbose_name = "查阅日志链"
        verbose_name_plural = "查阅日志链"
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return str(self.seq)


class AccessLogPerson(models.Model):
    """Who read this person, newest first: one row per person named by a sealed access-log row.

    The log keeps the persons of a read in an array (a list page names fifty); this narrow table
    is the index the "who accessed me" page and API read, a primary key over (person, time, row)
    so one person's reads are a range scan, keyset-paginated, however large the log grows. The
    sealer writes it in the same transaction that seals the rows (off the request's path): a
    read appears here once it is sealed, within seconds, and exactly once.
    """

    pk = models.CompositePrimaryKey("person_id", "at", "log_id")
    person_id = models.BigIntegerField("人员ID")
    at = models.DateTimeField("时间")
    log_id = models.BigIntegerField("查阅日志ID")

    class Meta:
        verbose_name = "人员查阅索引"
        verbose_name_plural = "人员查阅索引"
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} {self.at:%Y-%m-%d %H:%M}"


class AuditCheckpoint(models.Model):
    """A signed head of the access-log chain after one sealed batch (审计检查点).

    Also appended to a file outside the database (``AUDIT_CHECKPOINT_DIR``), so a rewritten
    chain, a deleted tail or an emptied table is caught even by someone who knows the algorithm.
    """

    first_seq = models.BigIntegerField("起始序号")
    last_seq = models.BigIntegerField("截止序号", unique=True)
    count = models.IntegerField("记录数")
    head_hash = models.CharField("链头哈希", max_length=64)
    sealed_at = models.DateTimeField("封存时间", db_index=True)
    algorithm = models.CharField("算法", max_length=20)
    key_id = models.CharField("签名公钥指纹", max_length=16)
    signature = models.CharField("签名", max_length=128)

    class Meta:
        verbose_name = "审计检查点"
        verbose_name_plural = "审计检查点"
        constraints = [
            models.CheckConstraint(
                condition=Q(count=F("last_seq") - F("first_seq") + 1, first_seq__gte=1),
                name="auditcheckpoint_count_matches_range",
            ),
        ]
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.first_seq}–{self.last_seq}"


class AuditFinding(models.TextChoices):
    ALTERED = "altered", "记录被篡改"
    MISSING = "missing", "记录缺失"
    EXTRA = "extra", "多出记录"
    TRUNCATED = "truncated", "末尾记录被删除"
    UNSEALED = "unsealed", "超时未封存"
    CHECKPOINT = "checkpoint", "检查点无效"


class AuditVerification(models.Model):
    """One run of ``audit_verify`` (审计核验): what was checked and the first break found."""

    started_at = models.DateTimeField("开始时间")
    finished_at = models.DateTimeField("结束时间")
    date_from = models.DateField("核验起始日期", null=True, blank=True)
    date_to = models.DateField("核验截止日期", null=True, blank=True)
    intact = models.BooleanField("完好")
    finding = models.CharField(
        "问题", max_length=20, choices=AuditFinding.choices, blank=True, default=""
    )
    seq = models.BigIntegerField("问题所在序号", null=True, blank=True)
    detail = models.CharField("说明", max_length=300, blank=True)
    rows_checked = models.BigIntegerField("核验记录数", default=0)
    checkpoints_checked = models.IntegerField("核验检查点数", default=0)
    source = models.CharField("发起方式", max_length=20)

    class Meta:
        verbose_name = "审计核验"
        verbose_name_plural = "审计核验"
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{timezone.localtime(self.started_at):%Y-%m-%d %H:%M}"


class AuditArchive(models.Model):
    """One month of access log exported and dropped by retention (审计归档).

    The rows, their chain links and the checkpoints that cover them are in ``file`` (gzip JSON
    lines with a signed manifest, ``audit_verify --file``); the links stay in the database, so
    verifying the database accepts exactly the sequence numbers in ``seq_ranges`` as archived.
    """

    month = models.DateField("月份", unique=True, help_text="该月第一天（UTC）")
    rows = models.BigIntegerField("记录数")
    first_seq = models.BigIntegerField("起始序号", null=True, blank=True)
    last_seq = models.BigIntegerField("截止序号", null=True, blank=True)
    seq_ranges = models.JSONField("序号区间", default=list, help_text="[[起, 止], …]")
    file = models.CharField("归档文件", max_length=500)
    sha256 = models.CharField("文件SHA-256", max_length=64)
    archived_at = models.DateTimeField("归档时间")

    class Meta:
        verbose_name = "审计归档"
        verbose_name_plural = "审计归档"
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}"


class ChangeEvent(models.Model):
    """Outbox of person changes for the department change feed; append-only.

    ``id`` is the feed order. ``population.services.change_record`` assigns it under a
    transaction-scoped lock held until commit, so ids become visible in increasing order and a
    reader that keeps the last id it saw never skips a row that commits late. ``recorded_at`` is
    set under the same lock from the database's clock and never goes back, so it rises with
    ``id``: the table is range-partitioned by month on it (migration population 0032), and a
    reader bounds its time by ``ChangeFeedMonth`` to read only the months after its cursor.
    """

    kind = models.CharField("变更类型", max_length=40)
    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="+", verbose_name="人员", db_index=False
    )
    effective_date = models.DateField("生效日期", null=True, blank=True)
    # Set by change_record under the feed's lock (never earlier than the feed's last row).
    recorded_at = models.DateTimeField("记录时间", default=timezone.now, editable=False)
    regions = ArrayField(
        models.CharField(max_length=12), default=list, verbose_name="涉及区划", blank=True
    )
    source = models.CharField("来源", max_length=60, help_text="如 registry.12（登记事项）")

    class Meta:
        verbose_name = "变更事件"
        verbose_name_plural = "变更事件"
        indexes = [
            models.Index(fields=["kind", "id"], name="changeevent_kind_id_idx"),
            models.Index(fields=["person"], name="changeevent_person_idx"),
            # The feed's newest time, read under the lock by change_record.
            models.Index(fields=["recorded_at"], name="changeevent_recorded_at_idx"),
        ]
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"#{self.id} {self.kind} {self.person_id}"


class ChangeFeedMonth(models.Model):
    """Where each month starts in the change feed: every change with an id above ``after_id`` is
    recorded in ``month`` (UTC) or later. Append-only; one row per month, written by
    ``change_record`` with a month's first change (and by migration population 0032 for the
    changes recorded before it). The feed reader looks up its cursor here to bound the time
    it reads, so it touches only the partitions from its cursor's month on."""

    month = models.DateField("月份", primary_key=True, help_text="该月1日（UTC）")
    after_id = models.BigIntegerField(
        "此前最后变更序号", help_text="序号大于此值的变更都记录于该月或之后"
    )

    class Meta:
        verbose_name = "变更订阅月份起点"
        verbose_name_plural = "变更订阅月份起点"
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} > #{self.after_id}"


class OfficerRegion(models.Model):
    """辖区 (jurisdiction): one region a staff member works in.

    An officer's regions are a police station's area (township or village-level units); a
    supervisor's or auditor's may be whole counties or the city. A region covers every unit whose
    code falls under it (see ``population.jurisdiction``).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="jurisdiction_regions",
        verbose_name="工作人员",
    )
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="+", verbose_name="辖区"
    )

    class Meta:
        verbose_name = "辖区分配"
        verbose_name_plural = "辖区分配"
        constraints = [
            models.UniqueConstraint(fields=["user", "region"], name="officer_region_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} → {self.region_id}"


class BreakGlassGrant(models.Model):
    """跨辖区查询授权 (break the glass): time-limited access to one person outside one's area.

    Append-only: a grant ends by expiring, never by an edit. Each access under it is a row of
    the access log (channel ``break_glass``).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="申请人",
    )
    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="+", verbose_name="人员"
    )
    reason = models.CharField("事由", max_length=200)
    granted_at = models.DateTimeField("授权时间")
    expires_at = models.DateTimeField("到期时间")

    class Meta:
        verbose_name = "跨辖区查询授权"
        verbose_name_plural = "跨辖区查询授权"
        indexes = [
            models.Index(fields=["user", "expires_at"], name="breakglass_user_expires_idx"),
            models.Index(fields=["person"], name="breakglass_person_idx"),
            models.Index(fields=["granted_at"], name="breakglass_granted_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("granted_at")), name="breakglass_expiry_after_grant"
            ),
        ]
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.person_id} {self.granted_at:%Y-%m-%d %H:%M}"
