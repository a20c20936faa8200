/* Chinese texts of the security-key scripts of django-otp-webauthn (population/security_keys.py).
 * The scripts call a global gettext(); the library's own catalogue view has no Chinese, so this
 * static file provides it. Loaded before the library's module script; no inline script. */
(function () {
  "use strict";
  var zh = {
    "An error occurred during registration.": "添加安全密钥时出错，请重试。",
    "An error occurred during verification.": "安全密钥验证时出错，请重试，或改用动态口令。",
    "Finishing registration...": "正在保存安全密钥……",
    "Finishing verification...": "正在完成验证……",
    "Register a Passkey": "添加安全密钥",
    "Registering...": "请按提示触摸安全密钥……",
    "Registration aborted or not allowed.": "添加已取消，或浏览器未允许使用安全密钥。",
    "Registration aborted.": "添加已取消。",
    "Registration failed. A server error occurred.": "添加失败：服务器出错，请稍后重试。",
    "Registration failed. A technical problem occurred that prevents you from registering a Passkey for this site.":
      "添加失败：本网站的地址不能绑定安全密钥，请联系系统管理员。",
    "Registration failed. An unknown error occurred.": "添加失败：发生未知错误，请重试。",
    "Registration failed. The server was unable to verify this passkey.": "添加失败：服务器未能验证这个安全密钥，请重试。",
    "Registration failed. Unable to fetch registration options from server.": "添加失败：无法从服务器取得绑定参数，请刷新页面后重试。",
    "Registration failed. You most likely already have a Passkey registered for this site.":
      "添加失败：这个安全密钥已经绑定到本账号。",
    "Registration successful!": "安全密钥已添加。",
    "Verification aborted.": "验证已取消。",
    "Verification canceled or not allowed.": "验证已取消，或安全密钥未应答。可重试，或在下方输入动态口令。",
    "Verification failed. A server error occurred.": "验证失败：服务器出错，请稍后重试，或改用动态口令。",
    "Verification failed. An unknown error occurred.": "验证失败：发生未知错误，请重试，或改用动态口令。",
    "Verification failed. An unknown server error occurred.": "验证失败：服务器出错，请稍后重试，或改用动态口令。",
    "Verification failed. Could not retrieve parameters from the server.": "验证失败：无法从服务器取得验证参数，请刷新页面后重试。",
    "Verification successful!": "验证通过，正在进入系统……",
    "Verify with Passkey": "使用安全密钥验证",
    "Verifying...": "请按提示触摸安全密钥……"
  };
  window.gettext = function (text) {
    return Object.prototype.hasOwnProperty.call(zh, text) ? zh[text] : text;
  };
})();
