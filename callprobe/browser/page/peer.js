// The test peer: a browser that calls and answers through the backend's own
// signaling with its own WebRTC stack (docs/peers.md#the-test-page).
//
// Two ways to drive it: a person, with the form on the page; or callprobe,
// which calls window.cp.* and listens through window.callprobeReport. Every
// event goes to both: the log on the page and, when callprobe drives the
// page, the run's timeline. Event kinds and fields are those of
// callprobe/timeline/events.py.
"use strict";

import { KkimClient } from "./kkim.js";

const BACKENDS = { kkim: KkimClient };
const $ = (id) => document.getElementById(id);

const state = {
  cfg: null,            // {family, wsUrl, userId, platformId, token, nickname, media, iceServers, hostAddresses, relayOnly, requestTimeoutMs}
  client: null,
  ringing: [],          // [{room, peer, media}]
  legs: new Map(),      // room -> leg
  waiters: [],
};

function now() { return performance.timeOrigin + performance.now(); }

function report(kind, fields) {
  const event = { kind, at_ms: now(), ...fields };
  if (typeof window.callprobeReport === "function") window.callprobeReport(event).catch(() => {});
  const log = $("log");
  if (log) {
    const line = document.createElement("div");
    const when = new Date(event.at_ms).toISOString().slice(11, 23);
    const rest = Object.entries(fields).filter(([, v]) => v !== "" && v !== null && v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(" ");
    line.textContent = `${when} ${kind} ${rest}`;
    line.className = `ev ev-${kind}`;
    log.prepend(line);
  }
}

function wake() { for (const w of state.waiters.splice(0)) w(); }

function waitFor(pred, ms, what) {
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`${what}: nothing within ${ms / 1000} s (setting request_timeout_s)`)), ms);
    const check = () => {
      const found = pred();
      if (found) { clearTimeout(deadline); resolve(found); } else state.waiters.push(check);
    };
    check();
  });
}

// ------------------------------------------------------------ notices

function onNotice(kind, data) {
  if (kind === "ringing") {
    state.ringing.push(data);
    showRinging();
  } else if (kind === "answered") {
    const leg = state.legs.get(data.room);
    if (leg && leg.role === "caller" && !leg.pc) startCaller(leg, data.peer).catch((e) => failed(leg, e));
  } else if (["rejected", "cancelled", "hung_up", "call_timeout"].includes(kind)) {
    state.ringing = state.ringing.filter((r) => r.room !== data.room);
    const leg = state.legs.get(data.room);
    if (leg) endLeg(leg);
    showRinging();
  } else if (kind === "signal_received") {
    const leg = state.legs.get(data.room);
    if (!leg) { report("note", { room_id: data.room, note: "signal_ignored", text: `${data.signalType} for a room with no call leg` }); return; }
    leg.queue = leg.queue.then(() => onSignal(leg, data)).catch((e) => failed(leg, e));
  } else if (kind === "disconnected") {
    for (const leg of state.legs.values()) endLeg(leg);
  }
  wake();
  render();
}

function failed(leg, error) {
  report("note", { room_id: leg.room, note: "reaction_failed", text: String(error && error.message || error) });
}

// ------------------------------------------------------------ WebRTC legs

function allowed(candidate) {
  // keep host candidates on the addresses callprobe was told to use (loopback in tests)
  const list = state.cfg.hostAddresses;
  return !list || !list.length || candidate.type !== "host" || list.includes(candidate.address);
}

async function newLeg(room, peer, media, role) {
  const leg = { room, peer, media, role, pc: null, remoteSet: false, pending: [], queue: Promise.resolve(), frames: { audio: 0, video: 0 }, first: {}, ended: false };
  state.legs.set(room, leg);
  return leg;
}

