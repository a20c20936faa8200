"""Household registration (户籍): households and who belongs to them."""

from __future__ import annotations

import pghistory
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
        constraints = [
            models.UniqueConstraint(fields=["number"], name="household_number_unique"),
        ]
        indexes = [models.Index(fields=["region"], name="household_region_idx")]

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
                condition=Q(end_date__isnull=True, relation=Relation.HEAD),
                name="membership_one_head_per_household",
                violation_error_message="此户已有户主 / this household already has a head",
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")),
                name="membership_dates_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person} @ {self.household.number}"

    @property
    def is_open(self) -> bool:
        return self.end_date is None
