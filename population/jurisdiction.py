"""Jurisdictions (辖区): which persons, households and records a staff member may reach.

The one place for the rule. Every admin page, action and export of personal data filters through
the selectors here (``persons_within`` ...) or the ``JurisdictionAdminMixin``; apps higher up add
their own models with ``jurisdiction_person_source`` and the mixin, never a rule of their own.

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
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from population.audit import access_log_record
from population.errors import DomainError
from population.models import BreakGlassGrant, OfficerRegion, Person, Region

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


# Further ways a person can lie inside an area, contributed by higher apps (registry: the open
# household's region). Each returns ``.values("person_id")`` of rows that have a ``person_id``
# (filterable by it), for an area without grants.
_person_sources: list[Callable[[Area], QuerySet]] = []


def jurisdiction_person_source(source: Callable[[Area], QuerySet]) -> None:
    if source not in _person_sources:
        _person_sources.append(source)


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
        parts += [source(area.without_grants()) for source in _person_sources]
    if area.unplaced:
        unplaced = Person.objects.filter(hukou_region__isnull=True, residence_region__isnull=True)
        parts.append(unplaced.values("pk"))
    if grants and area.granted_person_ids:
        parts.append(Person.objects.filter(pk__in=sorted(area.granted_person_ids)).values("pk"))
    if not parts:
        return Person.objects.none().values("pk")
    return parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]


def person_q(area: Area, *, grants: bool = True) -> Q:
    """Q on ``Person`` for the persons inside the area (and, by default, granted to the user).

    Two shapes, one rule. A narrow area (townships, villages, counties) is ``id IN (UNION ALL
    of index range scans)``: it reads only the area's rows. A wide one (a city or province)
    holds nearly everyone, so the union would hash the whole table; there, ``OR`` of the code
    ranges lets a list walk the primary key and stop after a page, and the open-household test
    is a correlated ``EXISTS`` that runs only for rows the ranges did not already admit.
    """
    if area.everything:
        return Q()
    if not area.unplaced:
        return Q(pk__in=person_ids(area, grants=grants))
    q = (
        code_range_q("hukou_region_id", area)
        | code_range_q("residence_region_id", area)
        | Q(hukou_region__isnull=True, residence_region__isnull=True)
    )
    for source in _person_sources:
        q |= Exists(source(area.without_grants()).filter(person_id=OuterRef("pk")))
    if grants and area.granted_person_ids:
        q |= Q(pk__in=sorted(area.granted_person_ids))
    return q


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


# -- admin -----------------------------------------------------------------------------------


class JurisdictionAdminMixin:
    """Scopes an admin to the user's area: list, detail, history, actions, exports, autocomplete.

    Each of these reaches its rows through ``get_queryset``, so a record outside the area is
    "not found" everywhere. Subclasses say how their model relates to the area by overriding
    ``jurisdiction_q`` (default: the model is ``Person``).
    """

    def jurisdiction_q(self, area: Area) -> Q:
        return person_q(area)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)  # type: ignore[misc]
        area = area_of(request.user)
        if area.everything:
            return queryset
        return queryset.filter(self.jurisdiction_q(area))
