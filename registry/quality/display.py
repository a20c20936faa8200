"""Evidence of a quality issue and details of a merge as Chinese tables, not raw JSON.

The detectors write evidence as JSON (citizen IDs already masked); officers read it here with
Chinese labels, persons as 姓名（号码，状态）, and internal ids left out.
"""

from __future__ import annotations

from typing import Any

from django.utils.html import format_html, format_html_join

from population.codes import Relation
from population.models import PersonStatus, Sex

KEY_LABELS = {
    "rule": "规则",
    "key": "比对依据",
    "name": "姓名",
    "sex": "性别",
    "birth_date": "出生日期",
    "persons": "涉及人员",
    "person": "人员",
    "households": "所在户",
    "household": "户号",
    "household_region": "户所在地区划",
    "members": "户内人数",
    "relations": "成员与户主关系",
    "former_number": "原身份号码",
    "failed": "未通过的检查",
    "death_date": "死亡日期",
    "notices": "死亡信息记录号",
    "citizen_id": "公民身份号码",
    "status": "状态",
    "hukou_region": "户籍地区划",
    # merge details
    "open_membership": "重复记录的户籍关系",
    "memberships_moved": "转入保留人员的户籍关系（条）",
    "references_moved": "转入保留人员的其他记录",
    "duplicate_former_hukou_region": "重复记录原户籍地区划",
}
# Internal ids stay out of officer pages.
HIDDEN_KEYS = {"id", "merge_id", "survivor_id", "duplicate_id"}
VALUE_LABELS = {
    "two_open_registrations": "同一人有两个有效户籍关系",
    "corrected_number_still_recorded": "已更正的旧号码仍有记录",
    "name_blank": "姓名为空",
    "ethnicity_missing": "民族缺失",
    "registered_without_household": "有户籍但不在任何户内",
    "check_digit_wrong": "身份号码校验位错误",
    "address_code_unknown": "身份号码地址码不存在",
    "hukou_region_differs_from_household": "户籍地与所在户的区划不符",
    "inactive_with_open_membership": "已死亡或注销仍在户内",
    "none": "无",
    "taken_over": "由保留人员承接",
    "closed": "已终止（保留人员另有户籍）",
    "closed_same_household": "已终止（两人在同一户）",
    **dict(PersonStatus.choices),
    **{str(k): v for k, v in Sex.choices},
}


def _person(value: dict) -> str:
    status = VALUE_LABELS.get(value.get("status", ""), value.get("status", ""))
    parts = [p for p in (value.get("citizen_id"), status) if p]
    return f"{value.get('name') or '（无姓名）'}（{'，'.join(parts)}）" if parts else value["name"]


def _value(key: str, value: Any) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, dict):
        if "name" in value or "citizen_id" in value:
            return _person(value)
        return "；".join(
            f"{KEY_LABELS.get(k, '其他')}：{_value(k, v)}"
            for k, v in value.items()
            if k not in HIDDEN_KEYS
        )
    if isinstance(value, list):
        if key == "relations":
            return "、".join(Relation(v).label if v in Relation.values else str(v) for v in value)
        return "、".join(_value(key, v) for v in value)
    if isinstance(value, bool):
        return "是" if value else "否"
    if key == "sex":
        return VALUE_LABELS.get(str(value), str(value))
    return VALUE_LABELS.get(str(value), str(value))


def as_table(data: dict | None) -> str:
    """Two columns, 项目 and 内容, one row per key; '—' for nothing."""
    if not data:
        return "—"
    rows = [
        (KEY_LABELS.get(key, "其他"), _value(key, value))
        for key, value in data.items()
        if key not in HIDDEN_KEYS
    ]
    return format_html(
        '<table class="quality-details"><tbody>{}</tbody></table>',
        format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows),
    )
