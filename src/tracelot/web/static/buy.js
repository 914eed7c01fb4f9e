// Receiving a PO: "Add another batch" copies a row's batch line (empty) below the others.
"use strict";

document.addEventListener("click", (ev) => {
  const btn = ev.target.closest?.(".add-lot");
  if (!btn) return;
  const box = document.getElementById(btn.dataset.lots);
  const line = box.querySelector(".lot").cloneNode(true);
  line.querySelectorAll("input").forEach((i) => { i.value = ""; });
  box.append(line);
  line.querySelector("input").focus();
});
