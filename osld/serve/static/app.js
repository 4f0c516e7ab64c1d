// osld web page: plain JS, no build step, nothing loaded from outside this server.
"use strict";
const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") n.className = v; else if (k === "text") n.textContent = v; else n.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) n.append(k);
  return n;
};
const fmt = (x, d = 2) => (x == null ? "–" : Number(x).toFixed(d));
let info = { conf: 0.25, conf_floor: 0.05, min_sim: 0.45, top_k: 5 };
let shown = [];  // [{url, record}] of the last detect call: sliders re-filter these without a new request

function authHeaders() {
  const key = $("#api-key").value.trim();
  if (key) localStorage.setItem("osld-api-key", key);
  return key ? { Authorization: "Bearer " + key } : {};
}

async function api(method, url, body, headers = {}) {
  const r = await fetch(url, { method, body, headers });
  let data = null;
  try { data = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok) throw new Error((data && data.error) || r.status + " " + r.statusText);
  return data;
}

// ---------- detect ----------
// The server names boxes with the registry's calibrated threshold; the slider overrides it only once moved.
let simTouched = false;

function brandOf(det, minSim) {
  const best = det.alternatives && det.alternatives[0];
  if (!best || !simTouched) return det.brand;
  return best.similarity >= minSim ? best.brand : "unknown";
}

function visible(record) {
  const conf = parseFloat($("#conf").value), minSim = parseFloat($("#min-sim").value);
  return record.detections.filter((d) => d.score >= conf).map((d) => ({ ...d, brand: brandOf(d, minSim) }));
}

function renderResults() {
  const root = $("#results");
  root.replaceChildren();
  let boxes = 0;
  for (const { url, record } of shown) {
    const card = el("div", { class: "result" });
    const title = record.width ? `${record.image} · ${record.width}×${record.height}` : record.image;
    card.append(el("h3", { text: title }));
    if (record.error) { card.append(el("div", { class: "error", text: record.error })); root.append(card); continue; }
    const dets = visible(record);
    boxes += dets.length;
    const stage = el("div", { class: "stage" }, el("img", { src: url, alt: record.image }));
    const rows = dets.map((d, i) => {
      const [x1, y1, x2, y2] = d.box, known = d.brand !== "unknown";
      const value = d.confidence != null ? d.confidence : d.similarity;
      const box = el("div", { class: "box" + (known ? "" : " unknown") + (y1 / record.height < 0.06 ? " inside" : ""),
                              "data-brand": d.brand, "data-score": d.score });
      box.style.left = (100 * x1 / record.width) + "%";
      box.style.top = (100 * y1 / record.height) + "%";
      box.style.width = (100 * (x2 - x1) / record.width) + "%";
      box.style.height = (100 * (y2 - y1) / record.height) + "%";
      box.append(el("span", { class: "label", text: `${i + 1} ${d.brand} ${fmt(value)}` }));
      stage.append(box);
      const alts = (d.alternatives || []).slice(known ? 1 : 0, 4).map((a) => `${a.brand} ${fmt(a.similarity)}`);
      return el("tr", {},
        el("td", { class: "num", text: String(i + 1) }),
        el("td", {}, el("span", { class: "pill" + (known ? "" : " unknown"), text: d.brand })),
        el("td", { class: "num", text: fmt(d.score) }),
        el("td", { class: "num", text: fmt(d.similarity) }),
        el("td", { class: "alts", text: alts.join(", ") }));
    });
    const table = el("table", {}, el("thead", {}, el("tr", {},
      ...["#", "brand", "score", "similarity", "alternatives"].map((h) => el("th", { text: h })))));
    const tbody = el("tbody");
    if (rows.length) tbody.append(...rows);
    else tbody.append(el("tr", {}, el("td", { colspan: "5", class: "alts", text: "no logo above these thresholds" })));
    table.append(tbody);
    card.append(stage, table);
    root.append(card);
  }
  return boxes;
}

async function detect(files) {
  files = [...files].filter((f) => f.size > 0);
  if (!files.length) return;
  const status = $("#status");
  status.className = "status";
  status.textContent = `detecting in ${files.length} image(s)…`;
  const form = new FormData();
  for (const f of files) form.append("files", f, f.name);
  const t0 = performance.now();
  try {
    // ask at the server's floor: the sliders then filter locally
    const data = await api("POST", `/v1/detect?conf=${info.conf_floor}&top_k=${info.top_k}`, form);
    for (const s of shown) URL.revokeObjectURL(s.url);
    shown = data.results.map((record, i) => ({ url: URL.createObjectURL(files[i]), record }));
    const n = renderResults();
    status.textContent = `${n} logo(s) in ${files.length} image(s) · ${Math.round(performance.now() - t0)} ms`;
    status.dataset.done = "1";
  } catch (e) {
    status.className = "status error";
    status.textContent = e.message;
  }
}