async function openPeer(leg) {
  const config = { iceServers: state.cfg.iceServers || [], iceTransportPolicy: state.cfg.relayOnly ? "relay" : "all", bundlePolicy: "max-bundle" };
  const pc = new RTCPeerConnection(config);
  leg.pc = pc;
  report("peer_created", { room_id: leg.room, media: leg.media, ice_servers: (config.iceServers || []).map((s) => ({ urls: [].concat(s.urls), username: s.username || "" })), host_addresses: state.cfg.hostAddresses || null, relay_only: !!state.cfg.relayOnly });
  pc.onicecandidate = (ev) => {
    if (!ev.candidate || !ev.candidate.candidate) return;
    const c = ev.candidate;
    if (!allowed(c)) return;
    report("ice_candidate", { room_id: leg.room, side: "local", type: c.type || "", protocol: c.protocol || "", address: c.address || "", port: c.port || 0, related_address: c.relatedAddress || null });
    state.client.sendSignal(leg.peer, leg.room, "candidate", c.toJSON()).catch((e) => failed(leg, e));
  };
  pc.onicegatheringstatechange = () => report("ice_gathering", { room_id: leg.room, state: pc.iceGatheringState });
  pc.oniceconnectionstatechange = () => report("ice_state", { room_id: leg.room, state: pc.iceConnectionState });
  pc.onconnectionstatechange = () => {
    report("pc_state", { room_id: leg.room, state: pc.connectionState });
    if (pc.connectionState === "connected") { selectedPair(leg); watchMedia(leg); }
  };
  pc.ontrack = (ev) => {
    const video = $("remote");
    if (video && ev.streams[0]) video.srcObject = ev.streams[0];
  };
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: leg.media === "video" });
  leg.stream = stream;
  const local = $("local");
  if (local) local.srcObject = stream;
  for (const track of stream.getTracks()) pc.addTrack(track, stream);
  return pc;
}

async function startCaller(leg, peer) {
  leg.peer = peer || leg.peer;
  const pc = await openPeer(leg);
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  await state.client.sendSignal(leg.peer, leg.room, "offer", { type: "offer", sdp: pc.localDescription.sdp });
}

async function onSignal(leg, data) {
  const type = data.signalType;
  if (type === "candidate") {
    const init = data.data;
    if (!init || !init.candidate) return;  // end of candidates
    if (!leg.remoteSet) { leg.pending.push(init); return; }
    await addRemote(leg, init);
  } else if (type === "offer" && leg.role === "callee") {
    await (leg.opening || (leg.opening = openPeer(leg)));
    await leg.pc.setRemoteDescription(data.data);
    await flush(leg);
    const answer = await leg.pc.createAnswer();
    await leg.pc.setLocalDescription(answer);
    await state.client.sendSignal(leg.peer, leg.room, "answer", { type: "answer", sdp: leg.pc.localDescription.sdp });
  } else if (type === "answer" && leg.role === "caller" && leg.pc) {
    await leg.pc.setRemoteDescription(data.data);
    await flush(leg);
  }
}

async function addRemote(leg, init) {
  const parts = String(init.candidate).split(/\s+/);
  const typ = parts.indexOf("typ");
  report("ice_candidate", { room_id: leg.room, side: "remote", via: "signal", type: typ > 0 ? parts[typ + 1] : "", protocol: (parts[2] || "").toLowerCase(), address: parts[4] || "", port: Number(parts[5] || 0) });
  await leg.pc.addIceCandidate(init);
}

async function flush(leg) {
  leg.remoteSet = true;
  for (const init of leg.pending.splice(0)) await addRemote(leg, init);
}

async function selectedPair(leg) {
  const stats = await leg.pc.getStats();
  let pair = null;
  stats.forEach((s) => { if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId); });
  if (!pair) stats.forEach((s) => { if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair = s; });
  if (!pair) return;
  const local = stats.get(pair.localCandidateId) || {}, remote = stats.get(pair.remoteCandidateId) || {};
  report("selected_pair", { room_id: leg.room, local: local.candidateType || "", remote: remote.candidateType || "", protocol: local.protocol || "", local_address: `${local.address}:${local.port}`, remote_address: `${remote.address}:${remote.port}` });
}

