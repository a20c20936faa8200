/* After the library's script has added a key, continue to the page named by the element
 * #security-key-register (data-done-url): the recovery codes, or back to the account page.
 * After a refused assertion that locked the account out (429), reload: the login page follows. */
(function () {
  "use strict";
  document.addEventListener("otp_webauthn.register_complete", function () {
    var holder = document.getElementById("security-key-register");
    if (holder && holder.dataset.doneUrl) {
      window.location.assign(holder.dataset.doneUrl);
    }
  });
  document.addEventListener("otp_webauthn.verification_failed", function (event) {
    var response = event.detail && event.detail.response;
    if (response && response.status === 429) {
      window.setTimeout(function () { window.location.reload(); }, 3000);
    }
  });
})();