function dropZone(zone, input, onFiles) {
  input.addEventListener("change", () => { onFiles(input.files); });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over"); onFiles(e.dataTransfer.files); });
}

function setSliders() {
  $("#conf-val").textContent = fmt($("#conf").value);
  $("#sim-val").textContent = fmt($("#min-sim").value);
}

// ---------- registry ----------
let logoFiles = [];

async function loadBrands() {
  const grid = $("#brands");
  const data = await api("GET", "/v1/brands");
  const filter = $("#brand-filter").value.trim().toLowerCase();
  const brands = data.brands.filter((b) => b.brand.toLowerCase().includes(filter));
  $("#brand-count").textContent = `${data.brands.length} brands, ${data.brands.reduce((s, b) => s + b.images, 0)} images`;
  grid.replaceChildren(...brands.map((b) => {
    const remove = el("button", { type: "button", text: "Remove" });
    remove.addEventListener("click", async () => {
      if (!remove.classList.contains("confirm")) {
        remove.classList.add("confirm"); remove.textContent = "Confirm remove";
        setTimeout(() => { remove.classList.remove("confirm"); remove.textContent = "Remove"; }, 4000);
        return;
      }
      try {
        await api("DELETE", `/v1/brands/${encodeURIComponent(b.brand)}`, null, authHeaders());
        addStatus(`removed ${b.brand}`);
        await loadBrands();
      } catch (e) { addStatus(e.message, true); }
    });
    return el("div", { class: "brand", "data-brand": b.brand },
      el("img", { src: b.thumbnail, alt: b.brand, loading: "lazy" }),
      el("div", { class: "name", text: b.brand }),
      el("div", { class: "count", text: `${b.images} image${b.images === 1 ? "" : "s"}` }),
      remove);
  }));
}

function addStatus(text, isError = false) {
  const s = $("#add-status");
  s.className = "status" + (isError ? " error" : "");
  s.textContent = text;
}

async function addBrand(ev) {
  ev.preventDefault();
  const name = $("#brand-name").value.trim();
  if (!name || !logoFiles.length) { addStatus("give a brand name and at least one logo image", true); return; }
  const form = new FormData();
  for (const f of logoFiles) form.append("files", f, f.name);
  $("#add-button").disabled = true;
  try {
    const r = await api("POST", `/v1/brands/${encodeURIComponent(name)}/images`, form, authHeaders());
    addStatus(`added ${r.added.length} image(s) to ${r.brand} (${r.images} in total)`);
    logoFiles = [];
    $("#logo-label").textContent = "Drop logo images here or click to pick";
    $("#brand-name").value = "";
    await loadBrands();
  } catch (e) { addStatus(e.message, true); }
  $("#add-button").disabled = false;
}

function show(view) {
  for (const t of document.querySelectorAll(".tab[data-view]")) t.classList.toggle("active", t.dataset.view === view);
  $("#view-detect").hidden = view !== "detect";
  $("#view-registry").hidden = view !== "registry";
  if (view === "registry") loadBrands().catch((e) => addStatus(e.message, true));
}

async function init() {
  $("#api-key").value = localStorage.getItem("osld-api-key") || "";
  try { info = await api("GET", "/v1/info"); } catch (e) { /* keep defaults */ }
  $("#conf").min = info.conf_floor;
  $("#conf").value = info.conf;
  $("#min-sim").value = info.min_sim;
  setSliders();
  $("#min-sim").addEventListener("input", () => { simTouched = true; });
  for (const id of ["#conf", "#min-sim"]) $(id).addEventListener("input", () => { setSliders(); renderResults(); });
  dropZone($("#drop"), $("#file-input"), detect);
  dropZone($("#logo-drop"), $("#logo-input"), (files) => {
    logoFiles = [...files];
    $("#logo-label").textContent = logoFiles.map((f) => f.name).join(", ") || "Drop logo images here or click to pick";
  });
  $("#add-form").addEventListener("submit", addBrand);
  $("#brand-filter").addEventListener("input", () => loadBrands());
  for (const t of document.querySelectorAll(".tab[data-view]")) t.addEventListener("click", () => show(t.dataset.view));
  document.body.dataset.ready = "1";
}
init();
