"""Department facts, feed batches, rejected rows and follow-ups for officers.

``Fact`` is one thing a department registered about a person (a job, insurance months, a
degree, a title deed, a rental, a birth certificate, a death, a marriage, a divorce, tax paid),
keyed by (kind, the department's record number). The fields rules read are typed columns; the
rest is ``detail``. Facts never change a person's own fields: effects that need an officer are
``FollowUp`` items that the registry admin lists.
"""

from __future__ import annotations

import pghistory
import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q

from population.models import Person
from population.sync.departments import Department
from population.sync.feeds import FactKind


class FeedFormat(models.TextChoices):
    CSV = "csv", "CSV"
    JSONL = "jsonl", "JSON Lines"


class BatchSource(models.TextChoices):
    API = "api", "接口推送"
    INBOX = "inbox", "交换目录"
    COMMAND = "command", "命令行导入"


class BatchStatus(models.TextChoices):
    RECEIVED = "received", "已接收"
    PROCESSING = "processing", "处理中"
    RETRYING = "retrying", "等待重试"
    DONE = "done", "已完成"
    QUARANTINED = "quarantined", "已隔离"


@pghistory.track(
    pghistory.UpdateEvent(condition=pghistory.AnyChange("status", "attempts", "requeues")),
    fields=["status", "attempts", "requeues", "committed_line", "last_error", "lease_owner"],
    model_name="BatchHistory",
    meta={"db_table": "population_batchhistory"},
    # Row level with a WHEN clause: the chunk commits, which change neither, cost nothing.
    level=pgtrigger.Row,
)
class Batch(models.Model):
    """One file a department delivered; the same content twice is the same batch.

    Its status changes are kept in ``BatchHistory`` with who and why (an officer's requeue
    reason), its worker hand-overs in ``BatchEvent``.
    """

    department = models.CharField("部门", max_length=10, choices=Department.choices)
    feed = models.CharField("数据项", max_length=20, choices=FactKind.choices)
    schema_version = models.PositiveSmallIntegerField("格式版本")
    fmt = models.CharField("文件格式", max_length=5, choices=FeedFormat.choices)
    encoding = models.CharField("字符编码", max_length=10)
    source = models.CharField("来源", max_length=10, choices=BatchSource.choices)
    filename = models.CharField("文件名", max_length=255)
    content = models.BinaryField("文件内容")
    content_sha256 = models.CharField("内容SHA-256", max_length=64)
    size_bytes = models.BigIntegerField("大小（字节）")
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="提交人",
    )
    status = models.CharField(
        "状态", max_length=12, choices=BatchStatus.choices, default=BatchStatus.RECEIVED
    )
    attempts = models.PositiveSmallIntegerField("处理次数", default=0)
    requeues = models.PositiveSmallIntegerField("人工重新处理次数", default=0)
    last_error = models.TextField("最近错误", blank=True)
    # Checkpoint: rows up to this line are committed; a resumed run starts after it.
    last_line = models.PositiveIntegerField("末行行号", default=0)
    committed_line = models.PositiveIntegerField("已提交至行", default=0)
    staged_at = models.DateTimeField("暂存时间", null=True, blank=True)
    received = models.PositiveIntegerField("接收行数", default=0)
    applied = models.PositiveIntegerField("写入行数", default=0)
    unchanged = models.PositiveIntegerField("无变化行数", default=0)
    rejected = models.PositiveIntegerField("拒收行数", default=0)
    received_at = models.DateTimeField("接收时间", auto_now_add=True)
    started_at = models.DateTimeField("开始时间", null=True, blank=True)
    finished_at = models.DateTimeField("完成时间", null=True, blank=True)
    # The lease (population/sync/leases.py): the process working on the batch renews it with
    # every committed step; once it lapses, another worker may take the batch over. An empty
    # owner with a time is a retry that must be claimed by then, or it is dispatched again.
    lease_owner = models.CharField(
        "租约持有者", max_length=200, blank=True, help_text="处理此批次的进程（主机:进程号:标识）"
    )
    lease_expires_at = models.DateTimeField(
        "租约到期时间",
        null=True,
        blank=True,
        help_text="持有者每提交一个分块续租一次；过期后由其他工作进程接管",
    )

    class Meta:
        db_table = "population_batch"  # the app's tables kept their first names
        verbose_name = "部门数据批次"
        verbose_name_plural = "部门数据批次"
        permissions = [("requeue_batch", "可重新处理未完成的部门数据批次")]
        constraints = [
            models.UniqueConstraint(
                fields=["department", "feed", "content_sha256"], name="sync_batch_content_once"
            ),
            models.CheckConstraint(
                condition=Q(committed_line__lte=models.F("last_line")),
                name="sync_batch_checkpoint_in_range",
            ),
            models.CheckConstraint(
                condition=Q(lease_owner="") | Q(lease_expires_at__isnull=False),
                name="sync_batch_lease_has_expiry",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "received_at"], name="sync_batch_status_idx"),
            # The sweep's search for lapsed leases of unfinished batches.
            models.Index(
                fields=["lease_expires_at"],
                condition=Q(lease_expires_at__isnull=False)
                & ~Q(status__in=["done", "quarantined"]),
                name="sync_batch_lease_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_department_display()} {self.filename}"

    @property
    def percent(self) -> int:
        """Share of the file's lines committed (0-100), updated between chunks."""
        if self.status == BatchStatus.DONE:
            return 100
        if not self.last_line:
            return 0
        return int(100 * self.committed_line / self.last_line)


class BatchEventKind(models.TextChoices):
    CLAIMED = "claimed", "领取处理"
    LEASE_LAPSED = "lease_lapsed", "租约过期，重新派发"
    LEASE_LOST = "lease_lost", "失去租约，停止处理"
    REQUEUED = "requeued", "人工重新处理"


class BatchEvent(models.Model):
    """The event log of a batch: who took it, when a lease lapsed, who requeued it and why."""

    batch = models.ForeignKey(
        Batch, on_delete=models.PROTECT, related_name="events", verbose_name="批次"
    )
    at = models.DateTimeField("时间", auto_now_add=True)
    kind = models.CharField("事件", max_length=20, choices=BatchEventKind.choices)
    worker = models.CharField("处理进程", max_length=200, blank=True)
    previous_worker = models.CharField("原处理进程", max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="操作人",
    )
    reason = models.CharField("原因", max_length=500, blank=True)
    committed_line = models.PositiveIntegerField("当时已提交至行", default=0)

    class Meta:
        db_table = "population_batchevent"
        verbose_name = "批次事件"
        verbose_name_plural = "批次事件"
        ordering = ["batch", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="requeued") | ~Q(reason=""), name="sync_batch_requeue_reason"
            ),
        ]
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"#{self.batch_id} {self.get_kind_display()}"


