// The production dialog of an MO: open/close, reload the ingredient proposal (FEFO
// batches, serials needed) when the quantity changes. Serial ingredients use the
// shared picker (picker.js); the output serial count is app.js's data-count.
"use strict";

(() => {
  const dlg = document.getElementById("produce");
  if (!dlg) return;
  const form = document.getElementById("produce-form");
  const qty = document.getElementById("produce-qty");
  const box = document.getElementById("produce-ingredients");

  document.getElementById("produce-open").addEventListener("click", (ev) => {
    ev.preventDefault(); dlg.showModal(); qty.focus(); qty.select();
  });
  document.getElementById("produce-cancel").addEventListener("click", () => dlg.close());

  let timer = null;
  qty.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const value = qty.value.trim();
      if (!(Number(value) > 0)) return;
      const res = await fetch(`${form.dataset.plan}?` + new URLSearchParams({ quantity: value }));
      if (res.ok) box.innerHTML = await res.text();
    }, 250);
  });

  // Typing in the output serials means "enter them": tick that choice.
  const out = document.getElementById("output-serials");
  out?.addEventListener("input", () => {
    const enter = form.querySelector('input[name=output][value=enter]');
    if (enter && out.value.trim()) enter.checked = true;
  });
  // Opened by the link's #produce, or again after a refusal (shown inside the dialog).
  if (location.hash === "#produce" || dlg.hasAttribute("data-open")) { dlg.showModal(); qty.focus(); }
})();