async function figures(leg) {
  const out = { audio_frames: 0, video_frames: 0, audio_packets_sent: 0, audio_bytes_sent: 0, audio_packets_received: 0, audio_packets_lost: 0, video_packets_sent: 0, video_bytes_sent: 0, video_packets_received: 0, video_packets_lost: 0, bytes_sent: 0, bytes_received: 0, packets_lost: 0 };
  if (!leg.pc) return out;
  const stats = await leg.pc.getStats();
  const rtts = [], jitters = [];
  stats.forEach((s) => {
    const k = s.kind;
    if (s.type === "inbound-rtp" && (k === "audio" || k === "video")) {
      out[`${k}_packets_received`] += s.packetsReceived || 0;
      out[`${k}_packets_lost`] += Math.max(0, s.packetsLost || 0);
      out.packets_lost += Math.max(0, s.packetsLost || 0);
      if (typeof s.jitter === "number") { const ms = Math.round(s.jitter * 1e6) / 1e3; out[`${k}_jitter_ms`] = ms; jitters.push(ms); }
      if (k === "video") out.video_frames += s.framesDecoded || 0;
      else {
        // decoded audio in 20 ms blocks: samples received minus those the decoder had to invent
        const codec = stats.get(s.codecId) || {};
        const rate = codec.clockRate || 48000;
        out.audio_frames += Math.floor(Math.max(0, (s.totalSamplesReceived || 0) - (s.concealedSamples || 0)) / (rate * 0.02));
      }
    } else if (s.type === "outbound-rtp" && (k === "audio" || k === "video")) {
      out[`${k}_packets_sent`] += s.packetsSent || 0;
      out[`${k}_bytes_sent`] += s.bytesSent || 0;
    } else if (s.type === "remote-inbound-rtp" && typeof s.roundTripTime === "number") {
      const ms = Math.round(s.roundTripTime * 1e6) / 1e3;
      out[`${k}_rtt_ms`] = ms; rtts.push(ms);
      out[`${k}_remote_packets_lost`] = Math.max(0, s.packetsLost || 0);
    } else if (s.type === "transport") {
      out.bytes_sent += s.bytesSent || 0;
      out.bytes_received += s.bytesReceived || 0;
    }
  });
  out.rtt_ms = rtts.length ? Math.min(...rtts) : null;
  out.jitter_ms = jitters.length ? Math.max(...jitters) : null;
  leg.frames = { audio: out.audio_frames, video: out.video_frames };
  return out;
}

function watchMedia(leg) {
  const kinds = leg.media === "video" ? ["audio", "video"] : ["audio"];
  leg.watch = setInterval(async () => {
    if (leg.ended) { clearInterval(leg.watch); return; }
    await figures(leg);
    for (const k of kinds) {
      if (!leg.first[k] && leg.frames[k] > 0) { leg.first[k] = true; report("media_first_frame", { room_id: leg.room, media: k }); }
    }
    if (kinds.every((k) => leg.first[k])) clearInterval(leg.watch);
  }, 100);
}

async function takeStats(leg) {
  if (!leg.pc || leg.statsTaken) return;
  leg.statsTaken = true;
  report("media_stats", { room_id: leg.room, ...(await figures(leg)) });
}

async function endLeg(leg) {
  if (leg.ended) return;
  leg.ended = true;
  clearInterval(leg.watch);
  await takeStats(leg).catch(() => {});
  if (leg.pc) {
    leg.pc.close();
    report("peer_closed", { room_id: leg.room, clean: true, frames: leg.frames });
  }
  if (leg.stream) for (const t of leg.stream.getTracks()) t.stop();
  render();
}

// ------------------------------------------------------------ the API callprobe drives

function ringingCall(room) {
  return state.ringing.slice().reverse().find((r) => !room || r.room === room);
}

function activeLeg(room, role) {
  return [...state.legs.values()].reverse().find((l) => !l.ended && (!role || l.role === role) && (!room || l.room === room));
}

