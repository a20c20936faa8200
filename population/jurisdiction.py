"""Jurisdictions (辖区): which persons, households and records a staff member may reach.

The one place for the rule. Every admin page, action and export of personal data filters through
the selectors here (``persons_within`` ...) or the ``JurisdictionAdminMixin``; apps higher up state
how their models lie in an area (``area_rule_hook``), add ways a person lies in one
(``person_source_hook``) and use the mixin, never a rule of their own.

The rule:

- A staff member's area is the union of their ``OfficerRegion`` rows. A region covers every
  unit whose 12-digit code starts with its significant prefix (province 2, city 4, county 6,
  township 9, village 12 digits): a township covers its villages.
- A person is inside when their hukou region, their residence region, or the region of their
  open household lies inside (the last contributed by ``registry``). Persons with none of these
  (recorded but neither registered nor resident anywhere in the city) belong to no station:
  staff whose area includes a whole city or province see them.
- A superuser sees everything; anyone else without a region sees nothing.
- Breaking the glass (``break_glass_grant``) adds one person for a limited time
  (``settings.BREAK_GLASS_HOURS``), with a stated reason; the grant and each access under it are
  written to the access log.

Speed: codes are 12 fixed digits, so "under prefix P" is the range ``P000.. <= code <= P999..``,
which the plain btree indexes on ``hukou_region``, ``residence_region`` and ``household.region``
answer directly (bitmap index scans OR-ed together) with no LIKE or special operator class.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from population.audit import access_log_admin_read, access_log_record
from population.errors import DomainError
from population.hooks import Hook
from population.models import (
    BreakGlassGrant,
    ChangeEvent,
    CitizenIdCorrection,
    OfficerRegion,
    Person,
    Region,
)

SIGNIFICANT_DIGITS = {1: 2, 2: 4, 3: 6, 4: 9, 5: 12}
# Staff whose area includes a region at this level or above also see persons with no region.
UNPLACED_VISIBLE_FROM_DIGITS = 4
BREAK_GLASS_CHANNEL = "break_glass"


@dataclass(frozen=True)
class Area:
    """What one staff member may reach, resolved once per request."""

    everything: bool = False
    prefixes: tuple[str, ...] = ()
    granted_person_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def unplaced(self) -> bool:
        return any(len(p) <= UNPLACED_VISIBLE_FROM_DIGITS for p in self.prefixes)

    def covers_code(self, code: str | None) -> bool:
        """The unit with this code lies inside (grants aside)."""
        if self.everything:
            return True
        return code is not None and any(code.startswith(p) for p in self.prefixes)

    def without_grants(self) -> Area:
        return Area(everything=self.everything, prefixes=self.prefixes)


def region_prefix(region: Region) -> str:
    return region.code[: SIGNIFICANT_DIGITS.get(region.level, 12)]


def _minimal(prefixes: Iterable[str]) -> tuple[str, ...]:
    """Drop prefixes already covered by a shorter one (a village inside an assigned township)."""
    kept: list[str] = []
    for prefix in sorted(set(prefixes), key=lambda p: (len(p), p)):
        if not any(prefix.startswith(k) for k in kept):
            kept.append(prefix)
    return tuple(sorted(kept))


def _active_grants(user) -> QuerySet[BreakGlassGrant]:
    return BreakGlassGrant.objects.filter(user=user, expires_at__gt=timezone.now())


def area_of(user) -> Area:
    """The user's area, cached on the user object (one request)."""
    cached = getattr(user, "_popbase_area", None)
    if cached is not None:
        return cached
    if user is None or not user.is_authenticated or not user.is_active:
        area = Area()
    elif user.is_superuser:
        area = Area(everything=True)
    else:
        regions = Region.objects.filter(
            pk__in=OfficerRegion.objects.filter(user=user).values("region_id")
        ).only("code", "level")
        area = Area(
            prefixes=_minimal(region_prefix(r) for r in regions),
            granted_person_ids=frozenset(_active_grants(user).values_list("person_id", flat=True)),
        )
    if user is not None:
        user._popbase_area = area
    return area


def forget_area(user) -> None:
    """Drop the cached area (after a grant in the same request)."""
    with contextlib.suppress(AttributeError):
        del user._popbase_area  # request.user is a lazy proxy: delete through it


# -- filters ---------------------------------------------------------------------------------


