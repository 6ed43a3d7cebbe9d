// digits-edge serve: the page. Plain JS, no build step, nothing fetched from elsewhere.
// The API's records are the CLI's --json lines; ?detail=1 adds each digit's 28x28 input
// and its ten probabilities. Requests carry the token as a cookie that the server set when
// the page was opened with ?token=, so EventSource and <img> (which cannot send headers) work.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { focus: null, focusName: "", selected: 0, followLive: true, steps: null };

// Drop the token from the address bar (the cookie carries it from now on).
if (new URLSearchParams(location.search).has("token")) history.replaceState(null, "", location.pathname);

async function api(path, options) {
  const r = await fetch(path, options);
  const body = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
  return body;
}

// ------------------------------------------------------------------ digits and probabilities

function drawDigit(canvas, flat, upTo = 28) {
  // flat: 784 ints 0-255, white digit on black; rows after upTo are dimmed
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = Math.floor(i / 28) < upTo ? flat[i] : flat[i] * 0.18;
    img.data.set([v, v, v, 255], i * 4);
  }
  const tmp = document.createElement("canvas");
  tmp.width = tmp.height = 28;
  tmp.getContext("2d").putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tmp, 0, 0, canvas.width, canvas.height);
}

function bars(el, probs) {
  el.innerHTML = "";
  const top = probs.indexOf(Math.max(...probs));
  probs.forEach((p, k) => {
    const bar = document.createElement("div");
    bar.className = "bar" + (k === top ? " top" : "");
    bar.style.width = `${Math.max(1, p * 100)}%`;
    const wrap = document.createElement("div");
    wrap.appendChild(bar);
    el.append(Object.assign(document.createElement("span"), { textContent: k }), wrap,
      Object.assign(document.createElement("span"), { textContent: p.toFixed(3) }));
  });
}

function showFocus(record, name) {
  // record: an API record with .detail; shows its digits and selects one
  state.focus = record;
  state.focusName = name;
  $("focus-name").textContent = name ? `(${name})` : "";
  const strip = $("digit-strip");
  strip.innerHTML = "";
  const inputs = (record.detail && record.detail.inputs) || [];
  if (!inputs.length) {
    strip.innerHTML = '<span class="muted">no digits found</span>';
    $("probs").innerHTML = "";
    return;
  }
  if (state.selected >= inputs.length) state.selected = 0;
  inputs.forEach((flat, i) => {
    const c = Object.assign(document.createElement("canvas"), { width: 28, height: 28 });
    c.className = i === state.selected ? "selected" : "";
    c.title = `digit ${i + 1}: ${record.digits[i].label} (${record.digits[i].confidence})`;
    drawDigit(c, flat);
    c.addEventListener("click", () => { state.selected = i; showFocus(record, name); loadSteps(flat); });
    strip.appendChild(c);
  });
  bars($("probs"), record.detail.probabilities[state.selected]);
}

// ------------------------------------------------------------------ row by row

async function loadSteps(flat) {
  try {
    const s = await api("/api/steps", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ input: flat }) });
    state.steps = { flat, ...s };
    drawSteps();
  } catch (e) {
    $("steps-label").textContent = `row-by-row view unavailable: ${e.message}`;
  }
}

function drawSteps() {
  const s = state.steps;
  if (!s || !s.probabilities) return;
  const row = Number($("steps-row").value);
  $("steps-row-n").textContent = row;
  drawDigit($("steps-input"), s.flat, row);
  // Heat map: one line per row read (top to bottom, aligned with the digit), one column per class.
  const heat = $("steps-heat"), ctx = heat.getContext("2d");
  const top = 14, cw = 20, ch = (heat.height - top) / 28;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, heat.width, top);
  ctx.fillStyle = "#000";
  ctx.fillRect(0, top, heat.width, heat.height - top);
  ctx.font = "11px sans-serif";
  ctx.textAlign = "center";
  for (let k = 0; k < 10; k++) {
    ctx.fillStyle = "#333";
    ctx.fillText(String(k), k * cw + cw / 2, 11);
  }
  s.probabilities.forEach((probs, t) => probs.forEach((p, k) => {
    ctx.fillStyle = `rgb(${Math.round(40 + 60 * p)}, ${Math.round(40 + 200 * p)}, ${Math.round(60 + 40 * p)})`;
    ctx.fillRect(k * cw, top + t * ch, cw - 1, ch - 1);
  }));
  ctx.strokeStyle = "#ff0";
  ctx.strokeRect(0.5, top + (row - 1) * ch + 0.5, 10 * cw - 1, ch - 1);
  bars($("steps-bars"), s.probabilities[row - 1]);
  $("steps-label").textContent =
    `after row ${row}: ${s.label_after_row[row - 1]} · final ${s.label}, settled from row ${s.settled_at_row}`;
}
$("steps-row").addEventListener("input", drawSteps);

// ------------------------------------------------------------------ live view (SSE + MJPEG)

function stages(ms) {
  return Object.entries(ms).map(([k, v]) => `${k} ${Number(v).toFixed(1)} ms`).join(" · ");
}