class RejectedRow(models.Model):
    """A row of a batch that was not applied, with its line number and reason."""

    batch = models.ForeignKey(
        Batch, on_delete=models.PROTECT, related_name="rejected_rows", verbose_name="批次"
    )
    line_no = models.PositiveIntegerField("行号")
    reason_code = models.CharField("原因代码", max_length=40)
    reason = models.CharField("原因", max_length=300)
    raw = models.TextField("原始内容")

    class Meta:
        db_table = "population_rejectedrow"
        verbose_name = "拒收行"
        verbose_name_plural = "拒收行"
        constraints = [
            models.UniqueConstraint(fields=["batch", "line_no"], name="sync_rejected_once"),
        ]
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"#{self.batch_id} 第{self.line_no}行 {self.reason_code}"


class _ReplannedEvent(pghistory.trigger.Event):
    """pghistory's statement-level event, its statement planned afresh on every run.

    PL/pgSQL keeps the plan of a statement without parameters for the whole session. The update
    event joins the old and new transition tables; planned while they were empty (a chunk that
    changed nothing), the join stayed a nested loop, and a later chunk of 15,000 updates spent
    145 s in it. ``EXECUTE`` plans the statement with the transition tables' real sizes.
    """

    def get_func(self, model):
        func = super().get_func(model)
        body = str(func.func)
        assert body.endswith("RETURN NULL;"), body  # noqa: S101 (pghistory's shape changed)
        statement = body.removesuffix("RETURN NULL;").strip().removesuffix(";")
        return pgtrigger.Func(f"EXECUTE $pgh_stmt${statement}$pgh_stmt$; RETURN NULL;")


class ReplannedUpdateEvent(pghistory.UpdateEvent):
    """``pghistory.UpdateEvent`` whose statement-level trigger is planned per run."""

    def add_event_trigger(self, event_model):
        pgtrigger.register(
            _ReplannedEvent(
                event_model=event_model,
                label=self.label,
                name=self.trigger_name,
                row=self.row,
                operation=self.operation,
                condition=self.condition,
                level=self.level,
            )
        )(event_model.pgh_tracked_model)


