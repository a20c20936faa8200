"""The department sync's models, moved here from the ``population`` app in Django's state only.

Their tables keep their names (``db_table``) and their rows; nothing is copied. The database
part renames the triggers (django-pgtrigger names a trigger after its model's app label): each
trigger and its function get the name pgtrigger now gives them, and the hash it compares; their
definitions stay as they are. ``population.0035_sync_models_to_own_app`` then drops the models
from ``population``'s state and moves their content types (and so their permissions) here.
"""

import hashlib

import django.db.models.deletion
import pgtrigger.compiler
import pgtrigger.migrations
from django.conf import settings
from django.db import migrations, models

STATE_OPERATIONS = [
    migrations.CreateModel(
        name="Batch",
        fields=[
            (
                "id",
                models.BigAutoField(
                    auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                ),
            ),
            (
                "department",
                models.CharField(
                    choices=[
                        ("psb", "公安"),
                        ("hrss", "人社"),
                        ("edu", "教育"),
                        ("housing", "住建"),
                        ("health", "卫健"),
                        ("civil", "民政"),
                        ("tax", "税务"),
                    ],
                    max_length=10,
                    verbose_name="部门",
                ),
            ),
            (
                "feed",
                models.CharField(
                    choices=[
                        ("employment", "就业登记"),
                        ("social_insurance", "社会保险缴费"),
                        ("enrolment", "在学"),
                        ("degree", "学历学位"),
                        ("property", "房屋产权"),
                        ("rental", "租赁登记备案"),
                        ("birth_certificate", "出生医学证明"),
                        ("death", "死亡医学证明"),
                        ("marriage", "结婚登记"),
                        ("divorce", "离婚登记"),
                        ("tax_paid", "个人所得税纳税"),
                    ],
                    max_length=20,
                    verbose_name="数据项",
                ),
            ),
            ("schema_version", models.PositiveSmallIntegerField(verbose_name="格式版本")),
            (
                "fmt",
                models.CharField(
                    choices=[("csv", "CSV"), ("jsonl", "JSON Lines")],
                    max_length=5,
                    verbose_name="文件格式",
                ),
            ),
            ("encoding", models.CharField(max_length=10, verbose_name="字符编码")),
            (
                "source",
                models.CharField(
                    choices=[("api", "接口推送"), ("inbox", "交换目录"), ("command", "命令行导入")],
                    max_length=10,
                    verbose_name="来源",
                ),
            ),
            ("filename", models.CharField(max_length=255, verbose_name="文件名")),
            ("content", models.BinaryField(verbose_name="文件内容")),
            ("content_sha256", models.CharField(max_length=64, verbose_name="内容SHA-256")),
            ("size_bytes", models.BigIntegerField(verbose_name="大小（字节）")),
            (
                "status",
                models.CharField(
                    choices=[
                        ("received", "已接收"),
                        ("processing", "处理中"),
                        ("retrying", "等待重试"),
                        ("done", "已完成"),
                        ("quarantined", "已隔离"),
                    ],
                    default="received",
                    max_length=12,
                    verbose_name="状态",
                ),
            ),
            ("attempts", models.PositiveSmallIntegerField(default=0, verbose_name="处理次数")),
            (
                "requeues",
                models.PositiveSmallIntegerField(default=0, verbose_name="人工重新处理次数"),
            ),
            ("last_error", models.TextField(blank=True, verbose_name="最近错误")),
            ("last_line", models.PositiveIntegerField(default=0, verbose_name="末行行号")),
            ("committed_line", models.PositiveIntegerField(default=0, verbose_name="已提交至行")),
            ("staged_at", models.DateTimeField(blank=True, null=True, verbose_name="暂存时间")),
            ("received", models.PositiveIntegerField(default=0, verbose_name="接收行数")),
            ("applied", models.PositiveIntegerField(default=0, verbose_name="写入行数")),
            ("unchanged", models.PositiveIntegerField(default=0, verbose_name="无变化行数")),
            ("rejected", models.PositiveIntegerField(default=0, verbose_name="拒收行数")),
            ("received_at", models.DateTimeField(auto_now_add=True, verbose_name="接收时间")),
            ("started_at", models.DateTimeField(blank=True, null=True, verbose_name="开始时间")),
            ("finished_at", models.DateTimeField(blank=True, null=True, verbose_name="完成时间")),
            (
                "lease_owner",
                models.CharField(
                    blank=True,
                    help_text="处理此批次的进程（主机:进程号:标识）",
                    max_length=200,
                    verbose_name="租约持有者",
                ),
            ),
            (
                "lease_expires_at",
                models.DateTimeField(
                    blank=True,
                    help_text="持有者每提交一个分块续租一次；过期后由其他工作进程接管",
                    null=True,
                    verbose_name="租约到期时间",
                ),
            ),
            (
                "submitted_by",
                models.ForeignKey(
                    blank=True,
                    null=True,
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="+",
                    to=settings.AUTH_USER_MODEL,
                    verbose_name="提交人",
                ),
            ),
        ],
        options={
            "verbose_name": "部门数据批次",
            "verbose_name_plural": "部门数据批次",
            "db_table": "population_batch",
            "permissions": [("requeue_batch", "可重新处理未完成的部门数据批次")],
        },
    ),
    migrations.CreateModel(
        name="BatchEvent",
        fields=[
            (
                "id",
                models.BigAutoField(
                    auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                ),
            ),
            ("at", models.DateTimeField(auto_now_add=True, verbose_name="时间")),
            (
                "kind",
                models.CharField(
                    choices=[
                        ("claimed", "领取处理"),
                        ("lease_lapsed", "租约过期，重新派发"),
                        ("lease_lost", "失去租约，停止处理"),
                        ("requeued", "人工重新处理"),
                    ],
                    max_length=20,
                    verbose_name="事件",
                ),
            ),
            ("worker", models.CharField(blank=True, max_length=200, verbose_name="处理进程")),
            (
                "previous_worker",
                models.CharField(blank=True, max_length=200, verbose_name="原处理进程"),
            ),
            ("reason", models.CharField(blank=True, max_length=500, verbose_name="原因")),
            (
                "committed_line",
                models.PositiveIntegerField(default=0, verbose_name="当时已提交至行"),
            ),
            (
                "actor",
                models.ForeignKey(
                    blank=True,
                    null=True,
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="+",
                    to=settings.AUTH_USER_MODEL,
                    verbose_name="操作人",
                ),
            ),
            (
                "batch",
                models.ForeignKey(
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="events",
                    to="sync.batch",
                    verbose_name="批次",
                ),
            ),
        ],
        options={
            "verbose_name": "批次事件",
            "verbose_name_plural": "批次事件",
            "db_table": "population_batchevent",
            "ordering": ["batch", "id"],
        },
    ),
    migrations.CreateModel(
        name="BatchHistory",
        fields=[
            ("pgh_id", models.AutoField(primary_key=True, serialize=False)),
            ("pgh_created_at", models.DateTimeField(auto_now_add=True)),
            ("pgh_label", models.TextField(help_text="The event label.")),
            (
                "status",
                models.CharField(
                    choices=[
                        ("received", "已接收"),
                        ("processing", "处理中"),
                        ("retrying", "等待重试"),
                        ("done", "已完成"),
                        ("quarantined", "已隔离"),
                    ],
                    default="received",
                    max_length=12,
                    verbose_name="状态",
                ),
            ),
            ("attempts", models.PositiveSmallIntegerField(default=0, verbose_name="处理次数")),
            (
                "requeues",
                models.PositiveSmallIntegerField(default=0, verbose_name="人工重新处理次数"),
            ),
            ("committed_line", models.PositiveIntegerField(default=0, verbose_name="已提交至行")),
            ("last_error", models.TextField(blank=True, verbose_name="最近错误")),
            (
                "lease_owner",
                models.CharField(
                    blank=True,
                    help_text="处理此批次的进程（主机:进程号:标识）",
                    max_length=200,
                    verbose_name="租约持有者",
                ),
            ),
            (
                "pgh_context",
                models.ForeignKey(
                    db_constraint=False,
                    db_index=False,
                    null=True,
                    on_delete=django.db.models.deletion.DO_NOTHING,
                    related_name="+",
                    to="pghistory.context",
                ),
            ),
            (
                "pgh_obj",
                models.ForeignKey(
                    db_constraint=False,
                    db_index=False,
                    on_delete=django.db.models.deletion.DO_NOTHING,
                    related_name="status_attempts_requeues_committed_line_last_error_lease_owner_events",
                    to="sync.batch",
                ),
            ),
        ],
        options={
            "db_table": "population_batchhistory",
            "abstract": False,
        },
    ),
    migrations.CreateModel(
        name="Fact",
        fields=[
            (
                "id",
                models.BigAutoField(
                    auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                ),
            ),
            (
                "kind",
                models.CharField(
                    choices=[
                        ("employment", "就业登记"),
                        ("social_insurance", "社会保险缴费"),
                        ("enrolment", "在学"),
                        ("degree", "学历学位"),
                        ("property", "房屋产权"),
                        ("rental", "租赁登记备案"),
                        ("birth_certificate", "出生医学证明"),
                        ("death", "死亡医学证明"),
                        ("marriage", "结婚登记"),
                        ("divorce", "离婚登记"),
                        ("tax_paid", "个人所得税纳税"),
                    ],
                    max_length=20,
                    verbose_name="类别",
                ),
            ),
            ("record_no", models.CharField(max_length=64, verbose_name="部门记录号")),
            (
                "department",
                models.CharField(
                    choices=[
                        ("psb", "公安"),
                        ("hrss", "人社"),
                        ("edu", "教育"),
                        ("housing", "住建"),
                        ("health", "卫健"),
                        ("civil", "民政"),
                        ("tax", "税务"),
                    ],
                    max_length=10,
                    verbose_name="来源部门",
                ),
            ),
            ("reported_name", models.CharField(max_length=50, verbose_name="部门登记姓名")),
            (
                "counterpart_citizen_id",
                models.CharField(
                    blank=True,
                    help_text="配偶、父亲等",
                    max_length=18,
                    verbose_name="关联人身份号码",
                ),
            ),
            ("org", models.CharField(blank=True, max_length=200, verbose_name="单位/机构")),
            ("region_code", models.CharField(blank=True, max_length=12, verbose_name="区划代码")),
            ("event_date", models.DateField(blank=True, null=True, verbose_name="事件日期")),
            ("valid_from", models.DateField(blank=True, null=True, verbose_name="有效期起")),
            ("valid_to", models.DateField(blank=True, null=True, verbose_name="有效期止")),
            ("months", models.PositiveIntegerField(blank=True, null=True, verbose_name="月数")),
            (
                "amount",
                models.DecimalField(
                    blank=True, decimal_places=2, max_digits=14, null=True, verbose_name="金额/面积"
                ),
            ),
            ("detail", models.JSONField(blank=True, default=dict, verbose_name="其他信息")),
            ("created_at", models.DateTimeField(verbose_name="创建时间")),
            ("updated_at", models.DateTimeField(verbose_name="更新时间")),
            (
                "batch",
                models.ForeignKey(
                    db_constraint=False,
                    db_index=False,
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="+",
                    to="sync.batch",
                    verbose_name="最近写入批次",
                ),
            ),
            (
                "counterpart",
                models.ForeignKey(
                    blank=True,
                    db_constraint=False,
                    db_index=False,
                    null=True,
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="+",
                    to="population.person",
                    verbose_name="关联人",
                ),
            ),
            (
                "person",
                models.ForeignKey(
                    db_constraint=False,
                    db_index=False,
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="department_facts",
                    to="population.person",
                    verbose_name="人员",
                ),
            ),
        ],
        options={
            "verbose_name": "部门登记事实",
            "verbose_name_plural": "部门登记事实",
            "db_table": "population_fact",
        },
    ),
    migrations.CreateModel(
        name="FactEvent",
        fields=[
            ("pgh_id", models.AutoField(primary_key=True, serialize=False)),
            ("pgh_created_at", models.DateTimeField(auto_now_add=True)),
            ("pgh_label", models.TextField(help_text="The event label.")),
            ("id", models.BigIntegerField()),
            (
                "kind",
                models.CharField(
                    choices=[
                        ("employment", "就业登记"),
                        ("social_insurance", "社会保险缴费"),
                        ("enrolment", "在学"),
                        ("degree", "学历学位"),
                        ("property", "房屋产权"),
                        ("rental", "租赁登记备案"),
                        ("birth_certificate", "出生医学证明"),
                        ("death", "死亡医学证明"),
                        ("marriage", "结婚登记"),
                        ("divorce", "离婚登记"),
                        ("tax_paid", "个人所得税纳税"),
                    ],
                    max_length=20,
                    verbose_name="类别",
                ),
            ),
            ("record_no", models.CharField(max_length=64, verbose_name="部门记录号")),
            (
                "department",
                models.CharField(
                    choices=[
                        ("psb", "公安"),
                        ("hrss", "人社"),
                        ("edu", "教育"),
                        ("housing", "住建"),
                        ("health", "卫健"),
                        ("civil", "民政"),
                        ("tax", "税务"),
                    ],
                    max_length=10,
                    verbose_name="来源部门",
                ),
            ),
            ("reported_name", models.CharField(max_length=50, verbose_name="部门登记姓名")),
            (
                "counterpart_citizen_id",
                models.CharField(
                    blank=True,
                    help_text="配偶、父亲等",
                    max_length=18,
                    verbose_name="关联人身份号码",
                ),
            ),
            ("org", models.CharField(blank=True, max_length=200, verbose_name="单位/机构")),
            ("region_code", models.CharField(blank=True, max_length=12, verbose_name="区划代码")),
            ("event_date", models.DateField(blank=True, null=True, verbose_name="事件日期")),
            ("valid_from", models.DateField(blank=True, null=True, verbose_name="有效期起")),
            ("valid_to", models.DateField(blank=True, null=True, verbose_name="有效期止")),
            ("months", models.PositiveIntegerField(blank=True, null=True, verbose_name="月数")),
            (
                "amount",
                models.DecimalField(
                    blank=True, decimal_places=2, max_digits=14, null=True, verbose_name="金额/面积"
                ),
            ),
            ("detail", models.JSONField(blank=True, default=dict, verbose_name="其他信息")),
            ("created_at", models.DateTimeField(verbose_name="创建时间")),
            ("updated_at", models.DateTimeField(verbose_name="更新时间")),
            (
                "batch",
                models.ForeignKey(
                    db_constraint=False,
                    db_index=False,
                    on_delete=django.db.models.deletion.DO_NOTHING,
                    related_name="+",
                    related_query_name="+",
                    to="sync.batch",
                    verbose_name="最近写入批次",
                ),
            ),
            (
                "counterpart",
                models.ForeignKey(
                    blank=True,
                    db_constraint=False,
                    db_index=False,
                    null=True,
                    on_delete=django.db.models.deletion.DO_NOTHING,
                    related_name="+",
                    related_query_name="+",
                    to="population.person",
                    verbose_name="关联人",
                ),
            ),
            (
                "person",
                models.ForeignKey(
                    db_constraint=False,
                    db_index=False,
                    on_delete=django.db.models.deletion.DO_NOTHING,
                    related_name="+",
                    related_query_name="+",
                    to="population.person",
                    verbose_name="人员",
                ),
            ),
            (
                "pgh_context",
                models.ForeignKey(
                    db_constraint=False,
                    db_index=False,
                    null=True,
                    on_delete=django.db.models.deletion.DO_NOTHING,
                    related_name="+",
                    to="pghistory.context",
                ),
            ),
            (
                "pgh_obj",
                models.ForeignKey(
                    db_constraint=False,
                    db_index=False,
                    on_delete=django.db.models.deletion.DO_NOTHING,
                    related_name="events",
                    to="sync.fact",
                ),
            ),
        ],
        options={
            "db_table": "population_factevent",
            "abstract": False,
        },
    ),
    migrations.CreateModel(
        name="FollowUp",
        fields=[
            (
                "id",
                models.BigAutoField(
                    auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                ),
            ),
            (
                "kind",
                models.CharField(
                    choices=[
                        ("death_cancellation", "死亡注销审核"),
                        ("birth_registration", "出生登记提示"),
                        ("reconciliation", "信息核对"),
                    ],
                    max_length=20,
                    verbose_name="类别",
                ),
            ),
            (
                "status",
                models.CharField(
                    choices=[("open", "待处理"), ("closed", "已处理")],
                    default="open",
                    max_length=10,
                    verbose_name="状态",
                ),
            ),
            (
                "department",
                models.CharField(
                    choices=[
                        ("psb", "公安"),
                        ("hrss", "人社"),
                        ("edu", "教育"),
                        ("housing", "住建"),
                        ("health", "卫健"),
                        ("civil", "民政"),
                        ("tax", "税务"),
                    ],
                    max_length=10,
                    verbose_name="来源部门",
                ),
            ),
            (
                "field",
                models.CharField(
                    blank=True,
                    help_text="核对项，如 person.name",
                    max_length=40,
                    verbose_name="字段",
                ),
            ),
            (
                "reported_value",
                models.CharField(blank=True, max_length=200, verbose_name="部门报送值"),
            ),
            ("library_value", models.CharField(blank=True, max_length=200, verbose_name="库内值")),
            ("dedupe_key", models.CharField(max_length=120, verbose_name="去重键")),
            ("created_at", models.DateTimeField(verbose_name="产生时间")),
            ("closed_at", models.DateTimeField(blank=True, null=True, verbose_name="处理时间")),
            ("note", models.CharField(blank=True, max_length=300, verbose_name="处理说明")),
            (
                "batch",
                models.ForeignKey(
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="followups",
                    to="sync.batch",
                ),
            ),
            (
                "closed_by",
                models.ForeignKey(
                    blank=True,
                    null=True,
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="+",
                    to=settings.AUTH_USER_MODEL,
                    verbose_name="处理人",
                ),
            ),
            (
                "fact",
                models.ForeignKey(
                    blank=True,
                    null=True,
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="followups",
                    to="sync.fact",
                ),
            ),
            (
                "person",
                models.ForeignKey(
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="sync_followups",
                    to="population.person",
                    verbose_name="人员",
                ),
            ),
        ],
        options={
            "verbose_name": "待办事项（部门数据）",
            "verbose_name_plural": "待办事项（部门数据）",
            "db_table": "population_followup",
        },
    ),
    migrations.CreateModel(
        name="FollowUpEvent",
        fields=[
            ("pgh_id", models.AutoField(primary_key=True, serialize=False)),
            ("pgh_created_at", models.DateTimeField(auto_now_add=True)),
            ("pgh_label", models.TextField(help_text="The event label.")),
            ("id", models.BigIntegerField()),
            (
                "kind",
                models.CharField(
                    choices=[
                        ("death_cancellation", "死亡注销审核"),
                        ("birth_registration", "出生登记提示"),
                        ("reconciliation", "信息核对"),
                    ],
                    max_length=20,
                    verbose_name="类别",
                ),
            ),
            (
                "status",
                models.CharField(
                    choices=[("open", "待处理"), ("closed", "已处理")],
                    default="open",
                    max_length=10,
                    verbose_name="状态",
                ),
            ),
            (
                "department",
                models.CharField(
                    choices=[
                        ("psb", "公安"),
                        ("hrss", "人社"),
                        ("edu", "教育"),
                        ("housing", "住建"),
                        ("health", "卫健"),
                        ("civil", "民政"),
                        ("tax", "税务"),
                    ],
                    max_length=10,
                    verbose_name="来源部门",
                ),
            ),
            (
                "field",
                models.CharField(
                    blank=True,
                    help_text="核对项，如 person.name",
                    max_length=40,
                    verbose_name="字段",
                ),
            ),
            (
                "reported_value",
                models.CharField(blank=True, max_length=200, verbose_name="部门报送值"),
            ),
            ("library_value", models.CharField(blank=True, max_length=200, verbose_name="库内值")),
            ("dedupe_key", models.CharField(max_length=120, verbose_name="去重键")),
            ("created_at", models.DateTimeField(verbose_name="产生时间")),
            ("closed_at", models.DateTimeField(blank=True, null=True, verbose_name="处理时间")),
            ("note", models.CharField(blank=True, max_length=300, verbose_name="处理说明")),
            (
                "batch",
                models.ForeignKey(
                    db_constraint=False,
                    db_index=False,
                    on_delete=django.db.models.deletion.DO_NOTHING,
                    related_name="+",
                    related_query_name="+",
                    to="sync.batch",
                ),
            ),
            (
                "closed_by",
                models.ForeignKey(
                    blank=True,
                    db_constraint=False,
                    db_index=False,
                    null=True,
                    on_delete=django.db.models.deletion.DO_NOTHING,
                    related_name="+",
                    related_query_name="+",
                    to=settings.AUTH_USER_MODEL,
                    verbose_name="处理人",
                ),
            ),
            (
                "fact",
                models.ForeignKey(
                    blank=True,
                    db_constraint=False,
                    db_index=False,
                    null=True,
                    on_delete=django.db.models.deletion.DO_NOTHING,
                    related_name="+",
                    related_query_name="+",
                    to="sync.fact",
                ),
            ),
            (
                "person",
                models.ForeignKey(
                    db_constraint=False,
                    db_index=False,
                    on_delete=django.db.models.deletion.DO_NOTHING,
                    related_name="+",
                    related_query_name="+",
                    to="population.person",
                    verbose_name="人员",
                ),
            ),
            (
                "pgh_context",
                models.ForeignKey(
                    db_constraint=False,
                    db_index=False,
                    null=True,
                    on_delete=django.db.models.deletion.DO_NOTHING,
                    related_name="+",
                    to="pghistory.context",
                ),
            ),
            (
                "pgh_obj",
                models.ForeignKey(
                    db_constraint=False,
                    db_index=False,
                    on_delete=django.db.models.deletion.DO_NOTHING,
                    related_name="events",
                    to="sync.followup",
                ),
            ),
        ],
        options={
            "db_table": "population_followupevent",
            "abstract": False,
        },
    ),
    migrations.CreateModel(
        name="RejectedRow",
        fields=[
            (
                "id",
                models.BigAutoField(
                    auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                ),
            ),
            ("line_no", models.PositiveIntegerField(verbose_name="行号")),
            ("reason_code", models.CharField(max_length=40, verbose_name="原因代码")),
            ("reason", models.CharField(max_length=300, verbose_name="原因")),
            ("raw", models.TextField(verbose_name="原始内容")),
            (
                "batch",
                models.ForeignKey(
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="rejected_rows",
                    to="sync.batch",
                    verbose_name="批次",
                ),
            ),
        ],
        options={
            "verbose_name": "拒收行",
            "verbose_name_plural": "拒收行",
            "db_table": "population_rejectedrow",
        },
    ),
    migrations.AddIndex(
        model_name="batch",
        index=models.Index(fields=["status", "received_at"], name="sync_batch_status_idx"),
    ),
    migrations.AddIndex(
        model_name="batch",
        index=models.Index(
            condition=models.Q(
                ("lease_expires_at__isnull", False),
                models.Q(("status__in", ["done", "quarantined"]), _negated=True),
            ),
            fields=["lease_expires_at"],
            name="sync_batch_lease_idx",
        ),
    ),
    migrations.AddConstraint(
        model_name="batch",
        constraint=models.UniqueConstraint(
            fields=("department", "feed", "content_sha256"), name="sync_batch_content_once"
        ),
    ),
    migrations.AddConstraint(
        model_name="batch",
        constraint=models.CheckConstraint(
            condition=models.Q(("committed_line__lte", models.F("last_line"))),
            name="sync_batch_checkpoint_in_range",
        ),
    ),
    migrations.AddConstraint(
        model_name="batch",
        constraint=models.CheckConstraint(
            condition=models.Q(
                ("lease_owner", ""), ("lease_expires_at__isnull", False), _connector="OR"
            ),
            name="sync_batch_lease_has_expiry",
        ),
    ),
    pgtrigger.migrations.AddTrigger(
        model_name="batch",
        trigger=pgtrigger.compiler.Trigger(
            name="update_update",
            sql=pgtrigger.compiler.UpsertTriggerSql(
                condition='WHEN (OLD."attempts" IS DISTINCT FROM (NEW."attempts") OR OLD."requeues" IS DISTINCT FROM (NEW."requeues") OR OLD."status" IS DISTINCT FROM (NEW."status"))',
                func='INSERT INTO "population_batchhistory" ("attempts", "committed_line", "last_error", "lease_owner", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "requeues", "status") VALUES (NEW."attempts", NEW."committed_line", NEW."last_error", NEW."lease_owner", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."requeues", NEW."status"); RETURN NULL;',
                hash="907384235fdf8ed2e6277f855fde5d68d1ec9d05",
                operation="UPDATE",
                pgid="pgtrigger_update_update_072d3",
                table="population_batch",
                when="AFTER",
            ),
        ),
    ),
    pgtrigger.migrations.AddTrigger(
        model_name="batch",
        trigger=pgtrigger.compiler.Trigger(
            name="fact_referenced",
            sql=pgtrigger.compiler.UpsertTriggerSql(
                func="LOCK TABLE population_fact IN SHARE MODE; IF EXISTS (SELECT 1 FROM old_values o JOIN population_fact f ON f.batch_id = o.id) THEN RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', MESSAGE = TG_TABLE_NAME || ': a department fact still refers to a deleted row'; END IF; RETURN NULL;",
                hash="89a5463d55f764e64e4e0df6c9b0883e1122065a",
                level="STATEMENT",
                operation="DELETE",
                pgid="pgtrigger_fact_referenced_1d098",
                referencing="REFERENCING OLD TABLE AS old_values ",
                table="population_batch",
                when="AFTER",
            ),
        ),
    ),
    migrations.AddConstraint(
        model_name="batchevent",
        constraint=models.CheckConstraint(
            condition=models.Q(
                models.Q(("kind", "requeued"), _negated=True),
                models.Q(("reason", ""), _negated=True),
                _connector="OR",
            ),
            name="sync_batch_requeue_reason",
        ),
    ),
    pgtrigger.migrations.AddTrigger(
        model_name="batchevent",
        trigger=pgtrigger.compiler.Trigger(
            name="append_only",
            sql=pgtrigger.compiler.UpsertTriggerSql(
                func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;",
                hash="60b1db154a57584ffc1fc263dada6fea4bd0ac98",
                operation="UPDATE OR DELETE",
                pgid="pgtrigger_append_only_a696d",
                table="population_batchevent",
                when="BEFORE",
            ),
        ),
    ),
    pgtrigger.migrations.AddTrigger(
        model_name="batchhistory",
        trigger=pgtrigger.compiler.Trigger(
            name="append_only",
            sql=pgtrigger.compiler.UpsertTriggerSql(
                func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;",
                hash="b2c4c5fedb81e27c207ef95520c82114e9c40a6d",
                operation="UPDATE OR DELETE",
                pgid="pgtrigger_append_only_49be3",
                table="population_batchhistory",
                when="BEFORE",
            ),
        ),
    ),
    migrations.AddIndex(
        model_name="fact",
        index=models.Index(fields=["person", "kind"], name="sync_fact_person_kind_idx"),
    ),
    migrations.AddConstraint(
        model_name="fact",
        constraint=models.UniqueConstraint(
            fields=("kind", "record_no"), name="sync_fact_record_once"
        ),
    ),
    migrations.AddConstraint(
        model_name="fact",
        constraint=models.CheckConstraint(
            condition=models.Q(
                ("valid_to__isnull", True),
                ("valid_from__isnull", True),
                ("valid_to__gte", models.F("valid_from")),
                _connector="OR",
            ),
            name="sync_fact_validity_ordered",
        ),
    ),
    pgtrigger.migrations.AddTrigger(
        model_name="fact",
        trigger=pgtrigger.compiler.Trigger(
            name="references_on_insert",
            sql=pgtrigger.compiler.UpsertTriggerSql(
                func="DECLARE ids bigint[]; found bigint; missing bigint; ref text[]; BEGIN FOREACH ref SLICE 1 IN ARRAY ARRAY[['person_id', 'population_person'], ['counterpart_id', 'population_person'], ['batch_id', 'population_batch']] LOOP EXECUTE format('SELECT array_agg(DISTINCT %I) FROM new_values WHERE %I IS NOT NULL', ref[1], ref[1]) INTO ids; CONTINUE WHEN ids IS NULL; EXECUTE format('SELECT count(*) FROM %I WHERE id = ANY($1)', ref[2]) INTO found USING ids; IF found <> cardinality(ids) THEN EXECUTE format('SELECT i FROM unnest($1) i WHERE NOT EXISTS (SELECT 1 FROM %I t WHERE t.id = i) LIMIT 1', ref[2]) INTO missing USING ids; RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', MESSAGE = 'population_fact: ' || ref[1] || '=' || missing || ' refers to no row', HINT = 'a fact must point to an existing person and batch'; END IF; END LOOP; RETURN NULL; END;",
                hash="40cc2e003b59fa1be21ced67e9abcf7c143a9e36",
                level="STATEMENT",
                operation="INSERT",
                pgid="pgtrigger_references_on_insert_24fc7",
                referencing="REFERENCING NEW TABLE AS new_values ",
                table="population_fact",
                when="AFTER",
            ),
        ),
    ),
    pgtrigger.migrations.AddTrigger(
        model_name="fact",
        trigger=pgtrigger.compiler.Trigger(
            name="references_on_update",
            sql=pgtrigger.compiler.UpsertTriggerSql(
                func="DECLARE ids bigint[]; found bigint; missing bigint; ref text[]; BEGIN FOREACH ref SLICE 1 IN ARRAY ARRAY[['person_id', 'population_person'], ['counterpart_id', 'population_person'], ['batch_id', 'population_batch']] LOOP EXECUTE format('SELECT array_agg(DISTINCT %I) FROM new_values WHERE %I IS NOT NULL', ref[1], ref[1]) INTO ids; CONTINUE WHEN ids IS NULL; EXECUTE format('SELECT count(*) FROM %I WHERE id = ANY($1)', ref[2]) INTO found USING ids; IF found <> cardinality(ids) THEN EXECUTE format('SELECT i FROM unnest($1) i WHERE NOT EXISTS (SELECT 1 FROM %I t WHERE t.id = i) LIMIT 1', ref[2]) INTO missing USING ids; RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', MESSAGE = 'population_fact: ' || ref[1] || '=' || missing || ' refers to no row', HINT = 'a fact must point to an existing person and batch'; END IF; END LOOP; RETURN NULL; END;",
                hash="43ac106e1969475c748c6591ba2e2b8c13f00e7f",
                level="STATEMENT",
                operation="UPDATE",
                pgid="pgtrigger_references_on_update_9702d",
                referencing="REFERENCING NEW TABLE AS new_values ",
                table="population_fact",
                when="AFTER",
            ),
        ),
    ),
    pgtrigger.migrations.AddTrigger(
        model_name="fact",
        trigger=pgtrigger.compiler.Trigger(
            name="insert_insert",
            sql=pgtrigger.compiler.UpsertTriggerSql(
                func='WITH _pgh_attached_context AS ( SELECT _pgh_attach_context() AS value ) INSERT INTO "population_factevent" ("amount", "batch_id", "counterpart_citizen_id", "counterpart_id", "created_at", "department", "detail", "event_date", "id", "kind", "months", "org", "person_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "record_no", "region_code", "reported_name", "updated_at", "valid_from", "valid_to") SELECT new_values."amount", new_values."batch_id", new_values."counterpart_citizen_id", new_values."counterpart_id", new_values."created_at", new_values."department", new_values."detail", new_values."event_date", new_values."id", new_values."kind", new_values."months", new_values."org", new_values."person_id", _pgh_attached_context.value, NOW(), \'insert\', new_values."id", new_values."record_no", new_values."region_code", new_values."reported_name", new_values."updated_at", new_values."valid_from", new_values."valid_to" FROM ( SELECT new_values.* FROM new_values  ) AS new_values, _pgh_attached_context; RETURN NULL;',
                hash="a1145ab166515ac4a012db9ebed1cc583829a0f0",
                level="STATEMENT",
                operation="INSERT",
                pgid="pgtrigger_insert_insert_39cd3",
                referencing="REFERENCING NEW TABLE AS new_values ",
                table="population_fact",
                when="AFTER",
            ),
        ),
    ),
    pgtrigger.migrations.AddTrigger(
        model_name="fact",
        trigger=pgtrigger.compiler.Trigger(
            name="update_update",
            sql=pgtrigger.compiler.UpsertTriggerSql(
                func='EXECUTE $pgh_stmt$WITH _pgh_attached_context AS ( SELECT _pgh_attach_context() AS value ) INSERT INTO "population_factevent" ("amount", "batch_id", "counterpart_citizen_id", "counterpart_id", "created_at", "department", "detail", "event_date", "id", "kind", "months", "org", "person_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "record_no", "region_code", "reported_name", "updated_at", "valid_from", "valid_to") SELECT new_values."amount", new_values."batch_id", new_values."counterpart_citizen_id", new_values."counterpart_id", new_values."created_at", new_values."department", new_values."detail", new_values."event_date", new_values."id", new_values."kind", new_values."months", new_values."org", new_values."person_id", _pgh_attached_context.value, NOW(), \'update\', new_values."id", new_values."record_no", new_values."region_code", new_values."reported_name", new_values."updated_at", new_values."valid_from", new_values."valid_to" FROM ( SELECT new_values.* FROM old_values JOIN new_values ON (old_values."id") = (new_values."id") WHERE (old_values.* IS DISTINCT FROM new_values.*) ) AS new_values, _pgh_attached_context$pgh_stmt$; RETURN NULL;',
                hash="7236056f87f184b635da3f1a280a9632c95182ce",
                level="STATEMENT",
                operation="UPDATE",
                pgid="pgtrigger_update_update_a2226",
                referencing="REFERENCING OLD TABLE AS old_values  NEW TABLE AS new_values ",
                table="population_fact",
                when="AFTER",
            ),
        ),
    ),
    pgtrigger.migrations.AddTrigger(
        model_name="factevent",
        trigger=pgtrigger.compiler.Trigger(
            name="append_only",
            sql=pgtrigger.compiler.UpsertTriggerSql(
                func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;",
                hash="8b2d71452aaa0569c74a63a7a915d35de00b9f21",
                operation="UPDATE OR DELETE",
                pgid="pgtrigger_append_only_903cb",
                table="population_factevent",
                when="BEFORE",
            ),
        ),
    ),
    migrations.AddIndex(
        model_name="followup",
        index=models.Index(fields=["kind", "status"], name="sync_followup_kind_status"),
    ),
    migrations.AddConstraint(
        model_name="followup",
        constraint=models.UniqueConstraint(fields=("dedupe_key",), name="sync_followup_once"),
    ),
    migrations.AddConstraint(
        model_name="followup",
        constraint=models.CheckConstraint(
            condition=models.Q(
                models.Q(("closed_at__isnull", True), ("status", "open")),
                models.Q(("closed_at__isnull", False), ("status", "closed")),
                _connector="OR",
            ),
            name="sync_followup_closed_has_time",
        ),
    ),
    pgtrigger.migrations.AddTrigger(
        model_name="followup",
        trigger=pgtrigger.compiler.Trigger(
            name="insert_insert",
            sql=pgtrigger.compiler.UpsertTriggerSql(
                func='WITH _pgh_attached_context AS ( SELECT _pgh_attach_context() AS value ) INSERT INTO "population_followupevent" ("batch_id", "closed_at", "closed_by_id", "created_at", "dedupe_key", "department", "fact_id", "field", "id", "kind", "library_value", "note", "person_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "reported_value", "status") SELECT new_values."batch_id", new_values."closed_at", new_values."closed_by_id", new_values."created_at", new_values."dedupe_key", new_values."department", new_values."fact_id", new_values."field", new_values."id", new_values."kind", new_values."library_value", new_values."note", new_values."person_id", _pgh_attached_context.value, NOW(), \'insert\', new_values."id", new_values."reported_value", new_values."status" FROM ( SELECT new_values.* FROM new_values  ) AS new_values, _pgh_attached_context; RETURN NULL;',
                hash="ee5b21c51a5c87d22d738b079e60e235fe8a9a61",
                level="STATEMENT",
                operation="INSERT",
                pgid="pgtrigger_insert_insert_d87ba",
                referencing="REFERENCING NEW TABLE AS new_values ",
                table="population_followup",
                when="AFTER",
            ),
        ),
    ),
    pgtrigger.migrations.AddTrigger(
        model_name="followup",
        trigger=pgtrigger.compiler.Trigger(
            name="update_update",
            sql=pgtrigger.compiler.UpsertTriggerSql(
                func='WITH _pgh_attached_context AS ( SELECT _pgh_attach_context() AS value ) INSERT INTO "population_followupevent" ("batch_id", "closed_at", "closed_by_id", "created_at", "dedupe_key", "department", "fact_id", "field", "id", "kind", "library_value", "note", "person_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "reported_value", "status") SELECT new_values."batch_id", new_values."closed_at", new_values."closed_by_id", new_values."created_at", new_values."dedupe_key", new_values."department", new_values."fact_id", new_values."field", new_values."id", new_values."kind", new_values."library_value", new_values."note", new_values."person_id", _pgh_attached_context.value, NOW(), \'update\', new_values."id", new_values."reported_value", new_values."status" FROM ( SELECT new_values.* FROM old_values JOIN new_values ON (old_values."id") = (new_values."id") WHERE (old_values.* IS DISTINCT FROM new_values.*) ) AS new_values, _pgh_attached_context; RETURN NULL;',
                hash="74e7eac7194c9827036540241b12631be5b04b2a",
                level="STATEMENT",
                operation="UPDATE",
                pgid="pgtrigger_update_update_ce75e",
                referencing="REFERENCING OLD TABLE AS old_values  NEW TABLE AS new_values ",
                table="population_followup",
                when="AFTER",
            ),
        ),
    ),
    pgtrigger.migrations.AddTrigger(
        model_name="followupevent",
        trigger=pgtrigger.compiler.Trigger(
            name="append_only",
            sql=pgtrigger.compiler.UpsertTriggerSql(
                func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;",
                hash="56252c853b5977a074e449b3eaa9b916930daf16",
                operation="UPDATE OR DELETE",
                pgid="pgtrigger_append_only_d1fc3",
                table="population_followupevent",
                when="BEFORE",
            ),
        ),
    ),
    migrations.AddConstraint(
        model_name="rejectedrow",
        constraint=models.UniqueConstraint(fields=("batch", "line_no"), name="sync_rejected_once"),
    ),
    pgtrigger.migrations.AddTrigger(
        model_name="rejectedrow",
        trigger=pgtrigger.compiler.Trigger(
            name="append_only",
            sql=pgtrigger.compiler.UpsertTriggerSql(
                func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;",
                hash="e45321a7665b6a616cecce67ea6d40d5a9450325",
                operation="UPDATE OR DELETE",
                pgid="pgtrigger_append_only_66512",
                table="population_rejectedrow",
                when="BEFORE",
            ),
        ),
    ),
]