def code_range_q(column: str, area: Area) -> Q:
    """``column`` (a 12-digit region code) lies inside the area; an index range per prefix."""
    q = Q(pk__in=[])
    for prefix in area.prefixes:
        q |= Q(**{f"{column}__gte": prefix.ljust(12, "0"), f"{column}__lte": prefix.ljust(12, "9")})
    return q


@dataclass(frozen=True)
class PersonSource:
    """A further way a person can lie inside an area, contributed by a higher app (registry:
    the open household's region). ``person_ids(area)`` returns ``.values("person_id")`` of rows
    that have a ``person_id`` (filterable by it), for an area without grants."""

    name: str
    person_ids: Callable[[Area], QuerySet]


person_source_hook: Hook[PersonSource] = Hook("jurisdiction.person_sources")


def person_ids(area: Area, *, grants: bool = True) -> QuerySet | None:
    """Ids of the persons inside the area, as one UNION ALL of index-backed parts.

    A UNION, not an OR of conditions: PostgreSQL cannot turn an OR holding a subquery into
    bitmap index scans, so an OR reads the whole table; each part of the union is an index
    range scan, and a ``pk = X`` check is pushed down into every part.
    """
    if area.everything:
        return None
    parts: list[QuerySet] = []
    if area.prefixes:
        parts.append(Person.objects.filter(code_range_q("hukou_region_id", area)).values("pk"))
        parts.append(Person.objects.filter(code_range_q("residence_region_id", area)).values("pk"))
        parts += [source.person_ids(area.without_grants()) for source in person_source_hook]
    if area.unplaced:
        unplaced = Person.objects.filter(hukou_region__isnull=True, residence_region__isnull=True)
        parts.append(unplaced.values("pk"))
    if grants and area.granted_person_ids:
        parts.append(Person.objects.filter(pk__in=sorted(area.granted_person_ids)).values("pk"))
    if not parts:
        return Person.objects.none().values("pk")
    return parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]


def person_q(area: Area, *, grants: bool = True, walk: bool = False) -> Q:
    """Q on ``Person`` for the persons inside the area (and, by default, granted to the user).

    Two shapes, one rule. A narrow area (townships, villages, counties) is ``id IN (UNION ALL
    of index range scans)``: it reads only the area's rows. A wide one (a city or province)
    holds nearly everyone, so the union would hash the whole table; there, ``OR`` of the code
    ranges lets a list walk the primary key and stop after a page, and the open-household test
    is a correlated ``EXISTS`` that runs only for rows the ranges did not already admit.
    ``walk=True`` asks for the second shape for any area: a list page of a big county
    (``ORDER BY id DESC LIMIT 50``) then stops after its page instead of hashing a million ids.
    """
    if area.everything:
        return Q()
    if not area.unplaced and not walk:
        return Q(pk__in=person_ids(area, grants=grants))
    q = code_range_q("hukou_region_id", area) | code_range_q("residence_region_id", area)
    if area.unplaced:
        q |= Q(hukou_region__isnull=True, residence_region__isnull=True)
    for source in person_source_hook:
        q |= Exists(source.person_ids(area.without_grants()).filter(person_id=OuterRef("pk")))
    if grants and area.granted_person_ids:
        q |= Q(pk__in=sorted(area.granted_person_ids))
    return q


# A list walks the primary key (``person_q(walk=True)``) once the area holds more persons than
# this in its hukou or residence range: a walk for a page of 50 then reads under ~1,250 rows
# per area share of 4 %, and a count probe stops after its cap; a smaller area keeps the union,
# whose hash is then small.
LIST_WALK_FROM = 200_000


def person_list_q(area: Area) -> Q:
    """``person_q`` in the shape that suits an admin list page of this area (same persons)."""
    if area.everything or area.unplaced or not area.prefixes:
        return person_q(area)
    for column in ("hukou_region_id", "residence_region_id"):
        part = Person.objects.filter(code_range_q(column, area)).order_by().values("pk")
        if part[LIST_WALK_FROM : LIST_WALK_FROM + 1].exists():
            return person_q(area, walk=True)
    return person_q(area)


def person_ids_q(area: Area, *, column: str = "person_id", grants: bool = True) -> Q:
    """Q on a model with a person foreign key: that person is inside the area."""
    if area.everything:
        return Q()
    if area.unplaced:
        inside = Person.objects.filter(person_q(area, grants=grants)).values("pk")
    else:
        inside = person_ids(area, grants=grants)
    return Q(**{f"{column}__in": inside})


