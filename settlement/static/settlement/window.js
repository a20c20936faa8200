// 窗口受理: show only the facts the chosen channel reads, and refresh the eligibility panel
// whenever anything changes (select2 fires jQuery events, hence django.jQuery).
(function () {
  "use strict";
  const form = document.getElementById("window-form");
  if (!form) return;
  const $ = window.django && window.django.jQuery;
  const facts = JSON.parse(document.getElementById("channel-facts").textContent);
  const memberKinds = JSON.parse(document.getElementById("channel-members").textContent);
  const kindLabels = JSON.parse(document.getElementById("member-kind-labels").textContent);
  const panel = document.getElementById("eligibility");
  let timer = null;

  function toggle() {
    const channel = form.elements.channel.value;
    const wanted = facts[channel] || [];
    document.querySelectorAll(".fact-row").forEach(function (row) {
      const hasError = row.querySelector(".errorlist") !== null;
      row.hidden = !hasError && !wanted.includes(row.dataset.fact);
    });
    const kinds = (memberKinds[channel] || []).map(function (k) { return kindLabels[k] || k; });
    document.getElementById("member-kinds").textContent = channel
      ? (kinds.length ? "该渠道可随迁：" + kinds.join("、") : "该渠道不允许随迁人员")
      : "";
  }

  function refresh() {
    clearTimeout(timer);
    timer = setTimeout(function () {
      fetch(form.dataset.eligibilityUrl, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
      }).then(function (resp) {
        return resp.ok ? resp.text() : null;
      }).then(function (html) {
        if (html !== null) panel.innerHTML = html;
      });
    }, 200);
  }

  function changed() { toggle(); refresh(); }
  if ($) {
    $(form).on("change", ":input", changed);
  } else {
    form.addEventListener("change", changed);
  }
  form.addEventListener("input", refresh);
  toggle();
  refresh();
})();
