// netstage what-if page: a few lines of plain JavaScript, no framework, no network
// requests other than this server. Sliders send a quick run (fewer scenarios) while
// they move and the full run on release; A/B differences are highlighted.
(function () {
  "use strict";
  var pending = {};   // slot -> AbortController of the request in flight
  var timers = {};

  function run(form, quick) {
    var slot = form.dataset.slot;
    if (pending[slot]) { pending[slot].abort(); }
    var ctl = new AbortController();
    pending[slot] = ctl;
    var target = document.getElementById("result-" + slot);
    target.classList.add("busy");
    var body = new URLSearchParams(new FormData(form));
    return fetch("/run" + (quick ? "?quick=1" : ""), {method: "POST", body: body,
                                                       signal: ctl.signal})
      .then(function (resp) {
        return resp.text().then(function (text) {
          target.innerHTML = text;
          target.dataset.status = String(resp.status);
          markInvalid(form, target);
          loadN1(target);
        });
      })
      .catch(function (err) { if (err.name !== "AbortError") { target.textContent = String(err); } })
      .finally(function () {
        if (pending[slot] === ctl) { delete pending[slot]; target.classList.remove("busy"); }
        compare();
      });
  }

  // the N-1 table of a full result follows it (GET /n1/ID); a newer result replaces it
  function loadN1(target) {
    target.querySelectorAll("[data-n1]").forEach(function (el) {
      fetch(el.dataset.n1).then(function (resp) {
        return resp.text().then(function (text) {
          if (el.isConnected) { el.innerHTML = text; el.removeAttribute("data-n1"); }
        });
      }).catch(function () { el.textContent = "N-1 analysis unavailable; move a knob to recompute"; });
    });
  }

  function markInvalid(form, target) {
    form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
    target.querySelectorAll("li[data-field]").forEach(function (li) {
      var el = form.elements.namedItem(li.dataset.field);
      if (el && el.setAttribute) { el.setAttribute("aria-invalid", "true"); }
    });
  }

  function summary(slot) {
    var res = document.querySelector("#result-" + slot + " .res[data-summary]");
    return res ? JSON.parse(res.dataset.summary) : null;
  }

  function compare() {
    var a = summary("A"), b = summary("B"), body = document.getElementById("diff-body");
    var forms = document.querySelectorAll("form.knobs");
    if (forms.length === 2) {
      var fa = new FormData(forms[0]), fb = new FormData(forms[1]);
      forms.forEach(function (f) {
        f.querySelectorAll("[name]").forEach(function (el) {
          var va = fa.get(el.name), vb = fb.get(el.name);
          el.closest("label, td") && el.closest("label, td").classList.toggle("differs", va !== vb);
        });
      });
    }
    if (!a || !b) { body.textContent = "compute both scenarios to compare them"; return; }
    var rows = [];
    Object.keys(a).forEach(function (k) {
      var diff = a[k] !== b[k];
      rows.push("<tr class='" + (diff ? "diff" : "same") + "' data-key='" + esc(k) + "'><td>" + esc(k) +
                "</td><td>" + esc(a[k]) + "</td><td>" + esc(b[k]) + "</td></tr>");
      ["A", "B"].forEach(function (s) {
        document.querySelectorAll("#result-" + s + " [data-k='" + k + "']").forEach(function (el) {
          el.classList.toggle("diff", diff);
        });
      });
    });
    var n = rows.filter(function (r) { return r.indexOf("class='diff'") >= 0; }).length;
    body.innerHTML = "<p>" + n + " difference(s)</p><table><tr><th>figure</th><th>A</th><th>B</th></tr>" +
                     rows.join("") + "</table>";
  }

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }

  document.querySelectorAll("form.knobs").forEach(function (form) {
    form.querySelectorAll("input[type=range]").forEach(function (r) {
      var num = form.elements.namedItem(r.dataset.for);
      r.addEventListener("input", function () {
        num.value = r.value;
        clearTimeout(timers[form.dataset.slot]);
        timers[form.dataset.slot] = setTimeout(function () { run(form, true); }, 120);
      });
      r.addEventListener("change", function () {
        clearTimeout(timers[form.dataset.slot]);
        num.value = r.value; run(form, false);
      });
      num.addEventListener("input", function () { r.value = num.value; });
    });
    form.addEventListener("change", function (ev) {
      if (ev.target.type !== "range") { run(form, false); }
    });
    form.addEventListener("submit", function (ev) {
      // Enter in a field runs the scenario; the export buttons download files
      var btn = ev.submitter;
      if (!btn || !btn.dataset.export) { ev.preventDefault(); run(form, false); }
    });
  });
  window.netstageRun = function (slot, quick) {
    return run(document.querySelector("form.knobs[data-slot='" + slot + "']"), !!quick);
  };
  document.querySelectorAll(".result").forEach(loadN1);
  compare();
})();
