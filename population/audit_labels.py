"""Chinese names of the access-log channels, for the 查阅日志 admin (the log keeps the codes)."""

from __future__ import annotations

import functools

PAGE_LABELS = {
    "person": "人员页面",
    "person_correct_id": "身份号码更正页面",
    "person_autocomplete": "人员查找（输入即查）",
    "household_autocomplete": "户查找（输入即查）",
    "event": "登记事项",
    "household": "户页面",
    "household_print": "户口簿打印",
    "person_merge": "重复人员合并页面",
    "person_merge_decide": "重复人员合并审批页面",
    "quality_issue": "数据质量问题页面",
    "person_reads": "查询记录页面",
    "residence_permit": "居住证页面",
    "residence_permit_print": "居住证打印",
    "residence_registration": "居住登记页面",
    "permit_application": "居住证申领页面",
    "permit_fact": "人员事实（居住证）页面",
    "points_entry": "积分记录页面",
    "settlement": "落户申请页面",
    "sync_fact": "部门登记事实",
    "sync_followup": "待办事项（部门数据）",
    "sync_rejected_rows": "部门数据拒收行",
}
PRINT_LABELS = {
    "register_form": "常住人口登记表打印",
    "transfer_permit": "户口迁移证打印",
    "admission_certificate": "准予迁入证明打印",
}
OTHER_LABELS = {
    "break_glass": "跨辖区查询",
    "api.changes": "共享接口：变更订阅",
    "api.facts": "共享接口：事实核验",
    "api.feeds": "共享接口：数据推送",
    "api.persons": "共享接口：人员查询",
    "api.person_reads": "共享接口：查阅记录查询",
    "api.settlement_precheck": "共享接口：落户预审",
    "api.statistics": "共享接口：统计数据",
    "api.verifications": "共享接口：身份核验",
    "command.stats_balance": "命令：户籍人口平衡表",
}


def channel_label(channel: str) -> str:
    """'admin.person_list' → '后台：人员页面（列表）'; unknown codes get a plain Chinese name."""
    if channel in OTHER_LABELS:
        return OTHER_LABELS[channel]
    if channel.startswith("admin.") and channel.endswith(".pdf"):  # a print's PDF copy
        return f"{channel_label(channel.removesuffix('.pdf'))}（电子版）"
    if channel.startswith("admin."):
        name = channel.removeprefix("admin.")
        listing = name.endswith("_list")
        name = name.removesuffix("_list")
        base, _, detail = name.partition(".")
        label = PAGE_LABELS.get(base, "其他页面")
        if base == "event" and detail:
            label = "登记事项表单"
        if base == "print":
            label = PRINT_LABELS.get(detail, "文书打印")
        return f"后台：{label}{'（列表）' if listing else ''}"
    if channel.startswith("api."):
        return "共享接口：其他"
    return "其他"


KNOWN_CHANNELS = [
    *(f"admin.{page}" for page in PAGE_LABELS if not page.startswith("sync_")),
    "admin.household_print.pdf",
    "admin.print.register_form",
    "admin.print.register_form.pdf",
    "admin.print.transfer_permit",
    "admin.print.transfer_permit.pdf",
    "admin.print.admission_certificate",
    "admin.print.admission_certificate.pdf",
    "admin.residence_permit_print.pdf",
    "admin.person_list",
    "admin.event_list",
    "admin.settlement_list",
    "admin.residence_registration_list",
    "admin.permit_application_list",
    "admin.residence_permit_list",
    "admin.sync_fact_list",
    "admin.sync_followup_list",
    "admin.sync_rejected_rows",
    *OTHER_LABELS,
]


# Field codes the log stores that are not a model field's name (computed columns, API terms).
FIELD_LABELS = {
    "citizen_id": "公民身份号码",
    "masked_id": "公民身份号码（掩码）",
    "masked_citizen_id": "公民身份号码（掩码）",
    "shown_citizen_id": "公民身份号码",
    "hukou_region": "户籍地",
    "hukou_region_name": "户籍地",
    "residence_region": "实际居住地",
    "change_kind": "变更类别",
    "history": "变更历史",
    "registration_events": "登记事项",
    "record_changes": "记录变更",
    "reads": "查阅记录",
    "name": "姓名",
    "sex": "性别",
    "birth_date": "出生日期",
    "ethnicity": "民族",
    "status": "状态",
}
FACT_PREFIX = "fact:"


@functools.cache
def _known_field_labels() -> dict[str, str]:
    """Chinese names of field codes, from the admins' column titles and the models' fields."""
    from django.apps import apps
    from django.contrib import admin

    found: dict[str, str] = {}
    for model in apps.get_models():
        for model_field in model._meta.get_fields():
            verbose = getattr(model_field, "verbose_name", None)
            if verbose and not str(verbose).isascii():
                found.setdefault(model_field.name, str(verbose))
    for model_admin in admin.site._registry.values():
        for name in dir(type(model_admin)):
            description = getattr(getattr(type(model_admin), name, None), "short_description", "")
            if description and not str(description).isascii():
                found.setdefault(name, str(description))
    return found


def field_label(code: str) -> str:
    """'hukou_region_name' → '户籍地'; 'fact:…' → '事实核验：…'; unknown → '其他字段'."""
    if code in FIELD_LABELS:
        return FIELD_LABELS[code]
    if code.startswith(FACT_PREFIX):
        from population.sharing.facts import fact_hook

        fact = fact_hook.get(code.removeprefix(FACT_PREFIX))
        label = fact.label_zh if fact else ""
        return f"事实核验：{label or '其他'}"
    return _known_field_labels().get(code, "其他字段")


def purpose_label(purpose: str) -> str:
    """'social_insurance 社会保险经办' (how the API logs a purpose) → '社会保险经办'; other text
    as written."""
    from population.sharing.scopes import Purpose

    code, _, rest = purpose.partition(" ")
    if code in Purpose.values:
        return rest or Purpose(code).label
    return purpose
