"""Monthly snapshots of the statistics: one row per month end and area (counts only)."""

from __future__ import annotations

from django.db import models

AGE_GROUPS = 21  # 0-4, 5-9, ..., 95-99, 100+


class SnapshotSource(models.TextChoices):
    CURRENT = "current", "当时记录"
    HISTORY = "history", "历史回溯"


class StatSnapshot(models.Model):
    """Counts of one area (city, county, township) at one month end; rates are derived."""

    month = models.DateField("月末日期", help_text="统计时点（月末）")
    region_code = models.CharField("区划代码", max_length=12)
    level = models.PositiveSmallIntegerField("级别", help_text="2 地级 3 县级 4 乡级")
    registered_total = models.PositiveIntegerField("户籍人口")
    registered_urban = models.PositiveIntegerField("户籍城镇人口")
    registered_unclassified = models.PositiveIntegerField("户籍人口中无城乡分类", default=0)
    registered_away = models.PositiveIntegerField("户在人不在", default=0)
    resident_total = models.PositiveIntegerField("常住人口")
    resident_urban = models.PositiveIntegerField("常住城镇人口")
    resident_unclassified = models.PositiveIntegerField("常住人口中无城乡分类", default=0)
    separated = models.PositiveIntegerField("人户分离", default=0)
    resident_male = models.PositiveIntegerField("常住男性", default=0)
    resident_female = models.PositiveIntegerField("常住女性", default=0)
    pyramid = models.JSONField(
        "年龄性别结构", default=dict, help_text='{"resident": {"1": [21组], "2": [...]}, ...}'
    )
    source = models.CharField(
        "来源", max_length=10, choices=SnapshotSource.choices, default=SnapshotSource.CURRENT
    )
    taken_at = models.DateTimeField("生成时间", auto_now=True)

    class Meta:
        db_table = "population_statsnapshot"  # its name from before the app had its own
        verbose_name = "统计快照"
        verbose_name_plural = "统计快照"
        constraints = [
            models.UniqueConstraint(fields=["month", "region_code"], name="stat_snapshot_unique"),
            models.CheckConstraint(
                condition=models.Q(registered_urban__lte=models.F("registered_total"))
                & models.Q(resident_urban__lte=models.F("resident_total")),
                name="stat_snapshot_urban_le_total",
            ),
        ]
        indexes = [models.Index(fields=["region_code", "month"], name="stat_snapshot_region_idx")]
        permissions = [("view_statistics", "可查看统计报表")]

    def __str__(self) -> str:
        return f"{self.region_code} {self.month:%Y-%m}"


class StatisticsDesk(StatSnapshot):
    """The 统计 entry on the admin index: its list opens the statistics dashboard."""

    class Meta:
        proxy = True
        default_permissions = ()
        verbose_name = "城镇化统计"
        verbose_name_plural = "统计：城镇化率与报表下载"
