// Keel console: confirmations, the upload size check, and live updates of the handoff inbox.
"use strict";

(function () {
  // Forms with data-confirm ask first; every form disables its buttons once sent (no double claims).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      return;
    }
    if (form.id === "publish-form" && !uploadFits(form)) {
      event.preventDefault();
      return;
    }
    if (form.method.toLowerCase() === "post") {
      setTimeout(function () {
        form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      }, 0);
    }
  });

  // The knowledge-base upload: refuse files over the limit before sending them.
  function uploadFits(form) {
    var input = form.querySelector("input[type=file][data-max-bytes]");
    var box = document.getElementById("upload-error");
    if (!input || !box) return true;
    var total = 0;
    Array.prototype.forEach.call(input.files || [], function (f) { total += f.size; });
    var limit = parseInt(input.getAttribute("data-max-bytes"), 10);
    if (total <= limit) {
      box.classList.add("hidden");
      box.textContent = "";
      return true;
    }
    box.textContent = input.getAttribute("data-too-large").replace("{size}", (total / 1048576).toFixed(1) + " MB");
    box.classList.remove("hidden");
    return false;
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("input[type=file][data-max-bytes]")) {
      uploadFits(event.target.form);
    }
  });

  // Conversation page: open every trace at once.
  document.addEventListener("click", function (event) {
    if (event.target.id === "expand-all") {
      document.querySelectorAll("details.trace").forEach(function (d) { d.open = true; });
    }
  });

  // The inbox polls a JSON endpoint; it never touches the reply being typed.
  var inbox = document.getElementById("inbox");
  if (!inbox) return;
  var selected = inbox.getAttribute("data-selected");
  var after = parseInt(inbox.getAttribute("data-after") || "0", 10);
  var shownStatus = inbox.getAttribute("data-status") + "|" + inbox.getAttribute("data-claimed-by");
  var title = inbox.getAttribute("data-title");
  var busy = false;

  function apply(data) {
    var queue = document.getElementById("queue");
    queue.innerHTML = data.queue_html; // rendered and escaped by the server
    document.getElementById("queue-count").textContent = String(data.count);
    document.getElementById("queue-empty").classList.toggle("hidden", data.count > 0);
    document.title = (data.count ? "(" + data.count + ") " : "") + title + " · Keel";
    var s = data.selected;
    if (!s) return;
    if (s.messages_html) {
      document.getElementById("transcript").insertAdjacentHTML("beforeend", s.messages_html);
      after = s.last_seq;
    }
    var badge = document.getElementById("h-status");
    if (badge) {
      badge.textContent = s.status_label;
      badge.className = "badge status-" + s.status;
    }
    var holder = document.getElementById("h-holder");
    if (holder) holder.textContent = s.holder;
    var notice = document.getElementById("h-notice");
    if (notice && s.status + "|" + s.claimed_by !== shownStatus) {
      notice.textContent = s.notice;
      notice.classList.toggle("hidden", !s.notice);
    }
  }

  function poll() {
    if (busy || document.hidden) return;
    busy = true;
    var url = inbox.getAttribute("data-poll") + "?after=" + after + (selected ? "&selected=" + selected : "");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (data) { if (data) apply(data); })
      .catch(function () { /* offline for a moment: try again next tick */ })
      .finally(function () { busy = false; });
  }

  var every = parseInt(inbox.getAttribute("data-interval") || "3000", 10);
  setInterval(poll, every);
})();
