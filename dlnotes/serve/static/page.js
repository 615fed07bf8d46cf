// The page of `dlnotes serve`: one form per kind of run, built from GET /info, answered by POST /predict.
// Plain JavaScript, no build step and nothing loaded from elsewhere. Every text that comes from a run
// (class and column names, predictions) is set with textContent, never parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
let runs = [];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

function clearOutput() {
  for (const id of ["prediction", "bars", "plot", "error"]) $(id).replaceChildren();
  $("prediction").className = "";
}

function showError(message) {
  $("error").textContent = message;
}

async function predict(run, body) {
  // body: a JSON request ({inputs: [...]}) or a FormData of image files
  const isForm = body instanceof FormData;
  if (isForm) body.append("run", run.name);
  const response = await fetch("/predict", {
    method: "POST",
    headers: isForm ? {} : { "Content-Type": "application/json" },
    body: isForm ? body : JSON.stringify({ run: run.name, ...body }),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || response.statusText);
  return answer.predictions;
}

async function ask(run, body, show) {
  $("error").textContent = "";
  try {
    show(await predict(run, body));
  } catch (e) {
    clearOutput();
    showError(e.message);
  }
}

function showClasses(p, k = 5) {
  clearOutput();
  $("prediction").textContent = p.prediction;
  const top = Object.entries(p.probabilities).sort((a, b) => b[1] - a[1]).slice(0, k);
  for (const [name, prob] of top) {
    const fill = el("div", { class: "fill" });
    fill.style.width = `${(100 * prob).toFixed(1)}%`; // through the CSSOM: the page's CSP refuses style attributes
    $("bars").append(el("div", { class: "bar", "data-class": name },
      el("span", { class: "name", text: name, title: name }), el("div", { class: "track" }, fill),
      el("span", { text: (100 * prob).toFixed(1) + " %" })));
  }
}

function showAnswer(run) {
  return (predictions) => {
    const p = predictions[0];
    if (run.task === "classification") return showClasses(p);
    clearOutput();
    $("prediction").textContent = Array.isArray(p.prediction) ? p.prediction.join(", ") : String(p.prediction);
  };
}

// -- images: a canvas to draw on, and a file upload ---------------------------------------------------
function imageForm(run) {
  const canvas = el("canvas", { width: 280, height: 280, id: "canvas", "aria-label": "draw a digit here" });
  const ctx = canvas.getContext("2d");
  const clear = () => { ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height); clearOutput(); };
  clear();
  const send = () => canvas.toBlob((blob) => {
    const form = new FormData();
    form.append("file", blob, "drawing.png");
    ask(run, form, showAnswer(run));
  }, "image/png");
  drawWith(canvas, ctx, send);
  const files = el("input", { type: "file", accept: "image/png,image/jpeg", id: "file" });
  files.addEventListener("change", () => {
    if (!files.files.length) return;
    const form = new FormData();
    form.append("file", files.files[0], files.files[0].name);
    ask(run, form, showAnswer(run));
  });
  const size = `${run.input.image_size}x${run.input.image_size}, ${run.input.channels === 1 ? "grey" : "colour"}`;
  return [el("p", { class: "hint", text: `Draw with the mouse (or a finger); the drawing is sent as a PNG and ` +
      `prepared as dlnotes predict prepares a photo (the model reads ${size}).` }),
    canvas, el("button", { type: "button", id: "clear", text: "Clear", onclick: clear }),
    el("button", { type: "button", id: "send", text: "Predict", onclick: send }),
    el("p", {}, el("label", { text: "or a PNG or JPEG file: " }, files))];
}

function drawWith(canvas, ctx, done) {
  let drawing = false;
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height];
  };
  canvas.addEventListener("pointerdown", (e) => {
    drawing = true;
    canvas.setPointerCapture(e.pointerId);
    ctx.strokeStyle = "#000"; ctx.lineWidth = 22; ctx.lineCap = "round"; ctx.lineJoin = "round";
    ctx.beginPath(); ctx.moveTo(...at(e)); ctx.lineTo(...at(e)); ctx.stroke();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!drawing) return;
    ctx.lineTo(...at(e)); ctx.stroke();
  });
  const end = () => { if (drawing) { drawing = false; done(); } };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
}

// -- tables: one field per training column --------------------------------------------------------------
function tableForm(run) {
  const form = el("form", { id: "table" });
  for (const col of run.input.columns) form.append(columnField(col));
  form.append(el("button", { type: "submit", text: "Predict" }));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const row = {};
    for (const col of run.input.columns) row[col.name] = cellValue(col, form.elements[col.name].value);
    ask(run, { inputs: [row] }, showAnswer(run));
  });
  return [el("p", { class: "hint", text: "An empty field is a missing value (the model fills it as training did)." }),
    form];
}

function columnField(col) {
  let input;
  if (col.levels) {
    input = el("select", { name: col.name }, el("option", { value: "", text: "(missing)" }));
    for (const level of col.levels) input.append(el("option", { value: level, text: level }));
    if (col.fill !== null && col.fill !== undefined) input.value = String(col.fill);
  } else {
    const numeric = col.type === "number";
    input = el("input", { name: col.name, type: numeric ? "number" : "text", step: "any",
      placeholder: col.type === "date" ? "2024-01-31" : "" });
    if (numeric && typeof col.fill === "number") input.value = String(col.fill);
  }
  return el("label", { class: "field" }, el("span", { text: `${col.name} (${col.type})` }), input);
}

function cellValue(col, text) {
  if (text.trim() === "") return null;
  return col.type === "number" ? Number(text) : text;
}

// -- series and sequences: numbers pasted into a box ---------------------------------------------------
function numbersIn(text) {
  return text.split(/[\s,;]+/).filter((t) => t !== "").map((t) => (/^(nan|na|null)?$/i.test(t) ? null : Number(t)));
}

