// The Studio page: the runs list, one run, and live updates from /api/events (SSE).
// Everything shown is set as text (never as HTML): names and messages come from runs.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { runId: null, messages: new Map(), invocations: [] };
// For the browser test: what arrived and when (performance.now()).
window.studioTest = { events: 0, chunks: [], usageRows: 0, errors: [] };

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

async function getJSON(url) {
  const res = await fetch(url, { cache: "no-store" });
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return res.json();
}

function renderRuns(runs) {
  const body = $("#runs tbody");
  body.replaceChildren();
  $("#no-runs").hidden = runs.length > 0;
  for (const run of runs) {
    const row = el("tr");
    row.dataset.id = run.id;
    if (run.id === state.runId) row.classList.add("selected");
    row.append(el("td", run.name || run.id), el("td", run.timestamp || ""),
      el("td", run.status || "", `status-${run.status}`), el("td", (run.models || []).join(", ")),
      el("td", run.tokens ?? ""), el("td", run.cost == null ? "–" : run.cost.toFixed(4)));
    row.addEventListener("click", () => { location.hash = `run=${encodeURIComponent(run.id)}`; });
    body.append(row);
  }
}

let runsTimer = null;
// The list reads every run in the save directory: at most once per `delay` ms while pushes
// arrive (a run's status at once, its tokens after invocations within 3 s).
function refreshRuns(delay = 500) {
  if (runsTimer) return;
  runsTimer = setTimeout(async () => {
    runsTimer = null;
    try { renderRuns(await getJSON("/api/runs")); } catch (e) { window.studioTest.errors.push(String(e)); }
  }, delay);
}

function bubble(msg) {
  let node = document.getElementById(`msg-${msg.id}`);
  if (!node) {
    node = el("div", null, "bubble");
    node.id = `msg-${msg.id}`;
    node.append(el("span", "", "who"), el("span", "", "text"));
    $("#transcript").append(node);
  }
  node.classList.toggle("user", msg.role === "user");
  node.classList.toggle("growing", msg.last === false);
  node.querySelector(".who").textContent = `${msg.name}:`;
  node.querySelector(".text").textContent = msg.text;
  if (msg.audio && !node.querySelector("audio")) {
    const audio = el("audio");
    audio.controls = true;
    audio.preload = "none";
    audio.src = `/api/runs/${encodeURIComponent(state.runId)}/audio/${encodeURIComponent(msg.audio)}`;
    node.append(audio);
  }
  return node;
}

function renderUsage(rows) {
  const body = $("#usage tbody");
  body.replaceChildren();
  for (const r of rows) {
    const row = el("tr");
    row.append(el("td", r.config_name), el("td", r.model_name), el("td", r.calls),
      el("td", r.failures ?? 0), el("td", r.prompt_tokens), el("td", r.completion_tokens),
      el("td", r.total_tokens), el("td", r.cost == null ? "–" : r.cost.toFixed(4)));
    body.append(row);
  }
  window.studioTest.usageRows = rows.length;
}

function invocation(record) {
  const box = el("details");
  const model = record.model_name || record.modelName || "";
  const config = record.config_name || record.configName || "";
  const body = el("pre", "");
  const show = (r) => {
    body.textContent = JSON.stringify({ arguments: r.arguments, response: r.response,
      usage: r.usage }, null, 2);
  };
  box.append(el("summary", `${record.timestamp || ""} ${config} (${model})`), body);
  if ("arguments" in record || "response" in record) show(record);
  else {  // a live event: the whole record is fetched when it is opened
    const url = `/api/runs/${encodeURIComponent(state.runId)}/invocations/${record.index}`;
    box.addEventListener("toggle", async () => {
      if (!box.open || body.textContent) return;
      try { show(await getJSON(url)); } catch (e) { window.studioTest.errors.push(String(e)); }
    });
  }
  $("#invocations").append(box);
  $("#inv-count").textContent = `(${$("#invocations").childElementCount})`;
}

function inputBox(item) {
  if (document.getElementById(`in-${item.requestId}`)) return;
  const form = el("form", null, "input-box");
  form.id = `in-${item.requestId}`;
  const field = el("input");
  field.name = "text";
  field.placeholder = item.hint || "Your input";
  form.append(el("span", `${item.agentName || "User"}: `, "who"), field, el("button", "Send"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const res = await fetch(`/api/runs/${encodeURIComponent(state.runId)}/input`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ requestId: item.requestId, text: field.value }) });
    if (res.ok) form.remove(); else window.studioTest.errors.push(`input: ${res.status}`);
  });
  $("#inputs").append(form);
  field.focus();
}

async function openRun(runId) {
  state.runId = runId;
  document.querySelectorAll("#runs tbody tr").forEach(
    (row) => row.classList.toggle("selected", row.dataset.id === runId));
  let run;
  try { run = await getJSON(`/api/runs/${encodeURIComponent(runId)}`); }
  catch (e) { window.studioTest.errors.push(String(e)); return; }
  if (state.runId !== runId) return;
  $("#run-pane").hidden = false;
  $("#run-title").textContent = run.run.name || runId;
  $("#run-meta").textContent = `${runId} · ${run.run.status || ""} · ${run.run.timestamp || ""}`;
  $("#transcript").replaceChildren();
  $("#inputs").replaceChildren();
  $("#invocations").replaceChildren();
  $("#inv-count").textContent = "";
  run.messages.forEach(bubble);
  run.invocations.forEach(invocation);
  (run.inputs || []).forEach(inputBox);
  renderUsage(run.usage);
}

let usageTimer = null;
function refreshUsage() {
  if (usageTimer) return;
  usageTimer = setTimeout(async () => {
    usageTimer = null;
    if (!state.runId) return;
    try { renderUsage(await getJSON(`/api/runs/${encodeURIComponent(state.runId)}/usage`)); }
    catch (e) { window.studioTest.errors.push(String(e)); }
  }, 300);
}

function onEvent(event) {
  const item = JSON.parse(event.data);
  window.studioTest.events += 1;
  if (item.type === "run") refreshRuns();
  else if (item.type === "invocation") refreshRuns(3000);
  if (item.runId !== state.runId) {
    if (item.type === "message" && !state.runId) refreshRuns();
    return;
  }
  if (item.type === "message") {
    bubble(item.data);
    window.studioTest.chunks.push({ id: item.data.id, length: item.data.text.length,
      last: item.data.last, at: performance.now() });
  } else if (item.type === "invocation") {
    invocation(item.data);
    refreshUsage();
  } else if (item.type === "input") inputBox(item.data);
  else if (item.type === "input_done") document.getElementById(`in-${item.data.requestId}`)?.remove();
  else if (item.type === "run") $("#run-meta").textContent = `${item.runId} · ${item.data.status || ""}`;
}

function selectFromHash() {
  const match = /run=([^&]+)/.exec(location.hash);
  if (match) openRun(decodeURIComponent(match[1]));
}

function connect() {
  const source = new EventSource("/api/events");
  source.onopen = () => {
    $("#conn").textContent = "live";
    $("#conn").className = "live";
    refreshRuns();
    if (state.runId) openRun(state.runId);  // what was missed while away
  };
  source.onerror = () => { $("#conn").textContent = "reconnecting…"; $("#conn").className = "muted"; };
  source.onmessage = onEvent;
}

window.addEventListener("hashchange", selectFromHash);
getJSON("/api/runs").then(renderRuns).catch((e) => window.studioTest.errors.push(String(e)));
selectFromHash();
connect();