const api = {
  configure(cfg) { state.cfg = cfg; render(); return true; },

  async connect() {
    if (state.client && state.client.connected) return true;
    const Backend = BACKENDS[state.cfg.family || "kkim"];
    if (!Backend) throw new Error(`the test page does not speak ${state.cfg.family}`);
    state.client = new Backend(state.cfg, report, onNotice);
    await state.client.connect();
    render();
    return true;
  },

  async disconnect() { if (state.client) state.client.close(); render(); return true; },

  async invite(users, media, timeoutS) {
    const r = await state.client.invite(users, media, timeoutS);
    if (r.refused) return r;
    await newLeg(r.roomID, users[0], media, "caller");
    render();
    return r;
  },

  async accept(room) {
    const ring = await waitFor(() => ringingCall(room), state.cfg.requestTimeoutMs || 5000, "accept: no ringing call");
    state.ringing = state.ringing.filter((r) => r !== ring);
    const leg = await newLeg(ring.room, ring.peer, ring.media === "audio" ? "audio" : "video", "callee");
    // the callee prepares its peer connection (camera, microphone) as it accepts; the offer waits for it
    leg.opening = openPeer(leg);
    leg.opening.catch((e) => failed(leg, e));
    await state.client.act("accept", ring.room);
    render();
    return ring.room;
  },

  async reject(room) {
    const ring = await waitFor(() => ringingCall(room), state.cfg.requestTimeoutMs || 5000, "reject: no ringing call");
    state.ringing = state.ringing.filter((r) => r !== ring);
    await state.client.act("reject", ring.room);
    render();
    return ring.room;
  },

  async cancel(room) {
    const leg = activeLeg(room, "caller");
    if (!leg) throw new Error("no call to cancel");
    await state.client.act("cancel", leg.room);
    await endLeg(leg);
    return leg.room;
  },

  async hangup(room) {
    const leg = activeLeg(room);
    if (!leg) throw new Error("no active call to hang up");
    await takeStats(leg);
    await state.client.act("hungUp", leg.room);
    await endLeg(leg);
    return leg.room;
  },

  async sendText(user, text) { await state.client.sendText(user, text); return true; },

  async releaseCalls() {
    for (const leg of [...state.legs.values()]) {
      if (leg.ended || !state.client || !state.client.connected) continue;
      const answered = leg.role === "callee" || !!leg.pc;
      await state.client.act(answered ? "hungUp" : "cancel", leg.room).catch(() => {});
      await endLeg(leg);
    }
    return true;
  },

  async close() {
    for (const leg of [...state.legs.values()]) await endLeg(leg);
    if (state.client) state.client.close();
    return true;
  },
};

window.cp = api;

// ------------------------------------------------------------ the page for people

function render() {
  const status = $("status");
  if (!status) return;
  const c = state.client;
  status.textContent = c && c.connected ? `connected as ${state.cfg.userId}` : "not connected";
  const active = activeLeg();
  $("hangup").disabled = !active;
  $("call").disabled = !(c && c.connected);
}

function showRinging() {
  const box = $("ringing");
  if (!box) return;
  const ring = ringingCall();
  box.hidden = !ring;
  if (ring) $("ringing-text").textContent = `${ring.peer} is calling (${ring.media || "video"})`;
}

async function fromForm() {
  const user = $("user").value.trim();
  const platform = Number($("platform").value || 5);
  let token = $("token").value.trim();
  if (!token) {
    const reply = await fetch("login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ user_id: user, platform_id: platform }) });
    const body = await reply.json();
    if (!reply.ok) throw new Error(body.error || `login failed: HTTP ${reply.status}`);
    token = body.token;
  }
  const ice = $("ice").value.trim();
  return { family: $("family").value || "kkim", wsUrl: $("server").value.trim(), userId: user, platformId: platform, token, nickname: user, iceServers: ice ? JSON.parse(ice) : [], requestTimeoutMs: 5000 };
}

async function guard(work) {
  try { await work(); } catch (e) { report("note", { note: "page_error", text: String(e && e.message || e) }); }
  render();
}

async function setUp() {
  if (!$("connect")) return;
  try {
    const reply = await fetch("config");
    if (reply.ok) {
      const cfg = await reply.json();
      if (cfg.server) $("server").value = cfg.server;
      if (cfg.family) $("family").value = cfg.family;
      $("login-hint").textContent = cfg.login ? "leave the token empty: this server issues one" : "paste a token for this user";
    }
  } catch (e) { /* a page opened from elsewhere */ }
  $("connect").onclick = () => guard(async () => { api.configure(await fromForm()); await api.connect(); });
  $("disconnect").onclick = () => guard(() => api.disconnect());
  $("call").onclick = () => guard(() => api.invite([$("callee").value.trim()], $("media").value, 60));
  $("accept").onclick = () => guard(async () => { await api.accept(); showRinging(); });
  $("reject").onclick = () => guard(async () => { await api.reject(); showRinging(); });
  $("hangup").onclick = () => guard(async () => { const leg = activeLeg(); if (leg && !leg.pc && leg.role === "caller") await api.cancel(); else await api.hangup(); });
  render();
}

setUp();