# Foreign keys of a fact, checked once per statement over its transition table (see Fact): the
# distinct ids are looked up in one index scan (``id = ANY(...)``) and counted; only when one
# is missing is it searched for, to name it.
_REFERENCES_CHECK = pgtrigger.Func(
    "DECLARE ids bigint[]; found bigint; missing bigint; ref text[]; BEGIN "
    "FOREACH ref SLICE 1 IN ARRAY ARRAY[['person_id', 'population_person'], "
    "['counterpart_id', 'population_person'], ['batch_id', 'population_batch']] LOOP "
    "EXECUTE format('SELECT array_agg(DISTINCT %I) FROM new_values WHERE %I IS NOT NULL', "
    "ref[1], ref[1]) INTO ids; "
    "CONTINUE WHEN ids IS NULL; "
    "EXECUTE format('SELECT count(*) FROM %I WHERE id = ANY($1)', ref[2]) INTO found USING ids; "
    "IF found <> cardinality(ids) THEN "
    "EXECUTE format('SELECT i FROM unnest($1) i WHERE NOT EXISTS "
    "(SELECT 1 FROM %I t WHERE t.id = i) LIMIT 1', ref[2]) INTO missing USING ids; "
    "RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', "
    "MESSAGE = 'population_fact: ' || ref[1] || '=' || missing || ' refers to no row', "
    "HINT = 'a fact must point to an existing person and batch'; "
    "END IF; END LOOP; RETURN NULL; END;"
)


def _references_trigger(name: str, operation) -> pgtrigger.Trigger:
    return pgtrigger.Trigger(
        name=name,
        level=pgtrigger.Statement,
        when=pgtrigger.After,
        operation=operation,
        referencing=pgtrigger.Referencing(new="new_values"),
        func=_REFERENCES_CHECK,
    )


@pghistory.track(
    pghistory.InsertEvent(), ReplannedUpdateEvent(), meta={"db_table": "population_factevent"}
)
class Fact(models.Model):
    """One fact a department registered about a person (部门登记事实).

    Its references (person, counterpart, batch) are checked once per statement, set-based, by
    the ``references_*`` triggers instead of one deferred foreign-key check per row at commit
    (which cost 14 s of every million rows loaded); the referenced side refuses to delete a
    person or batch a fact points to (``fact_referenced`` triggers below).
    """

    kind = models.CharField("类别", max_length=20, choices=FactKind.choices)
    record_no = models.CharField("部门记录号", max_length=64)
    department = models.CharField("来源部门", max_length=10, choices=Department.choices)
    person = models.ForeignKey(
        "population.Person",
        on_delete=models.PROTECT,
        related_name="department_facts",
        verbose_name="人员",
        db_index=False,  # (person, kind) below serves lookups by person
        db_constraint=False,  # checked per statement, see the class docstring
    )
    reported_name = models.CharField("部门登记姓名", max_length=50)
    counterpart_citizen_id = models.CharField(
        "关联人身份号码", max_length=18, blank=True, help_text="配偶、父亲等"
    )
    counterpart = models.ForeignKey(
        "population.Person",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="关联人",
        db_index=False,
        db_constraint=False,
    )
    org = models.CharField("单位/机构", max_length=200, blank=True)
    region_code = models.CharField("区划代码", max_length=12, blank=True)
    event_date = models.DateField("事件日期", null=True, blank=True)
    valid_from = models.DateField("有效期起", null=True, blank=True)
    valid_to = models.DateField("有效期止", null=True, blank=True)
    months = models.PositiveIntegerField("月数", null=True, blank=True)
    amount = models.DecimalField(
        "金额/面积", max_digits=14, decimal_places=2, null=True, blank=True
    )
    detail = models.JSONField("其他信息", default=dict, blank=True)
    batch = models.ForeignKey(
        Batch,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="最近写入批次",
        db_index=False,
        db_constraint=False,
    )
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        db_table = "population_fact"
        verbose_name = "部门登记事实"
        verbose_name_plural = "部门登记事实"
        constraints = [
            models.UniqueConstraint(fields=["kind", "record_no"], name="sync_fact_record_once"),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True)
                | Q(valid_from__isnull=True)
                | Q(valid_to__gte=models.F("valid_from")),
                name="sync_fact_validity_ordered",
            ),
        ]
        indexes = [
            models.Index(fields=["person", "kind"], name="sync_fact_person_kind_idx"),
        ]
        triggers = [
            _references_trigger("references_on_insert", pgtrigger.Insert),
            _references_trigger("references_on_update", pgtrigger.Update),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.record_no}"


