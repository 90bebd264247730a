// The voice page: one websocket session with the backend (/ws/{user_id}/{session_id}),
// microphone -> client_audio_append (PCM16 16 kHz, 32 ms chunks), agent audio deltas played
// back to back, both sides' transcripts, interrupt, errors. Plain JS, no build step.
"use strict";

const TARGET_RATE = 16000;
const CHUNK_SAMPLES = 512; // 32 ms at 16 kHz

// What the browser test reads (tests/test_realtime_browser.py); harmless for a person.
const voiceTest = (window.voiceTest = {
  events: {}, // type -> count received
  audioDeltasScheduled: 0,
  audioSecondsScheduled: 0,
  underruns: 0, // chunks of one answer that found the playback queue already empty
  micChunksSent: 0,
  bargeIns: 0,
  userTranscripts: [],
  agentTranscripts: [],
  errors: [],
  closed: null,
});

const $ = (id) => document.getElementById(id);
const ui = {
  name: $("agent-name"), status: $("status"), transcript: $("transcript"), errors: $("errors"),
  mic: $("mic"), interrupt: $("interrupt"), form: $("text-form"), text: $("text"), send: $("send"),
};

const randomId = () =>
  window.crypto && crypto.randomUUID ? crypto.randomUUID().replaceAll("-", "")
    : Math.random().toString(36).slice(2) + Date.now().toString(36);
const userId = localStorage.getItem("voice-user-id") || randomId();
localStorage.setItem("voice-user-id", userId);
const sessionId = randomId(); // fresh per page load: a second tab is a second session

let ws = null;
let agentName = "Agent";
let audioCtx = null;
let mic = null; // {stream, source, node}
let playhead = 0; // when the next audio delta starts, in audioCtx time
let lastPlayed = null; // the response whose audio was scheduled last
const playing = new Set();
const openResponses = new Set(); // response ids created and not done yet
const cancelled = new Set(); // response ids whose remaining audio is dropped
const turns = new Map(); // "user:<item_id>" | "agent:<response_id>" -> element

// -- websocket -------------------------------------------------------------------------------
function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  ws = new WebSocket(`${scheme}//${location.host}/ws/${userId}/${sessionId}`);
  ws.onopen = () => {
    setStatus("starting the agent…");
    send({ type: "client_session_create", config: { user_name: "User" } });
  };
  ws.onmessage = (message) => {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch (err) {
      return showError("the server sent a message that is not JSON");
    }
    voiceTest.events[event.type] = (voiceTest.events[event.type] || 0) + 1;
    const handler = handlers[event.type];
    if (handler) handler(event);
  };
  ws.onclose = (close) => {
    voiceTest.closed = { code: close.code, reason: close.reason };
    setStatus(`disconnected (${close.code}${close.reason ? ": " + close.reason : ""})`);
    stopMic();
    setEnabled(false);
  };
}

function send(event) {
  if (ws && ws.readyState === WebSocket.OPEN) {
    ws.send(JSON.stringify(event));
    return true;
  }
  return false;
}

const handlers = {
  agent_ready(e) {
    agentName = e.agent_name;
    ui.name.textContent = agentName;
    document.title = `${agentName} · voice`;
    setStatus("ready: press the mic button and talk");
    setEnabled(true);
  },
  agent_ended() {
    setStatus("the agent has ended");
    stopMic();
    setEnabled(false);
  },
  server_session_ended(e) {
    setStatus(`session ended${e.reason ? ": " + e.reason : ""}`);
  },
  agent_error(e) {
    voiceTest.errors.push(e);
    showError(`${e.error_type}: ${e.message}`);
  },
  agent_input_started() {
    // Barge-in: the user talks over the answer. The model stops it (server VAD); what is
    // still queued or on its way of that answer is not played.
    if (openResponses.size) voiceTest.bargeIns += 1;
    for (const id of openResponses) cancelled.add(id);
    stopPlayback();
  },
  agent_input_transcription_delta(e) {
    appendTurn("user", e.item_id, e.delta);
  },
  agent_input_transcription_done(e) {
    setTurn("user", e.item_id, e.transcript);
    voiceTest.userTranscripts.push(e.transcript);
  },
  agent_response_created(e) {
    openResponses.add(e.response_id);
  },
  agent_response_audio_transcript_delta(e) {
    appendTurn("agent", e.response_id, e.delta);
  },
  agent_response_audio_transcript_done(e) {
    const el = setTurn("agent", e.response_id, e.transcript);
    voiceTest.agentTranscripts.push(el.dataset.text);
  },
  agent_response_audio_delta(e) {
    if (!cancelled.has(e.response_id)) {
      play(e.delta, (e.format || {}).sample_rate || 24000, e.response_id);
    }
  },
  agent_response_done(e) {
    openResponses.delete(e.response_id);
    const el = turns.get(`agent:${e.response_id}`);
    if (el && e.metadata && e.metadata.status === "cancelled") el.classList.add("cancelled");
  },
  agent_response_tool_result(e) {
    const result = e.tool_result || {};
    appendTurn("agent", `tool:${result.id}`, `[${result.name}] ${stringify(result.output)}`);
  },
};