def persons_within(user, queryset: QuerySet[Person] | None = None) -> QuerySet[Person]:
    queryset = Person.objects.all() if queryset is None else queryset
    return queryset.filter(person_q(area_of(user)))


def person_within(user, person: Person | int, *, grants: bool = True) -> bool:
    area = area_of(user)
    if area.everything:
        return True
    pk = getattr(person, "pk", person)
    return Person.objects.filter(person_q(area, grants=grants), pk=pk).exists()


def region_within(user, region: Region | str | None) -> bool:
    code = getattr(region, "code", region)
    return area_of(user).covers_code(code)


def region_required_within(user, region: Region | None, *, field_zh: str) -> None:
    """Refuse to put a record into a region outside the user's area."""
    if region is not None and not region_within(user, region):
        raise DomainError(
            f"{field_zh}“{region.name}”不在您的辖区内",
            f"{region.code} is outside your jurisdiction",
            code="outside_jurisdiction",
        )


# -- breaking the glass ----------------------------------------------------------------------


def break_glass_hours() -> float:
    return float(getattr(settings, "BREAK_GLASS_HOURS", 2))


@transaction.atomic
def break_glass_grant(*, user, person: Person, reason: str, client: str = "") -> BreakGlassGrant:
    """跨辖区查询: time-limited access to one person outside the user's area, with a reason."""
    reason = (reason or "").strip()
    if len(reason) < 4:
        raise DomainError(
            "须说明跨辖区查询的事由（至少4个字）",
            "state the reason for reaching outside your area (at least 4 characters)",
            code="reason_required",
        )
    now = timezone.now()
    grant = BreakGlassGrant.objects.create(
        user=user,
        person=person,
        reason=reason,
        granted_at=now,
        expires_at=now + dt.timedelta(hours=break_glass_hours()),
    )
    access_log_record(
        user=user,
        channel=BREAK_GLASS_CHANNEL,
        purpose=f"跨辖区查询授权#{grant.pk}：{reason}"[:200],
        person_ids=[person.pk],
        fields=["grant"],
        client=client,
    )
    forget_area(user)
    return grant


def break_glass_accesses(request, *, person_ids: Iterable[int], fields: Iterable[str]) -> None:
    """Log a read of persons the user reaches only through a grant, naming the grant."""
    area = area_of(request.user)
    if area.everything or not area.granted_person_ids:
        return
    ids = set(person_ids) & area.granted_person_ids
    if not ids:
        return
    inside = set(
        Person.objects.filter(person_q(area, grants=False), pk__in=ids).values_list("pk", flat=True)
    )
    grants = {
        g.person_id: g
        for g in _active_grants(request.user).filter(person_id__in=ids - inside).order_by("pk")
    }
    for person_id, grant in grants.items():
        access_log_record(
            user=request.user,
            channel=BREAK_GLASS_CHANNEL,
            purpose=f"跨辖区查询授权#{grant.pk}：{grant.reason}"[:200],
            person_ids=[person_id],
            fields=list(fields),
            client=request.META.get("REMOTE_ADDR", ""),
        )


# -- area rules: how each model of personal data lies in an area ---------------------------------


@dataclass(frozen=True)
class AreaRule:
    """How the records of one model lie in an area, stated once per model.

    ``q(area)`` selects the rows inside an area (never called for "everything");
    ``persons(record)`` names the persons a record shows, for the access log;
    ``list_q(area)``, when given, selects the same rows in a shape fit for an admin list page
    (``ORDER BY id DESC LIMIT 50``).
    """

    model: type[models.Model]
    q: Callable[[Area], Q]
    persons: Callable[[Any], list[int]]
    list_q: Callable[[Area], Q] | None = None


def _model_label(model: type[models.Model]) -> str:
    return model._meta.concrete_model._meta.label


# How each model lies in an area: each app registers its models' rules in its
# ``jurisdiction.py``, imported by its ``AppConfig.ready``. Keyed by the concrete model's label.
area_rule_hook: Hook[AreaRule] = Hook(
    "jurisdiction.area_rules", key=lambda rule: _model_label(rule.model)
)


def area_rule_of(model: type[models.Model]) -> AreaRule | None:
    return area_rule_hook.get(_model_label(model))


def area_rules() -> dict[type[models.Model], AreaRule]:
    return {rule.model._meta.concrete_model: rule for rule in area_rule_hook}


