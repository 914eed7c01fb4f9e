// The serial picker: filter by typing, scan GS1 strings, select up to the quantity with a
// live "n of m" count. One piece of code serves two screens:
//  - a sales row (Sell): Done POSTs the selection to data-save (default the row's URL);
//  - a serial ingredient (Make, production dialog): data-fill names an element that
//    receives hidden inputs (name = data-name) for the production form; nothing is saved.
// The list comes from data-source (JSON {free, held, scanned}, searched on the server).
// Keyboard: the scan field has focus; Enter adds the scanned unit; Tab/Space pick from the
// list; Escape closes.
"use strict";

(() => {
  const dlg = document.getElementById("picker");
  if (!dlg) return;
  const $ = (id) => document.getElementById(id);
  const list = $("picker-options"), status = $("picker-status"), count = $("picker-count");
  const scan = $("picker-scan"), filter = $("picker-filter"), done = $("picker-done"), all = $("picker-all");
  let st = null;

  const say = (text, bad = false) => { status.textContent = text; status.className = "status " + (bad ? "warn" : ""); };
  const assigned = () => st.extra + st.selected.size;
  const showCount = () => { count.textContent = `${assigned()} of ${st.quantity}`; };

  async function load(params) {
    const res = await fetch(`${st.source}?` + new URLSearchParams(params), { headers: { Accept: "application/json" } });
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
      if (assigned() >= st.quantity) { box.checked = false; say(`${st.quantity} needed; untick one first.`, true); return; }
      st.selected.set(s.id, s.number);
    } else st.selected.delete(s.id);
    say(""); showCount();
  }

  function chosenInputs(fill) {
    return [...(document.getElementById(fill)?.querySelectorAll("input[type=hidden]") || [])];
  }

  // Select-all and Done stay disabled until the list has loaded; a picker reopened while an
  // older list is still loading ignores that older answer (each open() has its own number).
  let opened = 0;
  const ready = (yes) => { all.disabled = !yes; done.disabled = !yes; };

  async function open(btn) {
    const d = btn.dataset, mine = ++opened;
    st = { quantity: Number(d.quantity), delivered: !!d.delivered, selected: new Map(), extra: 0, free: [],
           source: d.source || `/sell/rows/${d.row}/serials`, save: d.save || `/sell/rows/${d.row}/serials`,
           fill: d.fill || null, name: d.name || "serial_ids" };
    $("picker-title").textContent = `Serial numbers · ${d.title}`;
    $("picker-verb").textContent = st.fill ? "chosen" : "assigned";
    done.textContent = st.delivered ? "Revert, assign and deliver" : "Done";
    ready(false); list.replaceChildren(); count.textContent = `… of ${st.quantity}`;
    scan.value = ""; filter.value = ""; say("Loading…");
    if (!dlg.open) dlg.showModal();
    scan.focus();
    let data;
    try { data = await load({}); } catch { data = { error: "The serial numbers could not be loaded." }; }
    if (mine !== opened) return;
    if (data.error) { say(data.error, true); return; }
    const chosen = st.fill ? chosenInputs(st.fill) : [];
    if (chosen.length) for (const i of chosen) st.selected.set(Number(i.value), i.dataset.number);
    else for (const s of data.held) st.selected.set(s.id, s.number);
    if (!st.fill) st.extra = Math.max(0, Number(d.assigned) - data.held.length);
    st.free = data.free; render(data.free); say(""); ready(true);
  }

  let timer = null, typed = 0;
  filter.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const mine = ++typed, at = st;
      const d = await load({ q: filter.value.trim() });
      if (mine !== typed || at !== st) return;  // a newer search, or the picker was reopened
      st.free = d.free || []; render(st.free);
    }, 150);
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
    if (assigned() >= st.quantity) { say(`${st.quantity} needed; ${hit.number} not added.`, true); return; }
    st.selected.set(hit.id, hit.number); render(st.free); say(`Added ${hit.number}.`);
  }

  dlg.addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter" || ev.target.tagName !== "INPUT" || ev.target.type === "checkbox") return;
    ev.preventDefault();
    if (ev.target === scan) addScan();
  });

  // The list shows the first 50 matches; when the quantity needs more than it shows,
  // select-all asks the server for up to the quantity (the server caps it at 1000).
  all.addEventListener("click", async () => {
    const at = st, need = st.quantity - assigned();
    if (need > st.free.filter((s) => !st.selected.has(s.id)).length) {
      ready(false); say("Loading…");
      const d = await load({ q: filter.value.trim(), limit: st.quantity });
      if (at !== st) return;
      ready(true);
      if (d.error) { say(d.error, true); return; }
      st.free = d.free; say("");
    }
    for (const s of st.free) { if (assigned() >= st.quantity) break; st.selected.set(s.id, s.number); }
    render(st.free);
  });
  $("picker-cancel").addEventListener("click", () => dlg.close());

  function fill() {
    const inputs = [...st.selected].map(([id, number]) => {
      const i = document.createElement("input");
      i.type = "hidden"; i.name = st.name; i.value = id; i.dataset.number = number;
      return i;
    });
    document.getElementById(st.fill).replaceChildren(...inputs);
    const label = document.getElementById(`${st.fill}-label`);
    if (label) label.textContent = `${inputs.length} of ${st.quantity} chosen` + (inputs.length ? `: ${[...st.selected.values()].join(", ")}` : "");
    dlg.close();
  }

  done.addEventListener("click", async () => {
    if (st.fill) { fill(); return; }
    if (st.delivered && !window.confirm("This order is delivered. Revert it, assign these serial numbers and deliver it again?")) return;
    done.disabled = true;
    const r = await window.tracelot.postJSON(st.save, { serial_ids: [...st.selected.keys()].map(Number) });
    done.disabled = false;
    if (!r.data.ok) { say(r.data.error || "Not saved.", true); return; }
    dlg.close();
    location.assign(`${location.pathname}?done=${encodeURIComponent(r.data.message)}`);
  });

  // Delegated: buttons inside parts of the page that are re-rendered (the production dialog).
  document.addEventListener("click", (ev) => {
    const btn = ev.target.closest?.(".picker-open");
    if (btn) { ev.preventDefault(); open(btn); }
  });
})();