async function start() {
  const info = await api("/api/info").catch((e) => ({ model: { name: `(${e.message})` } }));
  $("model").textContent = `model ${info.model.name}`;
  if (!info.source) return;
  $("live-section").hidden = false;
  $("live").src = "/api/stream.mjpg";
  const events = new EventSource("/api/events?detail=1");
  events.onmessage = (ev) => {
    const r = JSON.parse(ev.data);
    $("live-text").textContent = r.text || "(no digits)";
    $("live-fps").textContent = `frame ${r.frame} · ${r.fps.toFixed(1)} FPS`;
    $("live-stages").textContent = stages(r.timings_ms);
    $("camera-state").textContent = "live";
    $("camera-state").className = "pill live";
    if (state.followLive) {
      showFocus(r, "live");
      const inputs = r.detail.inputs;
      if (!state.steps && inputs.length) {  // start the row-by-row view on the first live digit
        state.steps = { pending: true };
        loadSteps(inputs[state.selected]);
      }
    }
  };
  events.onerror = () => refreshHealth();
  setInterval(refreshHealth, 3000);
  $("live").addEventListener("click", () => { state.followLive = true; });
}

async function refreshHealth() {
  try {
    const h = await api("/api/health");
    if (!h.camera) return;
    $("camera-state").textContent = h.camera.state + (h.camera.error ? `: ${h.camera.error}` : "");
    $("camera-state").className = "pill" + (h.camera.state === "live" ? " live" : h.camera.error ? " bad" : "");
  } catch (e) {
    $("camera-state").textContent = "server unreachable";
    $("camera-state").className = "pill bad";
  }
}

// ------------------------------------------------------------------ upload

async function upload(file) {
  $("upload-error").textContent = "";
  $("upload-text").textContent = "…";
  const form = new FormData();
  form.append("image", file, file.name);
  try {
    const r = await api("/api/read?detail=1", { method: "POST", body: form });
    $("upload-text").textContent = r.text || "(no digits)";
    $("upload-ms").textContent = `${r.timings_ms.total.toFixed(1)} ms`;
    state.followLive = false;
    showFocus(r, file.name);
    const bitmap = await createImageBitmap(file);
    const c = $("upload-canvas"), scale = Math.min(1, c.width / bitmap.width);
    c.height = Math.round(bitmap.height * scale);
    const ctx = c.getContext("2d");
    ctx.drawImage(bitmap, 0, 0, bitmap.width * scale, bitmap.height * scale);
    ctx.lineWidth = 2;
    ctx.font = "bold 16px sans-serif";
    r.digits.forEach((d) => {
      const [x, y, w, h] = d.box.map((v) => v * scale);
      ctx.strokeStyle = ctx.fillStyle = d.confidence >= 0.5 ? "#0a0" : "#d00";
      ctx.strokeRect(x, y, w, h);
      ctx.fillText(`${d.label} ${d.confidence.toFixed(2)}`, x, Math.max(14, y - 3));
    });
    if (r.detail.inputs.length) loadSteps(r.detail.inputs[state.selected]);
  } catch (e) {
    $("upload-text").textContent = "—";
    $("upload-error").textContent = e.message;
  }
}
$("upload-input").addEventListener("change", (e) => e.target.files[0] && upload(e.target.files[0]));
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  if (e.dataTransfer.files[0]) upload(e.dataTransfer.files[0]);
});

// ------------------------------------------------------------------ drawing (pointer events: mouse, pen, finger)

const pad = $("draw-canvas"), pen = pad.getContext("2d");
function clearPad() {
  pen.fillStyle = "#fff";
  pen.fillRect(0, 0, pad.width, pad.height);
}
clearPad();
let drawing = false;
function at(e) {
  const r = pad.getBoundingClientRect();
  return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
}
pad.addEventListener("pointerdown", (e) => {
  drawing = true;
  pad.setPointerCapture(e.pointerId);
  pen.lineWidth = 18;
  pen.lineCap = pen.lineJoin = "round";
  pen.strokeStyle = "#000";
  pen.beginPath();
  pen.moveTo(...at(e));
});
pad.addEventListener("pointermove", (e) => {
  if (!drawing) return;
  pen.lineTo(...at(e));
  pen.stroke();
});
async function release() {
  if (!drawing) return;
  drawing = false;
  $("draw-error").textContent = "";
  const blob = await new Promise((ok) => pad.toBlob(ok, "image/png"));
  const form = new FormData();
  form.append("image", blob, "drawing.png");
  try {
    const r = await api("/api/read?detail=1", { method: "POST", body: form });
    $("draw-text").textContent = r.text || "(no digit)";
    state.followLive = false;
    state.selected = 0;
    showFocus(r, "drawing");
    if (r.detail.inputs.length) loadSteps(r.detail.inputs[0]);
  } catch (e) {
    $("draw-error").textContent = e.message;
  }
}
pad.addEventListener("pointerup", release);
pad.addEventListener("pointercancel", release);
$("draw-clear").addEventListener("click", () => { clearPad(); $("draw-text").textContent = "…"; });

start();