def _referenced_trigger(column: str) -> pgtrigger.Trigger:
    """On a person or batch: refuse to delete (or renumber) a row a fact points to.

    The fact table's share lock waits for every transaction writing facts to end, so a fact
    committed meanwhile is seen (READ COMMITTED), as a foreign key's row lock would ensure.
    """
    columns = ["person_id", "counterpart_id"] if column == "person" else ["batch_id"]
    refers = " OR ".join(f"f.{c} = o.id" for c in columns)
    return pgtrigger.Trigger(
        name="fact_referenced",
        level=pgtrigger.Statement,
        when=pgtrigger.After,
        operation=pgtrigger.Delete,
        referencing=pgtrigger.Referencing(old="old_values"),
        func=pgtrigger.Func(
            "LOCK TABLE population_fact IN SHARE MODE; "  # noqa: S608 (fixed column names)
            "IF EXISTS (SELECT 1 FROM old_values o JOIN population_fact f ON "
            f"{refers}) THEN RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', "
            "MESSAGE = TG_TABLE_NAME || ': a department fact still refers to a deleted row'; "
            "END IF; RETURN NULL;"
        ),
    )


class FollowUpKind(models.TextChoices):
    DEATH_CANCELLATION = "death_cancellation", "死亡注销审核"
    BIRTH_REGISTRATION = "birth_registration", "出生登记提示"
    RECONCILIATION = "reconciliation", "信息核对"


class FollowUpStatus(models.TextChoices):
    OPEN = "open", "待处理"
    CLOSED = "closed", "已处理"


@pghistory.track(
    pghistory.InsertEvent(), pghistory.UpdateEvent(), meta={"db_table": "population_followupevent"}
)
class FollowUp(models.Model):
    """An effect of a feed that an officer must act on (the registry admin lists these).

    A death notice asks for a 死亡注销 review, a birth certificate for a 出生登记, and a value
    that disagrees with the authoritative department's becomes a reconciliation item; none of
    them changes the person record by itself.
    """

    kind = models.CharField("类别", max_length=20, choices=FollowUpKind.choices)
    status = models.CharField(
        "状态", max_length=10, choices=FollowUpStatus.choices, default=FollowUpStatus.OPEN
    )
    person = models.ForeignKey(
        "population.Person",
        on_delete=models.PROTECT,
        related_name="sync_followups",
        verbose_name="人员",
    )
    fact = models.ForeignKey(
        Fact, on_delete=models.PROTECT, null=True, blank=True, related_name="followups"
    )
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="followups")
    department = models.CharField("来源部门", max_length=10, choices=Department.choices)
    field = models.CharField("字段", max_length=40, blank=True, help_text="核对项，如 person.name")
    reported_value = models.CharField("部门报送值", max_length=200, blank=True)
    library_value = models.CharField("库内值", max_length=200, blank=True)
    # Makes deriving an effect idempotent: the same fact or disagreement opens one item.
    dedupe_key = models.CharField("去重键", max_length=120)
    created_at = models.DateTimeField("产生时间")
    closed_at = models.DateTimeField("处理时间", null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="处理人",
    )
    note = models.CharField("处理说明", max_length=300, blank=True)

    class Meta:
        db_table = "population_followup"
        verbose_name = "待办事项（部门数据）"
        verbose_name_plural = "待办事项（部门数据）"
        constraints = [
            models.UniqueConstraint(fields=["dedupe_key"], name="sync_followup_once"),
            models.CheckConstraint(
                condition=Q(status="open", closed_at__isnull=True)
                | Q(status="closed", closed_at__isnull=False),
                name="sync_followup_closed_has_time",
            ),
        ]
        indexes = [models.Index(fields=["kind", "status"], name="sync_followup_kind_status")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


pgtrigger.register(_referenced_trigger("batch"))(Batch)
# On population's Person: the trigger keeps the name (and the place in population's migrations)
# it had before this app was split off.
pgtrigger.register(_referenced_trigger("person"))(Person)
