"""Writes of the data-quality side: the review queue, detector runs, and person merges."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.apps import apps as django_apps
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from population.actors import Actor, officer_or_none
from population.clock import today
from population.codes import Relation
from population.errors import Conflict, DomainError, NotFound, require
from population.hooks import Hook
from population.jurisdiction import actor_require_within
from population.locks import SessionLock
from population.models import Person, PersonStatus
from population.services import change_record, history_context
from population.transitions import TRANSITION_REFUSED
from registry.locks import lock_persons_then_households
from registry.models import EventKind, Membership, RegistrationEvent
from registry.quality.detectors import Detector, DetectorContext, detector_hook
from registry.quality.models import (
    IssueKind,
    IssueStatus,
    MergeStatus,
    PersonMerge,
    QualityIssue,
    QualityRun,
    RunStatus,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

APPROVE_MERGE_PERMISSION = "registry.approve_personmerge"
RUN_LOCK = "popbase.quality_detect"
DUPLICATE_KINDS = (
    IssueKind.DUPLICATE_SAME_NAME,
    IssueKind.DUPLICATE_NORMALISED,
    IssueKind.DUPLICATE_HOMOPHONE,
    IssueKind.REGISTERED_TWICE,
)


# -- detector runs ------------------------------------------------------------------------------

_UPSERT = """
    INSERT INTO registry_qualityissue AS q
        (kind, fingerprint, person_ids, household_id, evidence, evidence_hash, status,
         found_at, evidence_changed_at, decision_note)
    SELECT DISTINCT ON (fingerprint) kind, fingerprint, person_ids, household_id, evidence,
           md5(evidence::text), 'open', now(), now(), ''
    FROM quality_found
    ORDER BY fingerprint
    ON CONFLICT (fingerprint) DO UPDATE SET
        person_ids = EXCLUDED.person_ids,
        household_id = EXCLUDED.household_id,
        evidence = EXCLUDED.evidence,
        evidence_hash = EXCLUDED.evidence_hash,
        evidence_changed_at = EXCLUDED.evidence_changed_at,
        status = CASE WHEN q.status IN ('dismissed', 'resolved') THEN 'open' ELSE q.status END,
        decided_by_id = CASE WHEN q.status IN ('dismissed', 'resolved') THEN NULL
                             ELSE q.decided_by_id END,
        decided_at = CASE WHEN q.status IN ('dismissed', 'resolved') THEN NULL
                          ELSE q.decided_at END,
        decision_note = CASE WHEN q.status IN ('dismissed', 'resolved')
                             THEN '再次发现（证据变化或问题复现），重新打开'
                             ELSE q.decision_note END
    -- a dismissed finding stays dismissed while its evidence is unchanged; a resolved one
    -- found again is back
    WHERE q.evidence_hash <> EXCLUDED.evidence_hash OR q.status = 'resolved'
    RETURNING (xmax = 0) AS inserted
"""

_REOPENING = """
    SELECT count(*) FROM registry_qualityissue q JOIN quality_found f USING (fingerprint)
    WHERE q.status = 'resolved'
       OR (q.status = 'dismissed' AND q.evidence_hash <> md5(f.evidence::text))
"""

_RESOLVE = """
    UPDATE registry_qualityissue q
    SET status = 'resolved', decided_by_id = NULL, decided_at = now(),
        decision_note = '复查未再发现，自动解决'
    WHERE q.kind = ANY(%s) AND q.status IN ('open', 'confirmed')
      AND NOT EXISTS (SELECT 1 FROM quality_found f WHERE f.fingerprint = q.fingerprint)
