"""The sharing app takes over the department API's models from the population app.

State only (``SeparateDatabaseAndState``): the tables keep their names (``db_table``), their
rows, constraints and the ``no_update`` trigger under its installed name; nothing is copied.
The models' content types move from ``population`` to ``sharing``, so their permissions, and
every group and user holding them, stay as they were.
"""

import django.contrib.postgres.fields
import django.db.models.deletion
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models

MODELS = ("apiclient", "apikey", "idempotencyrecord")


def _content_types_move(apps, schema_editor, source: str, target: str) -> None:
    """Relabel the models' content type rows from ``source`` to ``target``, keeping their ids.

    Where a row for ``target`` exists already (a later migration's permission setup may have
    created one), its permissions give way to the moved ones, whoever held them keeps them.
    """
    from django.contrib.contenttypes.models import ContentType as LiveContentType

    content_type_model = apps.get_model("contenttypes", "ContentType")
    permission_model = apps.get_model("auth", "Permission")
    db = schema_editor.connection.alias
    types = content_type_model.objects.using(db)
    for model in MODELS:
        moved = types.filter(app_label=source, model=model).first()
        if moved is None:
            continue
        taken = types.filter(app_label=target, model=model).first()
        if taken is not None:
            for perm in permission_model.objects.using(db).filter(content_type=taken):
                kept = (
                    permission_model.objects.using(db)
                    .filter(content_type=moved, codename=perm.codename)
                    .first()
                )
                if kept is None:
                    perm.content_type = moved
                    perm.save(update_fields=["content_type"])
                    continue
                for group in perm.group_set.all():
                    group.permissions.add(kept)
                for user in perm.user_set.all():
                    user.user_permissions.add(kept)
                perm.delete()
            taken.delete()
        moved.app_label = target
        moved.save(update_fields=["app_label"])
    LiveContentType.objects.clear_cache()


def content_types_to_sharing(apps, schema_editor):
    _content_types_move(apps, schema_editor, "population", "sharing")