def within_q(model: type[models.Model], area: Area, *, listing: bool = False) -> Q:
    """Q on ``model`` for its records inside the area (by the model's one rule); ``listing``
    asks for the rule's list-page shape when it states one (same rows)."""
    if area.everything:
        return Q()
    rule = area_rule_of(model)
    if rule is None:
        raise ImproperlyConfigured(
            f"{model._meta.label} has no area rule (population.jurisdiction.area_rule_hook)"
        )
    if listing and rule.list_q is not None:
        return rule.list_q(area)
    return rule.q(area)


def records_within(user, queryset: QuerySet, *, listing: bool = False) -> QuerySet:
    """The records of ``queryset`` inside the user's area."""
    area = area_of(user)
    if area.everything:
        return queryset
    return queryset.filter(within_q(queryset.model, area, listing=listing))


def record_within(user, record: models.Model) -> bool:
    """One record lies inside the user's area (one indexed query; none for a superuser)."""
    if area_of(user).everything:
        return True
    model = type(record)
    return records_within(user, model._default_manager.filter(pk=record.pk)).exists()


def any_of(model: type[models.Model], *conditions: Q) -> Q:
    """Rows meeting any condition, as ``pk IN (UNION ALL ...)``: each part keeps its index scan
    (an OR of subqueries would read the whole table)."""
    parts = [model._default_manager.filter(c).values("pk") for c in conditions]
    return Q(pk__in=parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0])


# -- services: the acting user's area ---------------------------------------------------------

# Set while a signed-in staff member's request is served (population.middleware).
_serving_staff = contextvars.ContextVar("popbase_serving_staff", default=False)


def _outside() -> DomainError:
    return DomainError(
        "不存在或不在您的辖区内",
        "not found or outside your jurisdiction",
        code="outside_jurisdiction",
    )


def actor_require_within(actor, *records: models.Model | None, regions=()) -> None:
    """Refuse unless every record (and every region) lies in the acting user's area.

    Every write service calls it with its ``actor`` and its targets, after locking them. A user
    without a region acts on nothing; a superuser acts everywhere. ``actor=None`` is the system
    itself (Celery beat jobs, management commands, data loads), which acts city-wide; it is
    refused while a signed-in staff member's request is being served, so a view that forgot to
    pass ``request.user`` fails loudly instead of acting unscoped for a human.
    """
    if actor is None:
        if _serving_staff.get():
            raise RuntimeError("a write service was called with actor=None while serving staff")
        return
    area = area_of(actor)
    if area.everything:
        return
    for region in regions:
        if region is not None and not area.covers_code(getattr(region, "code", region)):
            raise _outside()
    for record in records:
        if record is not None and not record_within(actor, record):
            raise _outside()


@contextlib.contextmanager
def serving_staff(user):
    """Mark the enclosed code as serving a signed-in staff member (see actor_require_within)."""
    token = _serving_staff.set(bool(user is not None and user.is_authenticated))
    try:
        yield
    finally:
        _serving_staff.reset(token)


# -- admin -----------------------------------------------------------------------------------


def _scoped(get_queryset):
    """Wrap an admin's ``get_queryset`` so that what it returns is cut to the user's area.

    Applied to the mixin's own method and to every override in a subclass, so an admin that
    builds its queryset itself (a queue over a selector) is scoped all the same. Only the
    outermost call filters; an override calling ``super()`` is not filtered twice.
    """

    @functools.wraps(get_queryset)
    def scoped(self, request):
        active = request.__dict__.setdefault("_popbase_scoping", set())
        if id(self) in active:
            return get_queryset(self, request)
        active.add(id(self))
        try:
            queryset = get_queryset(self, request)
        finally:
            active.discard(id(self))
        listing = request.__dict__.get("_popbase_listing") is self
        return records_within(request.user, queryset, listing=listing)

    scoped.area_scoped = True
    return scoped