"""


def _detect_one(detector: Detector, context: DetectorContext, actor: Actor) -> dict[str, int]:
    """Run one detector and merge its findings into the queue, all in SQL, in one transaction."""
    sql, params = detector.sql(context)
    cursor = context.cursor
    with (
        transaction.atomic(),
        history_context(actor=actor, reason=f"数据质量检测：{detector.label}"),
    ):
        cursor.execute("DROP TABLE IF EXISTS quality_found")
        cursor.execute(f"CREATE TEMP TABLE quality_found ON COMMIT DROP AS {sql}", params)
        cursor.execute("SELECT count(*) FROM quality_found")
        found = cursor.fetchone()[0]
        cursor.execute("ANALYZE quality_found")
        cursor.execute(_REOPENING)
        reopened = cursor.fetchone()[0]
        cursor.execute(_UPSERT)
        written = [row[0] for row in cursor.fetchall()]
        cursor.execute(_RESOLVE, [list(detector.kinds)])
        resolved = cursor.rowcount
    new = sum(written)
    return {
        "found": found,
        "new": new,
        "reopened": reopened,
        "updated": len(written) - new - reopened,
        "resolved": resolved,
    }


def quality_detect(
    *,
    detectors: Sequence[str] | None = None,
    actor: Actor = None,
    progress: Callable[[int, int, str, dict[str, int]], None] | None = None,
) -> QualityRun:
    """Run the detectors over the whole population and update the review queue.

    Idempotent: a rerun on unchanged data opens nothing new; a dismissed finding is reopened
    only when its evidence changes. Each detector commits on its own, so the run's progress is
    visible; one run at a time (a session advisory lock), a second is refused.
    """
    names = list(detectors or detector_hook.keys())
    unknown = [n for n in names if n not in detector_hook]
    require(
        not unknown,
        f"未知的检测项：{', '.join(unknown)}",
        f"unknown detectors: {', '.join(unknown)}",
        "unknown_detector",
    )
    # Held across the detectors' own commits (population/locks.py: safe behind PgBouncer).
    lock = SessionLock(RUN_LOCK)
    if not lock.acquire():
        raise Conflict(
            "已有数据质量检测正在运行",
            "a data-quality run is already in progress",
            code="run_in_progress",
        )
    with connection.cursor() as cursor:
        try:
            run = QualityRun.objects.create(detectors=names)
            context = DetectorContext(cursor=cursor)
            try:
                for i, name in enumerate(names, start=1):
                    result = _detect_one(detector_hook[name], context, actor)
                    run.results[name] = result
                    run.save(update_fields=["results"])
                    if progress:
                        progress(i, len(names), name, result)
            except Exception as exc:
                run.status = RunStatus.FAILED
                run.error = str(exc)[:2000]
                run.finished_at = timezone.now()
                run.save(update_fields=["status", "error", "finished_at"])
                raise
            run.status = RunStatus.DONE
            run.finished_at = timezone.now()
            run.save(update_fields=["status", "finished_at"])
            return run
        finally:
            lock.release()


# -- review decisions ------------------------------------------------------------------------------

_TRANSITIONS: dict[str, set[str]] = {
    IssueStatus.CONFIRMED: {IssueStatus.OPEN},
    IssueStatus.DISMISSED: {IssueStatus.OPEN, IssueStatus.CONFIRMED},
    IssueStatus.RESOLVED: {IssueStatus.OPEN, IssueStatus.CONFIRMED},
    IssueStatus.OPEN: {IssueStatus.CONFIRMED, IssueStatus.DISMISSED},
}


@transaction.atomic
def quality_issue_decide(
    *, issue: QualityIssue, status: str, actor: Actor, note: str = ""
) -> QualityIssue:
    """An officer confirms, dismisses, resolves or reopens a suspected problem."""
    require(
        status in _TRANSITIONS,
        f"无效的处理状态：{status}",
        f"invalid review status: {status}",
        "bad_status",
    )
    note = note.strip()
    require(
        status in (IssueStatus.CONFIRMED, IssueStatus.OPEN) or bool(note),
        "排除或解决须填写说明",
        "dismissing or resolving needs a note",
        "note_required",
    )
    issue = QualityIssue.objects.select_for_update().get(pk=issue.pk)
    actor_require_within(actor, issue)
    if issue.status not in _TRANSITIONS[status]:
        raise Conflict(
            f"问题当前为“{issue.get_status_display()}”，不能改为“{IssueStatus(status).label}”",
            f"the issue is {issue.status}; it cannot become {status}",
            code=TRANSITION_REFUSED,
        )
    with history_context(actor=actor, reason=f"数据质量问题处理：{status}"):
        issue.status = status
        issue.decided_by = officer_or_none(actor)
        issue.decided_at = timezone.now()
        issue.decision_note = note
        issue.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    return issue


# -- merging duplicates ------------------------------------------------------------------------

# Every foreign key to Person is either moved to the survivor on a merge or deliberately kept on
# the duplicate (append-only records tell what happened to the row they name). A new foreign
# key must be added to one of these lists: tests/registry/test_quality_merge.py checks.
MERGE_MOVED_REFERENCES = frozenset(
    {
        "registry.Membership.person",
        # Department facts and the officers' follow-ups describe the human, not the record.
        "sync.Fact.person",
        "sync.Fact.counterpart",
        "sync.FollowUp.person",
    }
)
MERGE_KEPT_REFERENCES = frozenset(
    {
        "registry.RegistrationEvent.person",  # append-only: the events happened to that row
        "population.CitizenIdCorrection.person",  # append-only; the former number stays findable
        "registry.PersonMerge.survivor",
        "registry.PersonMerge.duplicate",
        "population.ChangeEvent.person",  # append-only outbox of the department change feed
        "population.BreakGlassGrant.person",  # append-only: who was reached, then
        # 变更更正登记 proposed for that record; a pending one is refused once it is cancelled
        "registry.Correction.person",
    }
)


@dataclass(frozen=True)
class MergeReferences:
    """References to Person a higher app keeps on the duplicate (``app.Model.field``), and a
    guard called before a merge: ``guard(survivor=, duplicate=)`` raises a ``DomainError`` to
    refuse it."""

    name: str
    kept: frozenset[str]
    guard: Callable[..., None] | None = None


# Higher apps (residence permits, settlement) cannot be imported here; each registers at start-up
# (its AppConfig.ready) the references it keeps and a guard that may refuse a merge.
merge_references_hook: Hook[MergeReferences] = Hook("registry.merge_references")


def merge_reference_decisions() -> frozenset[str]:
    """Every reference to Person with a decision: moved on a merge, or kept on the duplicate."""
    declared = frozenset().union(*(references.kept for references in merge_references_hook))
    return MERGE_MOVED_REFERENCES | MERGE_KEPT_REFERENCES | declared


def _reference_name(field) -> str:
    return f"{field.model._meta.app_label}.{field.model.__name__}.{field.name}"


def _lock_persons(*persons: Person) -> dict[int, Person]:
    """Lock the rows in id order, so crossing merges cannot deadlock."""
    return lock_persons_then_households([p.pk for p in persons])[0]


def _check_pair(survivor: Person, duplicate: Person) -> None:
    require(
        survivor.pk != duplicate.pk,
        "保留人员与重复人员不能是同一人",
        "the survivor and the duplicate must be two different records",
        "same_person",
    )
    if duplicate.status == PersonStatus.CANCELLED:
        raise Conflict(
            "重复人员已注销（已合并），不能再次合并",
            "the duplicate is already cancelled (merged)",
            code="already_merged",
        )
    if survivor.status != PersonStatus.ACTIVE:
        raise Conflict(
            "保留人员已死亡或注销，不能作为保留记录",
            "the survivor is deceased or cancelled and cannot survive a merge",
            code="survivor_inactive",
        )


@transaction.atomic
def person_merge_propose(
    *,
    survivor: Person,
    duplicate: Person,
    actor: Actor,
    reason: str,
    issue: QualityIssue | None = None,
) -> PersonMerge:
    """An officer proposes: ``duplicate`` is the same human as ``survivor``, to be cancelled."""
    require(bool(reason.strip()), "必须填写理由", "a reason is required", "reason_required")
    proposer = officer_or_none(actor)
    if proposer is None:
        raise DomainError(
            "须由登录用户提出", "a signed-in user must propose", code="actor_required"
        )
    locked = _lock_persons(survivor, duplicate)
    survivor, duplicate = locked[survivor.pk], locked[duplicate.pk]
    actor_require_within(actor, survivor, duplicate)
    _check_pair(survivor, duplicate)
    if PersonMerge.objects.filter(
        survivor=survivor, duplicate=duplicate, status=MergeStatus.PROPOSED
    ).exists():
        raise Conflict(
            "相同的合并申请已在审批中",
            "the same merge is already awaiting approval",
            code="already_proposed",
        )
    with history_context(actor=actor, reason=reason):
        return PersonMerge.objects.create(
            survivor=survivor,
            duplicate=duplicate,
            issue=issue,
            reason=reason.strip(),
            proposed_by=proposer,
        )


def _lock_merge_for_decision(merge: PersonMerge, actor: Actor) -> tuple[PersonMerge, User]:
    """The proposal locked, and the supervisor deciding it (never its proposer)."""
    decider = officer_or_none(actor)
    if decider is None or not decider.has_perm(APPROVE_MERGE_PERMISSION):
        raise DomainError(
            "无权审批合并（须户籍主管）",
            "not allowed to decide merges (supervisors only)",
            code="not_permitted",
        )
    try:
        merge = PersonMerge.objects.select_for_update().get(pk=merge.pk)
    except PersonMerge.DoesNotExist:
        raise NotFound("合并申请不存在", "no such merge proposal") from None
    if merge.status != MergeStatus.PROPOSED:
        raise Conflict(
            f"该申请已{merge.get_status_display()}",
            f"the proposal is already {merge.status}",
            code="already_decided",
        )
    require(
        merge.proposed_by_id != decider.pk,
        "不能审批本人提出的申请",
        "one cannot decide one's own proposal",
        "own_proposal",
    )
    return merge, decider


@transaction.atomic
def person_merge_reject(*, merge: PersonMerge, actor: Actor, note: str) -> PersonMerge:
    """A supervisor turns the proposal down; nothing else changes."""
    require(bool(note.strip()), "驳回须填写意见", "a rejection needs a note", "note_required")
    merge, decider = _lock_merge_for_decision(merge, actor)
    actor_require_within(actor, merge)
    with history_context(actor=actor, reason="驳回重复人员合并"):
        merge.status = MergeStatus.REJECTED
        merge.decided_by = decider
        merge.decided_at = timezone.now()
        merge.decision_note = note.strip()
        merge.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    return merge


def _open_membership(person: Person) -> Membership | None:
    """The person's open membership, locked (its household is not: that comes before)."""
    return (
        Membership.objects.select_for_update(of=("self",))
        .filter(person=person, end_date__isnull=True)
        .select_related("household")
        .first()
    )


