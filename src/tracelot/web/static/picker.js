// The serial picker of a sales row: filter by typing, scan GS1 strings, select up to
// the quantity with a live "n of m assigned", Done saves. Keyboard: the scan field has
// focus; Enter adds the scanned unit; Tab/Space pick from the list; Escape closes.
"use strict";

(() => {
  const dlg = document.getElementById("picker");
  if (!dlg) return;
  const $ = (id) => document.getElementById(id);
  const list = $("picker-options"), status = $("picker-status"), count = $("picker-count");
  const scan = $("picker-scan"), filter = $("picker-filter"), done = $("picker-done");
  let st = null;

  const say = (text, bad = false) => { status.textContent = text; status.className = "status " + (bad ? "warn" : ""); };
  const assigned = () => st.extra + st.selected.size;
  const showCount = () => { count.textContent = `${assigned()} of ${st.quantity}`; };

  async function load(params) {
    const url = `/sell/rows/${st.row}/serials?` + new URLSearchParams(params);
    const res = await fetch(url, { headers: { Accept: "application/json" } });
    return res.json();
  }

  function option(s) {
    const li = document.createElement("li");
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox"; box.value = s.id; box.checked = st.selected.has(s.id);
    box.addEventListener("change", () => toggle(s, box));
    label.append(box, " ", s.number);
    li.append(label);
    return li;
  }

  function render(free) {
    const shown = new Map();
    for (const [id, number] of st.selected) shown.set(id, { id, number });
    for (const s of free) shown.set(s.id, s);
    list.replaceChildren(...[...shown.values()].map(option));
    if (!shown.size) {
      const li = document.createElement("li"); li.className = "empty";
      li.textContent = "No free serial numbers in stock here match."; list.append(li);
    }
    showCount();
  }

  function toggle(s, box) {
    if (box.checked) {
      if (assigned() >= st.quantity) { box.checked = false; say(`The row needs ${st.quantity}; untick one first.`, true); return; }
      st.selected.set(s.id, s.number);
    } else st.selected.delete(s.id);
    say(""); showCount();
  }

  async function open(btn) {
    st = { row: btn.dataset.row, quantity: Number(btn.dataset.quantity), delivered: !!btn.dataset.delivered,
           selected: new Map(), extra: 0, free: [] };
    $("picker-title").textContent = `Serial numbers · ${btn.dataset.title}`;
    done.textContent = st.delivered ? "Revert, assign and deliver" : "Done";
    scan.value = ""; filter.value = ""; say("Loading…");
    dlg.showModal(); scan.focus();
    const data = await load({});
    if (data.error) { say(data.error, true); return; }
    for (const s of data.held) st.selected.set(s.id, s.number);
    st.extra = Math.max(0, Number(btn.dataset.assigned) - data.held.length);
    st.free = data.free; render(data.free); say("");
  }

  let timer = null;
  filter.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => { const d = await load({ q: filter.value.trim() }); st.free = d.free || []; render(st.free); }, 150);
  });

  async function addScan() {
    const raw = scan.value.trim();
    if (!raw) return;
    const d = await load({ scan: raw });
    scan.value = "";
    if (d.error) { say(d.error, true); return; }
    const hit = [...d.free, ...d.held].find((s) => s.number === d.scanned);
    if (!hit) { say(`Serial ${d.scanned} is not free here.`, true); return; }
    if (st.selected.has(hit.id)) { say(`${hit.number} is already selected.`); return; }
    if (assigned() >= st.quantity) { say(`The row needs ${st.quantity}; ${hit.number} not added.`, true); return; }
    st.selected.set(hit.id, hit.number); render(st.free); say(`Added ${hit.number}.`);
  }

  dlg.addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter" || ev.target.tagName !== "INPUT" || ev.target.type === "checkbox") return;
    ev.preventDefault();
    if (ev.target === scan) addScan();
  });

  $("picker-all").addEventListener("click", () => {
    for (const s of st.free) { if (assigned() >= st.quantity) break; st.selected.set(s.id, s.number); }
    render(st.free);
  });
  $("picker-cancel").addEventListener("click", () => dlg.close());

  done.addEventListener("click", async () => {
    if (st.delivered && !window.confirm("This order is delivered. Revert it, assign these serial numbers and deliver it again?")) return;
    done.disabled = true;
    const r = await window.tracelot.postJSON(`/sell/rows/${st.row}/serials`, { serial_ids: [...st.selected.keys()].map(Number) });
    done.disabled = false;
    if (!r.data.ok) { say(r.data.error || "Not saved.", true); return; }
    dlg.close();
    location.assign(`${location.pathname}?done=${encodeURIComponent(r.data.message)}`);
  });

  document.querySelectorAll(".picker-open").forEach((b) => b.addEventListener("click", () => open(b)));
})();