# The models' class names (pgtrigger hashes "app_label.ClassName:trigger_name").
_CLASS_NAMES = {
    op.name.lower(): op.name for op in STATE_OPERATIONS if isinstance(op, migrations.CreateModel)
}


def _pgid(app_label: str, model_name: str, trigger_name: str) -> str:
    uri = f"{app_label}.{_CLASS_NAMES[model_name]}:{trigger_name}"
    return f"pgtrigger_{trigger_name}_{hashlib.sha1(uri.encode()).hexdigest()[:5]}"  # noqa: S324


def _renames(from_label: str, to_label: str):
    """(table, old name, new name, new hash) of each trigger of the moved models."""
    for op in STATE_OPERATIONS:
        if not isinstance(op, pgtrigger.migrations.AddTrigger):
            continue
        sql = op.trigger.sql
        assert sql.pgid == _pgid("sync", op.model_name, op.trigger.name), sql.pgid  # noqa: S101
        new = _pgid(to_label, op.model_name, op.trigger.name)
        kwargs = {key: value for key, value in sql.kwargs.items() if key != "pgid"}
        new_hash = pgtrigger.compiler.UpsertTriggerSql(pgid=new, **kwargs).hash
        yield sql.table, _pgid(from_label, op.model_name, op.trigger.name), new, new_hash


def _rename(schema_editor, from_label: str, to_label: str) -> None:
    # ALTER TRIGGER on a partitioned table renames its partitions' clones too (PostgreSQL 15).
    with schema_editor.connection.cursor() as cursor:
        for table, old, new, new_hash in _renames(from_label, to_label):
            cursor.execute(f'ALTER TRIGGER "{old}" ON "{table}" RENAME TO "{new}"')
            cursor.execute(f'ALTER FUNCTION "{old}"() RENAME TO "{new}"')
            cursor.execute(f'COMMENT ON TRIGGER "{new}" ON "{table}" IS \'{new_hash}\'')


def triggers_rename(apps, schema_editor):
    _rename(schema_editor, "population", "sync")


def triggers_rename_back(apps, schema_editor):
    _rename(schema_editor, "sync", "population")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("pghistory", "0007_auto_20250421_0444"),
        ("population", "0034_sharing_models_to_own_app"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=STATE_OPERATIONS,
            database_operations=[
                migrations.RunPython(triggers_rename, triggers_rename_back, elidable=False)
            ],
        ),
    ]