function seriesForm(run) {
  const box = el("textarea", { id: "values", rows: 8, placeholder: "values, separated by commas, spaces or lines" });
  const steps = el("input", { id: "steps", type: "number", min: 1, max: 1000, value: run.input.horizon });
  const send = () => {
    const values = numbersIn(box.value);
    ask(run, { inputs: [values], steps: Number(steps.value) || 0 }, (predictions) => {
      clearOutput();
      $("prediction").className = "text";
      $("prediction").textContent = predictions[0].prediction.map((v) => String(v)).join(", ");
      $("plot").append(plot(values.filter((v) => v !== null), predictions[0].prediction));
    });
  };
  return [el("p", { class: "hint", text: `Paste a series (the model reads its last ${run.input.length} values).` }),
    box, el("p", {}, el("label", { text: "steps " }, steps)),
    el("button", { type: "button", id: "send", text: "Forecast", onclick: send })];
}

function plot(history, forecast, width = 520, height = 220) {
  const ns = "http://www.w3.org/2000/svg";
  const shown = history.slice(-200);
  const all = shown.concat(forecast);
  const lo = Math.min(...all), hi = Math.max(...all), span = hi - lo || 1;
  const x = (i) => 30 + (i * (width - 40)) / Math.max(all.length - 1, 1);
  const y = (v) => height - 20 - ((v - lo) * (height - 40)) / span;
  const line = (values, start, cls) => {
    const path = document.createElementNS(ns, "polyline");
    path.setAttribute("points", values.map((v, i) => `${x(start + i)},${y(v)}`).join(" "));
    path.setAttribute("class", cls);
    return path;
  };
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", width); svg.setAttribute("height", height); svg.setAttribute("id", "forecast-plot");
  const axis = document.createElementNS(ns, "line");
  for (const [k, v] of Object.entries({ x1: 30, x2: width - 10, y1: height - 20, y2: height - 20, class: "axis" }))
    axis.setAttribute(k, v);
  svg.append(axis, line(shown, 0, "history"),
    line([shown[shown.length - 1], ...forecast], shown.length - 1, "forecast"));
  for (const [v, yy] of [[hi, 12], [lo, height - 24]]) {
    const t = document.createElementNS(ns, "text");
    t.setAttribute("x", 0); t.setAttribute("y", yy); t.textContent = Number(v.toPrecision(4)).toString();
    svg.append(t);
  }
  return svg;
}

function sequenceForm(run) {
  const { steps, features } = run.input;
  const box = el("textarea", { id: "values", rows: 8,
    placeholder: features === 1 ? `${steps} numbers` : `${steps} lines of ${features} numbers` });
  const send = () => {
    const lines = box.value.trim().split(/\n+/);
    const seq = features === 1 ? numbersIn(box.value) : lines.map(numbersIn);
    ask(run, { inputs: [seq] }, showAnswer(run));
  };
  return [el("p", { class: "hint", text: `A sequence of ${steps} steps of ${features} value(s).` }), box,
    el("button", { type: "button", id: "send", text: "Predict", onclick: send })];
}

// -- text: a prompt to continue ------------------------------------------------------------------------
function textForm(run) {
  const box = el("textarea", { id: "prompt", rows: 5, placeholder: `at least ${run.input.window} characters` });
  const steps = el("input", { id: "steps", type: "number", min: 1, max: 1000, value: 200 });
  const temperature = el("input", { id: "temperature", type: "number", min: 0, max: 1000, step: "any", value: 0.8 });
  const send = () => ask(run, { inputs: [box.value], steps: Number(steps.value) || 0,
    temperature: Number(temperature.value) }, (predictions) => {
    clearOutput();
    $("prediction").className = "text";
    $("prediction").append(box.value, el("span", { class: "continuation", text: predictions[0].prediction }));
  });
  return [el("p", { class: "hint", text: `The model knows ${run.input.vocabulary_size} characters.` }), box,
    el("p", {}, el("label", { text: "characters " }, steps), " ", el("label", { text: "temperature " }, temperature)),
    el("button", { type: "button", id: "send", text: "Continue", onclick: send })];
}

// -- the page ------------------------------------------------------------------------------------------
const FORMS = { image: imageForm, tabular: tableForm, series: seriesForm, sequence: sequenceForm, text: textForm };

function metricsLine(run) {
  const m = run.metrics || {};
  const shown = Object.entries(m)
    .filter(([k, v]) => typeof v === "number" && !Number.isInteger(v) && !k.endsWith("seconds")).slice(0, 5);
  const base = m.baseline ? ` (baseline: ${m.baseline.name})` : "";
  return "test: " + shown.map(([k, v]) => `${k} ${v.toFixed(4)}`).join(", ") + base;
}

function show(run) {
  clearOutput();
  $("about").textContent = `${run.model} on ${run.dataset}, ${run.task}`;
  $("input").replaceChildren(el("h2", { text: "Input" }), ...FORMS[run.input.kind](run));
  $("metrics").textContent = metricsLine(run);
}

async function start() {
  try {
    runs = (await (await fetch("/info")).json()).runs;
  } catch (e) {
    showError(`GET /info failed: ${e.message}`);
    return;
  }
  for (const run of runs) $("run").append(el("option", { value: run.name, text: run.name }));
  const chosen = new URLSearchParams(location.search).get("run");
  if (chosen && runs.some((r) => r.name === chosen)) $("run").value = chosen;
  $("run").addEventListener("change", () => show(runs.find((r) => r.name === $("run").value)));
  show(runs.find((r) => r.name === $("run").value));
  document.body.dataset.ready = "true";
}

start();