class JurisdictionAdminMixin:
    """The base of every admin of personal data: area by default, reads logged.

    - Scoping: ``get_queryset`` (and any override of it in a subclass) returns only records
      inside the user's area, by the model's one rule (``area_rule_hook``). Django's admin reaches
      rows through it on the list, detail, history, delete, actions and autocomplete, so a
      record outside is "not found" everywhere. Custom views (print, export, forms) must fetch
      through ``self.get_object`` or ``self.get_queryset`` too; the matrix test
      (tests/population/test_area_matrix.py) tries every URL of every such admin.
    - Choices: foreign-key fields to models with an area rule offer only records inside.
    - Reads: every detail and history page writes an access-log row naming the persons the
      record shows (and a break-the-glass row for persons reached through a grant).

    ``manage.py check`` fails (popbase.E001/E002) when an admin of a model that reaches a
    person through foreign keys does not inherit this mixin or the model states no rule.
    """

    audit_channel: str = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("get_queryset")
        if own is not None and not getattr(own, "area_scoped", False):
            cls.get_queryset = _scoped(own)

    @_scoped
    def get_queryset(self, request):
        return super().get_queryset(request)  # type: ignore[misc]

    def changelist_view(self, request, extra_context=None):
        # The list page (and its actions) take the area rule's list shape (``AreaRule.list_q``).
        request._popbase_listing = self
        try:
            return super().changelist_view(request, extra_context)  # type: ignore[misc]
        finally:
            request.__dict__.pop("_popbase_listing", None)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]
        if formfield is not None and area_rule_of(db_field.related_model) is not None:
            formfield.queryset = records_within(request.user, formfield.queryset)
        return formfield

    # -- read audit

    def get_audit_channel(self) -> str:
        return self.audit_channel or f"admin.{self.opts.model_name}"  # type: ignore[attr-defined]

    def audit_fields(self, request, obj) -> list[str]:
        """The fields a detail page shows (what its access-log row names)."""
        shown = self.get_fields(request, obj)  # type: ignore[attr-defined]
        return [str(f) for f in shown if f != "reason"]

    def audit_persons(self, obj) -> list[int]:
        rule = area_rule_of(type(obj))
        return [pk for pk in (rule.persons(obj) if rule else []) if pk is not None]

    def audit_detail(self, request, obj, *, channel: str, fields: list[str]) -> None:
        person_ids = self.audit_persons(obj)
        access_log_admin_read(request, channel=channel, person_ids=person_ids, fields=fields)
        break_glass_accesses(request, person_ids=person_ids, fields=fields)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
        obj = (getattr(response, "context_data", None) or {}).get("original")
        if obj is not None:
            self.audit_detail(
                request,
                obj,
                channel=self.get_audit_channel(),
                fields=self.audit_fields(request, obj),
            )
        return response

    def history_view(self, request, object_id, extra_context=None):
        response = super().history_view(request, object_id, extra_context)  # type: ignore[misc]
        obj = (getattr(response, "context_data", None) or {}).get("object")
        if obj is not None:
            self.audit_detail(
                request, obj, channel=f"{self.get_audit_channel()}.history", fields=["history"]
            )
        return response


class ListReadAuditMixin:
    """A list page writes one access-log row naming the persons on the page it showed.

    Put it before ``JurisdictionAdminMixin`` (which audits detail and history pages). The row's
    channel is ``list_audit_channel`` (default: the admin's audit channel + ``_list``), its
    fields ``list_audit_fields`` (default: the list's columns); ``list_audit_person_ids`` says
    whose rows they are (default: each row's ``person_id``).
    """

    list_audit_channel: str = ""
    list_audit_fields: list[str] | None = None

    def list_audit_person_ids(self, rows) -> list[int]:
        return [row.person_id for row in rows]

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)  # type: ignore[misc]
        changelist = (getattr(response, "context_data", None) or {}).get("cl")
        if changelist is not None and changelist.result_list:
            access_log_admin_read(
                request,
                channel=self.list_audit_channel or f"{self.get_audit_channel()}_list",  # type: ignore[attr-defined]
                person_ids=self.list_audit_person_ids(changelist.result_list),
                fields=[str(f) for f in (self.list_audit_fields or self.list_display)],  # type: ignore[attr-defined]
            )
        return response


# -- the base library's rules --------------------------------------------------------------


def _grant_q(area: Area) -> Q:
    # Grants on persons inside, and grants the area's own staff obtained elsewhere.
    staff = OfficerRegion.objects.filter(code_range_q("region_id", area)).values("user_id")
    return person_ids_q(area, grants=False) | Q(user_id__in=staff)


def _of_person(record) -> list[int]:
    return [record.person_id]


area_rule_hook.register(
    AreaRule(Person, q=person_q, persons=lambda person: [person.pk], list_q=person_list_q)
)
area_rule_hook.register(AreaRule(CitizenIdCorrection, q=person_ids_q, persons=_of_person))
area_rule_hook.register(AreaRule(BreakGlassGrant, q=_grant_q, persons=_of_person))
area_rule_hook.register(AreaRule(ChangeEvent, q=person_ids_q, persons=_of_person))
