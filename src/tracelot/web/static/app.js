// tracelot's own small script: confirmations, CSRF for fetch(), keyboard helpers.
// Pages work without it (plain forms); it only makes them quicker to use.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

async function postJSON(url, body) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
    body: JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  return { ok: res.ok, status: res.status, data };
}

// <form data-confirm="Text"> asks before submitting.
document.addEventListener("submit", (ev) => {
  const msg = ev.target.dataset?.confirm;
  if (msg && !window.confirm(msg)) ev.preventDefault();
});

// "/" focuses the page's search or scan field, as in most web apps.
document.addEventListener("keydown", (ev) => {
  if (ev.key !== "/" || ev.target.closest("input, textarea, select")) return;
  const field = document.querySelector("[data-scan], input[type=search]");
  if (field) { ev.preventDefault(); field.focus(); }
});

window.tracelot = { postJSON, csrf };

// <input type="checkbox" data-select-all="name"> ticks every box of that name on the page.
document.addEventListener("change", (ev) => {
  const name = ev.target.dataset?.selectAll;
  if (!name) return;
  document.querySelectorAll(`input[type=checkbox][name="${name}"]`).forEach((b) => { b.checked = ev.target.checked; });
});

// How many serial numbers a paste holds: one per line (or ; / tab), ranges like
// SN-001..SN-010 or SN-001..010 counted in full. <textarea data-count="id"> shows it live.
function countSerials(text) {
  let n = 0;
  for (const part of text.split(/[\r\n\t;]+/)) {
    const p = part.trim();
    if (!p) continue;
    const m = p.match(/^(.*?)(\d+)\.\.(?:\1)?(\d+)$/);
    n += m && Number(m[3]) >= Number(m[2]) ? Number(m[3]) - Number(m[2]) + 1 : 1;
  }
  return n;
}
window.tracelot.countSerials = countSerials;
document.addEventListener("input", (ev) => {
  const target = ev.target.dataset?.count && document.getElementById(ev.target.dataset.count);
  if (target) target.textContent = String(countSerials(ev.target.value));
});