def content_types_to_population(apps, schema_editor):
    _content_types_move(apps, schema_editor, "sharing", "population")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("population", "0034_sharing_models_to_own_app"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ApiClient",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "code",
                            models.SlugField(
                                help_text="英文短代码，如 hrss-pension",
                                max_length=40,
                                verbose_name="客户端代码",
                            ),
                        ),
                        ("name", models.CharField(max_length=100, verbose_name="名称")),
                        (
                            "department",
                            models.CharField(
                                choices=[
                                    ("hrss", "人力资源和社会保障局"),
                                    ("education", "教育局"),
                                    ("housing", "住房和城乡建设局"),
                                    ("health", "卫生健康委员会"),
                                    ("civil_affairs", "民政局"),
                                    ("tax", "税务局"),
                                    ("statistics", "统计局"),
                                ],
                                max_length=20,
                                verbose_name="部门",
                            ),
                        ),
                        (
                            "endpoints",
                            django.contrib.postgres.fields.ArrayField(
                                base_field=models.CharField(
                                    max_length=40,
                                ),
                                blank=True,
                                default=list,
                                size=None,
                                verbose_name="可用接口",
                            ),
                        ),
                        (
                            "person_fields",
                            django.contrib.postgres.fields.ArrayField(
                                base_field=models.CharField(
                                    choices=[
                                        ("name", "姓名"),
                                        ("sex", "性别"),
                                        ("birth_date", "出生日期"),
                                        ("ethnicity", "民族"),
                                        ("status", "状态"),
                                        ("hukou_region", "户籍地"),
                                        ("residence_region", "实际居住地"),
                                    ],
                                    max_length=40,
                                ),
                                blank=True,
                                default=list,
                                size=None,
                                verbose_name="可读字段",
                            ),
                        ),
                        (
                            "purposes",
                            django.contrib.postgres.fields.ArrayField(
                                base_field=models.CharField(
                                    choices=[
                                        ("social_insurance", "社会保险经办"),
                                        ("employment_service", "就业服务"),
                                        ("school_enrolment", "入学资格审核"),
                                        ("housing_security", "住房保障资格审核"),
                                        ("health_service", "基本公共卫生服务"),
                                        ("social_assistance", "社会救助审核"),
                                        ("marriage_registration", "婚姻登记"),
                                        ("tax_administration", "税收征管"),
                                        ("statistics", "统计调查"),
                                        ("data_subject_request", "个人信息查阅请求（本人申请）"),
                                    ],
                                    max_length=40,
                                ),
                                blank=True,
                                default=list,
                                size=None,
                                verbose_name="可声明用途",
                            ),
                        ),
                        (
                            "change_kinds",
                            django.contrib.postgres.fields.ArrayField(
                                base_field=models.CharField(
                                    max_length=40,
                                ),
                                blank=True,
                                default=list,
                                size=None,
                                verbose_name="订阅变更类型",
                            ),
                        ),
                        (
                            "facts",
                            django.contrib.postgres.fields.ArrayField(
                                base_field=models.CharField(max_length=40),
                                blank=True,
                                default=list,
                                size=None,
                                verbose_name="可核验事实",
                            ),
                        ),
                        (
                            "region_prefixes",
                            django.contrib.postgres.fields.ArrayField(
                                base_field=models.CharField(max_length=12),
                                blank=True,
                                default=list,
                                help_text="户籍地或居住地以其中之一开头的人员；留空表示全市",
                                size=None,
                                verbose_name="人员范围（区划代码前缀）",
                            ),
                        ),
                        (
                            "full_citizen_id",
                            models.BooleanField(
                                default=False,
                                help_text="否则身份号码以掩码返回",
                                verbose_name="可见完整身份号码",
                            ),
                        ),
                        (
                            "rate_limit_per_minute",
                            models.PositiveIntegerField(default=600, verbose_name="每分钟请求上限"),
                        ),
                        ("is_active", models.BooleanField(default=True, verbose_name="启用")),
                        (
                            "created_at",
                            models.DateTimeField(auto_now_add=True, verbose_name="创建时间"),
                        ),
                    ],
                    options={
                        "verbose_name": "接口客户端",
                        "verbose_name_plural": "接口客户端",
                        "db_table": "population_apiclient",
                        "constraints": [
                            models.UniqueConstraint(fields=("code",), name="apiclient_code_unique"),
                            models.CheckConstraint(
                                condition=models.Q(("rate_limit_per_minute__gt", 0)),
                                name="apiclient_rate_limit_positive",
                            ),
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="ApiKey",
                    fields=[
                        (
                            "id",
                            models.CharField(
                                editable=False,
                                max_length=150,
                                primary_key=True,
                                serialize=False,
                                unique=True,
                            ),
                        ),
                        ("prefix", models.CharField(editable=False, max_length=8, unique=True)),
                        ("hashed_key", models.CharField(editable=False, max_length=150)),
                        ("created", models.DateTimeField(auto_now_add=True, db_index=True)),
                        (
                            "name",
                            models.CharField(
                                default=None,
                                help_text="A free-form name for the API key. Need not be unique. 50 characters max.",
                                max_length=50,
                            ),
                        ),
                        (
                            "revoked",
                            models.BooleanField(
                                blank=True,
                                default=False,
                                help_text="If the API key is revoked, clients cannot use it anymore. (This cannot be undone.)",
                            ),
                        ),
                        (
                            "expiry_date",
                            models.DateTimeField(
                                blank=True,
                                help_text="Once API key expires, clients cannot use it anymore.",
                                null=True,
                                verbose_name="Expires",
                            ),
                        ),
                        (
                            "client",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="keys",
                                to="sharing.apiclient",
                                verbose_name="客户端",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "接口密钥",
                        "verbose_name_plural": "接口密钥",
                        "db_table": "population_apikey",
                        "ordering": ("-created",),
                        "abstract": False,
                        "indexes": [
                            models.Index(
                                fields=["client", "created"], name="apikey_client_created_idx"
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="IdempotencyRecord",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("key", models.CharField(max_length=255)),
                        (
                            "fingerprint",
                            models.CharField(
                                help_text="SHA-256 of method, path and body", max_length=64
                            ),
                        ),
                        ("status_code", models.PositiveSmallIntegerField()),
                        ("body", models.JSONField()),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        (
                            "client",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="sharing.apiclient",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "幂等记录",
                        "verbose_name_plural": "幂等记录",
                        "db_table": "population_idempotencyrecord",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("client", "key"), name="idempotency_client_key_unique"
                            )
                        ],
                    },
                ),
                pgtrigger.migrations.AddTrigger(
                    model_name="idempotencyrecord",
                    trigger=pgtrigger.compiler.Trigger(
                        name="no_update",
                        sql=pgtrigger.compiler.UpsertTriggerSql(
                            func="RAISE EXCEPTION 'pgtrigger: Cannot update rows from % table', TG_TABLE_NAME;",
                            hash="3472bd728b57dc98864b98e8b4aea3cf3b77286c",
                            operation="UPDATE",
                            pgid="pgtrigger_no_update_b0af1",
                            table="population_idempotencyrecord",
                            when="BEFORE",
                        ),
                    ),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_to_sharing, content_types_to_population),
    ]
