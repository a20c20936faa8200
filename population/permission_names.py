"""Chinese names for Django's built-in model permissions (可查看、可增加、可修改、可删除).

Django creates the four permissions of each model with English names (``Can view person``)
stored in the database, and the superuser's user and group pages list them by that name; its
translation catalogue cannot reach text kept in rows. After every ``migrate`` (and the flush of
a test), each permission still named in Django's English pattern is renamed to the Chinese
action and the model's Chinese ``verbose_name``. Permissions the apps declare themselves are
already named in Chinese and left alone.
"""

from __future__ import annotations

from django.utils import translation

ACTIONS = {"view": "可查看", "add": "可增加", "change": "可修改", "delete": "可删除"}

# Models whose verbose_name is English and not a translatable string (libraries', and the
# change-history tables that django-pghistory generates, named after the tracked model below);
# django-axes' names are translated by the project's catalogue (locale/).
MODEL_NAMES = {
    "rest_framework_api_key.apikey": "接口密钥（库自带，未使用）",
    "pghistory.context": "变更上下文",
    "pghistory.events": "变更事件（汇总）",
    "pghistory.middlewareevents": "请求变更事件",
    "settlement.permitcounter": "准迁证编号计数",
    # django-otp: the second factor of staff logins (population/two_factor.py).
    "otp_totp.totpdevice": "动态口令设备",
    "otp_static.staticdevice": "恢复码设备",
    "otp_static.statictoken": "恢复码",
    # django-otp-webauthn: security keys (population/security_keys.py).
    "django_otp_webauthn.webauthncredential": "安全密钥",
    "django_otp_webauthn.webauthnattestation": "安全密钥证明",
    "django_otp_webauthn.webauthnuserhandle": "安全密钥用户标识",
}


def model_name_zh(model) -> str:
    """A model as the permission list names it, in Chinese."""
    known = MODEL_NAMES.get(model._meta.label_lower)
    if known:
        return known
    tracked = getattr(model, "pgh_tracked_model", None)
    with translation.override("zh-hans"):
        if tracked is not None:
            return f"{tracked._meta.verbose_name}变更历史"
        return str(model._meta.verbose_name)


def permission_name_zh(action: str, model) -> str:
    return f"{ACTIONS[action]}{model_name_zh(model)}"[:255]


def permission_names_translate(sender=None, *, using: str = "default", **kwargs) -> int:
    """post_migrate receiver; returns how many permissions it renamed."""
    from django.contrib.auth.models import Permission

    renamed = 0
    rows = Permission.objects.using(using).filter(name__startswith="Can ")
    for permission in rows.select_related("content_type"):
        model = permission.content_type.model_class()
        action = permission.codename.partition("_")[0]
        if model is None or action not in ACTIONS:
            continue
        if permission.codename != f"{action}_{model._meta.model_name}":
            continue
        permission.name = permission_name_zh(action, model)
        permission.save(update_fields=["name"])
        renamed += 1
    return renamed