@transaction.atomic
def person_merge_approve(*, merge: PersonMerge, actor: Actor, note: str = "") -> PersonMerge:
    """A supervisor approves: in one transaction the duplicate is cancelled into the survivor.

    Nothing is deleted. The duplicate keeps its row and citizen ID (lookups by that number are
    led to the survivor through this merge), gets status cancelled and no hukou region. Its
    memberships move to the survivor: an open one is taken over when the survivor has none
    (same household, same relation), otherwise closed today; when both sit in one household the
    survivor inherits the head's place. Append-only records (registration events, ID
    corrections) keep naming the duplicate's row; a ``merge`` registration event is appended for
    the duplicate, and one for the survivor when it takes over a membership.
    """
    merge, decider = _lock_merge_for_decision(merge, actor)
    locked = _lock_persons(merge.survivor, merge.duplicate)
    survivor, duplicate = locked[merge.survivor_id], locked[merge.duplicate_id]
    actor_require_within(actor, merge, survivor, duplicate)
    _check_pair(survivor, duplicate)
    for references in merge_references_hook:
        if references.guard is not None:
            references.guard(survivor=survivor, duplicate=duplicate)
    on = today()
    reason = f"重复户口合并：{merge.reason}"

    # Persons, households, memberships (registry.locks): with both persons locked their open
    # memberships stay where they are, so the households can be found first and locked next.
    lock_persons_then_households(
        household_ids=Membership.objects.filter(
            person__in=(survivor, duplicate), end_date__isnull=True
        ).values_list("household_id", flat=True)
    )
    dup_m = _open_membership(duplicate)
    surv_m = _open_membership(survivor)
    outcome = "none"
    if dup_m is not None:
        others = (
            Membership.objects.filter(household_id=dup_m.household_id, end_date__isnull=True)
            .exclude(person_id__in=[duplicate.pk, survivor.pk])
            .exists()
        )
        if surv_m is None:
            outcome = "taken_over"
        elif surv_m.household_id == dup_m.household_id:
            outcome = "closed_same_household"
        else:
            outcome = "closed"
            require(
                not (dup_m.relation == Relation.HEAD and others),
                "重复人员是有其他成员的户的户主，须先变更户主",
                "the duplicate heads a household with other members; change the head first",
                "head_must_change",
            )

    with history_context(actor=actor, reason=reason):
        joined = None
        if dup_m is not None:
            dup_m.end_date = max(on, dup_m.start_date)
            dup_m.save(update_fields=["end_date"])
            if outcome == "taken_over":
                joined = Membership.objects.create(
                    person=survivor,
                    household=dup_m.household,
                    relation=dup_m.relation,
                    start_date=on,
                )
                survivor.hukou_region_id = dup_m.household.region_id
                survivor.save(update_fields=["hukou_region", "updated_at"])
            elif (
                outcome == "closed_same_household"
                and surv_m is not None
                and dup_m.relation == Relation.HEAD
            ):
                surv_m.relation = Relation.HEAD
                surv_m.save(update_fields=["relation"])
        moved = Membership.objects.filter(person=duplicate).update(person=survivor)
        others_moved = {}
        for name in sorted(MERGE_MOVED_REFERENCES - {"registry.Membership.person"}):
            app_label, model_name, field = name.split(".")
            model = django_apps.get_model(app_label, model_name)
            others_moved[name] = model.objects.filter(**{field: duplicate}).update(
                **{field: survivor}
            )
        former_region = duplicate.hukou_region_id
        duplicate.status = PersonStatus.CANCELLED
        duplicate.hukou_region = None
        duplicate.save(update_fields=["status", "hukou_region", "updated_at"])
        details = {
            "merge_id": merge.pk,
            "survivor_id": survivor.pk,
            "duplicate_id": duplicate.pk,
            "open_membership": outcome,
            "memberships_moved": moved,
            "references_moved": {k: v for k, v in others_moved.items() if v},
            "duplicate_former_hukou_region": former_region,
        }
        officer = officer_or_none(actor)
        # The merge as a registration event of the duplicate, and of the survivor when it joins
        # a household.
        merge_event = {
            "kind": EventKind.MERGE,
            "effective_date": on,
            "officer": officer,
            "reason": reason[:200],
            "document_type": "重复户口合并审批",
            "document_number": f"HB{merge.pk:08d}",
            "details": details,
        }
        RegistrationEvent.objects.create(
            person=duplicate, from_household=dup_m.household if dup_m else None, **merge_event
        )
        if joined is not None:
            RegistrationEvent.objects.create(
                person=survivor, to_household=joined.household, **merge_event
            )
        merge.status = MergeStatus.APPROVED
        merge.decided_by = decider
        merge.decided_at = timezone.now()
        merge.decision_note = note.strip()
        merge.details = details
        try:
            with transaction.atomic():
                merge.save(
                    update_fields=["status", "decided_by", "decided_at", "decision_note", "details"]
                )
        except IntegrityError as exc:  # the partial unique index: one approval per duplicate
            raise Conflict(
                "重复人员已被合并", "the duplicate is already merged", code="already_merged"
            ) from exc
        QualityIssue.objects.filter(
            kind__in=DUPLICATE_KINDS,
            status__in=[IssueStatus.OPEN, IssueStatus.CONFIRMED],
            person_ids__contains=[duplicate.pk, survivor.pk],
        ).update(
            status=IssueStatus.RESOLVED,
            decided_by=officer,
            decided_at=timezone.now(),
            decision_note=f"已合并（合并申请{merge.pk}）",
        )
        # Departments following the change feed learn the duplicate's number is cancelled.
        change_record(
            kind=EventKind.MERGE,
            person=duplicate,
            source=f"registry.merge.{merge.pk}",
            effective_date=on,
            regions=[former_region],
        )
    return merge
