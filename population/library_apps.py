"""Chinese names for the libraries' apps on the superuser's pages (the admin index, the
permission lists). Each is the library's own ``AppConfig`` with only ``verbose_name`` changed,
installed in ``INSTALLED_APPS`` in place of the library's name; app labels stay the same."""

from axes.apps import AppConfig as AxesAppConfig
from django_otp_webauthn.apps import OtpWebauthnConfig
from pghistory.apps import PGHistoryConfig
from rest_framework_api_key.apps import RestFrameworkApiKeyConfig


class AxesConfig(AxesAppConfig):
    verbose_name = "登录保护"


class PghistoryConfig(PGHistoryConfig):
    verbose_name = "变更历史"


class ApiKeyConfig(RestFrameworkApiKeyConfig):
    verbose_name = "接口密钥（库自带，未使用）"


class WebauthnConfig(OtpWebauthnConfig):
    verbose_name = "安全密钥"
