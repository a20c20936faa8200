"""Later documents that extend or supersede a stored rule set, loaded as data.

A policy document is often kept in force, extended or partly replaced by a later one (a notice
extending its validity, a revision replacing some channels). Such a document is an amendment
file (``settlement/data/amendments/<city>-<version>.json``)::

    {"city_code": "441800", "base_version": "2015", "version": "2015-演示",
     "kind": "extend" | "supersede", "document": "...", "document_number": "...",
     "issuer": "...", "date": "2020-03-15", "effective_from": "2020-03-15",
     "effective_to": null, "changes": "what it changes",
     "channels_replace": [channel, ...], "channels_add": [...], "channels_remove": ["code"],
     "demo": false}

Storing it makes a new rule-set version: the base's content with the changes applied, its own
window, and ``basis`` — the documents that decide it, in order (the base, then this one), each
with what it changed. A replaced or added channel names the amending document
(``decided_by``). The pre-check answer carries ``basis`` and, per channel, the document that
decided it. An amendment marked ``demo`` (the demo city's 演示 extension) is stored only by the
demo loader, as demonstration rule files are.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from population.errors import DomainError, NotFound
from settlement.conditions import RuleError
from settlement.rules import _date, ruleset_store, ruleset_validate

AMENDMENTS_DIR = Path(__file__).resolve().parent / "data" / "amendments"
KINDS = {"extend": "延长或延续", "supersede": "部分替代"}
REQUIRED = (
    "city_code",
    "base_version",
    "version",
    "kind",
    "document",
    "issuer",
    "date",
    "effective_from",
    "changes",
)


def basis_of(content: dict) -> list[dict]:
    """The documents that decide a rule set, in order (a plain rule set: its own document)."""
    if content.get("basis"):
        return content["basis"]
    return [
        {
            "role": "base",
            "document": content["document"],
            "document_number": content.get("document_number", ""),
            "issuer": content["issuer"],
            "date": content["effective_from"],
            "changes": "",
        }
    ]


def amendment_validate(data: Any) -> dict:
    if not isinstance(data, dict):
        raise RuleError("修订文件须为 JSON 对象 / an amendment must be a JSON object")
    for key in REQUIRED:
        if not data.get(key):
            raise RuleError(f"{key}: 必填 / required")
    if data["kind"] not in KINDS:
        raise RuleError(f"kind: 须为 {sorted(KINDS)} 之一 / must be one of {sorted(KINDS)}")
    _date(data["date"], "date")
    _date(data["effective_from"], "effective_from")
    if data["kind"] == "extend" and any(
        data.get(k) for k in ("channels_replace", "channels_add", "channels_remove")
    ):
        raise RuleError("extend 不改条款；改条款用 supersede / an extension changes no channel")
    return data


def amendment_apply(base: dict, amendment: dict) -> dict:
    """The base content with the amendment applied (validated as a rule set)."""
    content = copy.deepcopy(base)
    content.pop("demo", None)
    channels = {c["code"]: c for c in content["channels"]}
    decided = {"decided_by": amendment["document_number"] or amendment["document"]}
    for ch in amendment.get("channels_replace", []):
        if ch.get("code") not in channels:
            raise RuleError(f"channels_replace: 基础规则没有渠道 {ch.get('code')!r}")
        channels[ch["code"]] = ch | decided
    for ch in amendment.get("channels_add", []):
        if ch.get("code") in channels:
            raise RuleError(f"channels_add: 渠道 {ch.get('code')!r} 已存在 / exists")
        channels[ch["code"]] = ch | decided
    for code in amendment.get("channels_remove", []):
        if channels.pop(code, None) is None:
            raise RuleError(f"channels_remove: 基础规则没有渠道 {code!r}")
    content.update(
        version=amendment["version"],
        effective_from=amendment["effective_from"],
        effective_to=amendment.get("effective_to"),
        channels=list(channels.values()),
        basis=[
            *basis_of(base),
            {
                "role": amendment["kind"],
                "document": amendment["document"],
                "document_number": amendment.get("document_number", ""),
                "issuer": amendment["issuer"],
                "date": amendment["date"],
                "changes": amendment["changes"],
            },
        ],
    )
    if amendment.get("validity_note"):
        content["validity_note"] = amendment["validity_note"]
    if amendment.get("demo"):
        content["demo"] = True
    return ruleset_validate(content)


def _bad_amendment(source_file: str, exc: RuleError) -> DomainError:
    return DomainError(
        f"修订文件 {source_file} 有误：{exc}",
        f"bad amendment {source_file}: {exc}",
        code="bad_rules",
    )


def amendment_store(*, amendment: dict, source_file: str, allow_demo: bool = False):
    """Store the rule set an amendment makes; returns (rule set, created). Same file again
    changes nothing."""
    from settlement.models import RuleSet

    try:
        amendment_validate(amendment)
    except RuleError as exc:
        raise _bad_amendment(source_file, exc) from exc
    if amendment.get("demo") and not allow_demo:
        raise DomainError(
            f"修订文件 {source_file} 标为演示，只能由演示数据（seed_demo）载入",
            f"amendment {source_file} is marked demo; only the demo loader stores one",
            code="demo_rules",
        )
    base = RuleSet.objects.filter(
        city_code=amendment["city_code"], version=amendment["base_version"]
    ).first()
    if base is None:
        raise NotFound(
            f"修订文件 {source_file} 所修订的规则 {amendment['base_version']} 未载入",
            f"the rule set {amendment['base_version']} this amendment changes is not stored",
            code="no_rules",
        )
    if _date(amendment["effective_from"], "effective_from") <= base.effective_from:
        raise DomainError(
            f"修订文件 {source_file} 的生效日期须晚于所修订规则的生效日期 {base.effective_from}",
            f"an amendment must take effect after the rule set it changes ({base.effective_from})",
            code="bad_rules",
        )
    try:
        content = amendment_apply(base.content, amendment)
    except RuleError as exc:
        raise _bad_amendment(source_file, exc) from exc
    supersedes = base if amendment["kind"] == "supersede" else None
    return ruleset_store(data=content, source_file=source_file, supersedes=supersedes)


def amendment_load_file(*, path: Path, allow_demo: bool = False):
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DomainError(
            f"修订文件 {path.name} 不是 JSON",
            f"amendment {path.name} is not JSON",
            code="bad_rules",
        ) from exc
    return amendment_store(amendment=data, source_file=path.name, allow_demo=allow_demo)


def amendments_load_shipped() -> int:
    """Every shipped amendment not marked demo; returns how many were new."""
    created = 0
    for path in sorted(AMENDMENTS_DIR.glob("*.json")):
        if json.loads(path.read_text(encoding="utf-8")).get("demo"):
            continue
        created += amendment_load_file(path=path)[1]
    return created