// -- transcripts -----------------------------------------------------------------------------
function turn(side, key) {
  let el = turns.get(`${side}:${key}`);
  if (!el) {
    el = document.createElement("div");
    el.className = `turn ${side} pending`;
    el.dataset.text = "";
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = side === "user" ? "You" : agentName;
    const text = document.createElement("span");
    text.className = "text";
    el.append(who, text);
    ui.transcript.append(el);
    turns.set(`${side}:${key}`, el);
  }
  return el;
}

function appendTurn(side, key, delta) {
  const el = turn(side, key);
  el.dataset.text += delta;
  el.querySelector(".text").textContent = el.dataset.text;
  el.scrollIntoView({ block: "end" });
}

function setTurn(side, key, text) {
  const el = turn(side, key);
  if (text) el.dataset.text = text;
  el.querySelector(".text").textContent = el.dataset.text;
  el.classList.remove("pending");
  return el;
}

// -- playback --------------------------------------------------------------------------------
function ensureAudio() {
  if (!audioCtx) audioCtx = new AudioContext();
  if (audioCtx.state === "suspended") audioCtx.resume();
  return audioCtx;
}

function play(base64, sampleRate, responseId) {
  const ctx = ensureAudio();
  const pcm = base64ToInt16(base64);
  if (!pcm.length) return;
  const buffer = ctx.createBuffer(1, pcm.length, sampleRate);
  const samples = buffer.getChannelData(0);
  for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i] / 32768;
  const source = ctx.createBufferSource();
  source.buffer = buffer;
  source.connect(ctx.destination);
  // Back to back: each chunk starts where the previous one ends (a little ahead of now when
  // the queue ran dry), so the answer plays without gaps or overlaps.
  const dry = playhead < ctx.currentTime;
  if (dry && responseId === lastPlayed) voiceTest.underruns += 1;
  lastPlayed = responseId;
  playhead = Math.max(playhead, ctx.currentTime + 0.05);
  source.start(playhead);
  playhead += buffer.duration;
  playing.add(source);
  source.onended = () => playing.delete(source);
  voiceTest.audioDeltasScheduled += 1;
  voiceTest.audioSecondsScheduled += buffer.duration;
}

function stopPlayback() {
  for (const source of playing) {
    try {
      source.stop();
    } catch (err) { /* not started yet or already ended */ }
  }
  playing.clear();
  playhead = 0;
  lastPlayed = null;
}

function interrupt() {
  for (const id of openResponses) cancelled.add(id);
  stopPlayback();
  send({ type: "client_response_cancel", session_id: sessionId });
}

// -- microphone ------------------------------------------------------------------------------
async function startMic() {
  if (!window.isSecureContext || !navigator.mediaDevices) {
    // Browsers give the microphone (and AudioWorklet) only to https and loopback pages.
    return showError("the microphone needs https or a loopback address (127.0.0.1, localhost)");
  }
  const ctx = ensureAudio();
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true },
    });
    await ctx.audioWorklet.addModule("/static/capture-worklet.js");
    const source = ctx.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(ctx, "pcm-capture", {
      processorOptions: { targetRate: TARGET_RATE, chunkSamples: CHUNK_SAMPLES },
    });
    node.port.onmessage = (msg) => {
      const sent = send({
        type: "client_audio_append",
        session_id: sessionId,
        audio: bytesToBase64(new Uint8Array(msg.data)),
        format: { encoding: "pcm16", sample_rate: TARGET_RATE },
      });
      if (sent) voiceTest.micChunksSent += 1;
    };
    source.connect(node);
    node.connect(ctx.destination); // the node writes silence; connected so it is pulled
    mic = { stream, source, node };
    ui.mic.setAttribute("aria-pressed", "true");
    ui.mic.textContent = "● Stop talking";
    setStatus("listening…");
  } catch (err) {
    showError(`microphone: ${err.message || err}`);
  }
}

function stopMic() {
  if (!mic) return;
  mic.source.disconnect();
  mic.node.disconnect();
  mic.node.port.onmessage = null;
  for (const track of mic.stream.getTracks()) track.stop();
  mic = null;
  ui.mic.setAttribute("aria-pressed", "false");
  ui.mic.textContent = "● Start talking";
}

// -- helpers ---------------------------------------------------------------------------------
function base64ToInt16(base64) {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length - (binary.length % 2));
  for (let i = 0; i < bytes.length; i++) bytes[i] = binary.charCodeAt(i);
  return new Int16Array(bytes.buffer); // PCM16 little-endian, as every browser is
}

function bytesToBase64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function stringify(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function setStatus(text) {
  ui.status.textContent = text;
}

function showError(text) {
  const el = document.createElement("div");
  el.className = "error";
  el.textContent = text; // never innerHTML: messages come from the model
  ui.errors.append(el);
}

function setEnabled(on) {
  for (const el of [ui.mic, ui.interrupt, ui.text, ui.send]) el.disabled = !on;
}

ui.mic.addEventListener("click", () => (mic ? stopMic() : startMic()));
ui.interrupt.addEventListener("click", interrupt);
ui.form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = ui.text.value.trim();
  if (!text) return;
  ensureAudio(); // a click: the browser lets the answer play
  const key = `text-${randomId()}`;
  setTurn("user", key, text);
  if (send({ type: "client_text_append", session_id: sessionId, text })) ui.text.value = "";
});

connect();
