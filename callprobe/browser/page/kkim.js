// The KKIM gateway protocol for the test page (docs/backends/kkim.md), over the browser's WebSocket.
//
// JSON envelopes around protobuf payloads, in binary frames; heartbeats as
// text frames. Requests are matched to replies by msgIncr. Calls use 1004
// SendSignalMsg; SDP and candidates travel as contentType 110 messages
// (1003 SendMsg); invitations arrive as 2001 pushes of contentType 1601, the
// peer's actions as unsolicited 1004 SignalResp frames (or 1601 records).
//
// A backend for the page is one module with this shape: a class taking
// (config, report, notify) with connect(), close(), invite(), act(),
// sendText(), sendSignal() and the `connected` flag. The page (peer.js)
// knows nothing else of the protocol.
"use strict";

import * as pb from "./proto.js";

const SEND_MSG = 1003, SEND_SIGNAL = 1004, PUSH_MSG = 2001, KICK = 2002, LOGOUT = 2003;
const CT_TEXT = 101, CT_CUSTOM = 110, CT_SIGNALING = 1601;
const ACTION_NOTICE = { accept: "answered", reject: "rejected", cancel: "cancelled", hungUp: "hung_up" };
const ACTION_SENT = { accept: "accept_sent", reject: "reject_sent", cancel: "cancel_sent", hungUp: "hangup_sent" };
const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

const hex = (n) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0")).join("");

function b64decode(text) {
  if (!text) return new Uint8Array();
  const std = text.replace(/-/g, "+").replace(/_/g, "/");
  const padded = std + "=".repeat((4 - (std.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

function replyData(data) {
  if (data === null || data === undefined || data === "") return { bytes: new Uint8Array(), form: data === "" ? "empty" : "null" };
  if (Array.isArray(data)) return { bytes: Uint8Array.from(data), form: "array" };
  return { bytes: b64decode(String(data)), form: /[-_]/.test(data) ? "base64url" : "base64" };
}

export class KkimClient {
  // config: {wsUrl, userId, platformId, token, nickname, requestTimeoutMs, heartbeatMs}
  // report(kind, fields): a timeline event; notify(kind, fields): a call notice for the page
  constructor(config, report, notify) {
    this.cfg = config;
    this.report = report;
    this.notify = notify;
    this.ws = null;
    this.incr = 0;
    this.pending = new Map();
    this.calls = new Map();          // roomID -> {invitation, role, ended}
    this.seen = new Set();           // first arrival of an action per room
    this.connected = false;
    this.pings = 0;
  }

  get me() {
    return { user: this.cfg.userId, nickname: this.cfg.nickname || this.cfg.userId, platformID: this.cfg.platformId };
  }

  url() {
    const u = new URL(this.cfg.wsUrl);
    u.searchParams.set("sendID", this.cfg.userId);
    u.searchParams.set("platformID", String(this.cfg.platformId));
    u.searchParams.set("sdkType", "js");
    u.searchParams.set("operationID", hex(16));
    u.searchParams.set("isBackground", "false");
    u.searchParams.set("token", this.cfg.token);
    return u;
  }

  connect() {
    const url = this.url();
    const shown = new URL(url);
    shown.searchParams.set("token", "REDACTED");
    this.report("ws_connecting", { url: shown.toString(), compression: false, data_encoding: "array", transport: "websocket" });
    const opened = performance.now();
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url.toString());
      ws.binaryType = "arraybuffer";
      this.ws = ws;
      let open = false;
      ws.onopen = () => {
        open = true;
        this.connected = true;
        this.report("ws_open", { latency_ms: Math.round((performance.now() - opened) * 1000) / 1000 });
        this.heartbeat = setInterval(() => this.ping(), this.cfg.heartbeatMs || 25000);
        resolve();
      };
      ws.onmessage = (ev) => this.onFrame(ev.data);
      ws.onclose = (ev) => {
        this.connected = false;
        clearInterval(this.heartbeat);
        const by = this.closing ? "client" : "server";
        const explanation = open ? (ev.reason || "connection closed") :
          "the handshake failed: refused by the gateway or unreachable (a browser is not told which)";
        this.report("ws_closed", { code: ev.code, reason: ev.reason, by, explanation });
        for (const [incr, p] of this.pending) { p.reject(new Error(`connection closed (${ev.code}) before the reply to msgIncr ${incr}`)); }
        this.pending.clear();
        if (!open) reject(new Error(`WebSocket handshake with ${shown.origin} failed (close ${ev.code}): ${explanation}`));
        else this.notify("disconnected", { code: ev.code, reason: ev.reason, by });
      };
    });
  }

  close() {
    this.closing = true;
    clearInterval(this.heartbeat);
    if (this.ws && this.ws.readyState <= 1) this.ws.close(1000, "client close");
  }

  ping() {
    if (!this.connected) return;
    this.pings += 1;
    const frame = JSON.stringify({ type: "ping" });
    this.ws.send(frame);
    this.report("heartbeat_sent", { number: this.pings, size: frame.length });
  }

  request(reqIdentifier, data, label) {
    if (!this.connected) return Promise.reject(new Error(`${label}: not connected`));
    this.incr += 1;
    const incr = String(this.incr);
    const env = { reqIdentifier, token: this.cfg.token, sendID: this.cfg.userId, operationID: hex(16), msgIncr: incr, data: Array.from(data) };
    const frame = utf8.encode(JSON.stringify(env));
    this.report("frame_out", { label, req_identifier: reqIdentifier, msg_incr: incr, size: frame.length, encoding: "array", operation_id: env.operationID, over_limit: frame.length > 51200 });
    const sent = performance.now();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(incr);
        this.report("request_timeout", { label, req_identifier: reqIdentifier, msg_incr: incr, setting: "request_timeout_s", seconds: (this.cfg.requestTimeoutMs || 5000) / 1000 });
        reject(new Error(`${label}: no reply within ${(this.cfg.requestTimeoutMs || 5000) / 1000} s (setting request_timeout_s)`));
      }, this.cfg.requestTimeoutMs || 5000);
      this.pending.set(incr, { resolve: (r) => { clearTimeout(timer); r.latency = performance.now() - sent; resolve(r); }, reject: (e) => { clearTimeout(timer); reject(e); } });
      this.ws.send(frame);
    });
  }

  onFrame(data) {
    if (typeof data === "string") {
      let obj = null;
      try { obj = JSON.parse(data); } catch (e) { /* not JSON */ }
      if (obj && obj.type === "pong") this.report("heartbeat_reply", { number: this.pings, form: "text", size: data.length });
      else if (obj && obj.type === "ping") this.ws.send(JSON.stringify({ type: "pong", body: obj.body ?? null }));
      return;
    }
    const bytes = new Uint8Array(data);
    let resp;
    try { resp = JSON.parse(utf8d.decode(bytes)); } catch (e) {
      this.report("note", { note: "frame_undecodable", text: String(e) });
      return;
    }
    const { bytes: payload, form } = replyData(resp.data);
    const incr = resp.msgIncr || "";
    const pending = incr ? this.pending.get(incr) : null;
    const base = { label: String(resp.reqIdentifier), req_identifier: resp.reqIdentifier, msg_incr: incr, size: bytes.length, err_code: resp.errCode || 0, err_msg: resp.errMsg || "", data_form: form };
    if (pending) {
      this.pending.delete(incr);
      this.report("frame_in", base);
      pending.resolve({ errCode: resp.errCode || 0, errMsg: resp.errMsg || "", data: payload, reqIdentifier: resp.reqIdentifier });
      return;
    }
    this.report("frame_in", base);
    if (resp.reqIdentifier === PUSH_MSG) {
      for (const msg of pb.readPush(payload)) this.onMessage(msg);
    } else if (resp.reqIdentifier === SEND_SIGNAL) {
      this.onUnsolicited1004(payload, resp.operationID || "");
    } else if (resp.reqIdentifier === KICK || resp.reqIdentifier === LOGOUT) {
      const by = String(resp.reqIdentifier);
      const words = by === "2002" ? "another login of this user on this platform took the connection" : "the server logged this connection out";
      this.report("kicked", { by, text: words });
      this.notify("kicked", { by });
    }
  }

  // ---- calls

  async invite(users, media, timeoutS) {
    const temp = `tmp_${this.cfg.userId}_${Date.now()}_${hex(3)}`;
    const inv = { inviter: this.cfg.userId, invitees: users, roomID: temp, timeout: timeoutS, media, platformID: this.cfg.platformId, sessionType: 1, initiateTime: Date.now() };
    this.report("invite_sent", { room_id: temp, callees: users, media, timeout_s: timeoutS });
    const resp = await this.request(SEND_SIGNAL, pb.signalReq("invite", inv, this.me), "1004 (SendSignalMsg)");
    const signal = resp.data.length ? pb.readSignalResp(resp.data) : null;
    const busy = signal ? signal.busy : [];
    if (resp.errCode) {
      const list = busy.length ? busy : (resp.errCode === 1802 ? users : []);
      this.report("invite_refused", { room_id: temp, err_code: resp.errCode, err_msg: resp.errMsg, busy: list, busy_from_reply: busy.length > 0 });
      return { refused: true, errCode: resp.errCode, errMsg: resp.errMsg, busy: list };
    }
    const room = (signal && signal.roomID) || temp;
    inv.roomID = room;
    this.calls.set(room, { invitation: inv, role: "inviter", ended: false, opened: performance.now() });
    this.report("invite_acked", { room_id: room, server_room_id: signal ? signal.roomID : "", temp_room_id: temp, busy, adopted: true });
    return { roomID: room, busy };
  }

  async act(action, room) {
    const call = this.calls.get(room);
    const inv = call ? call.invitation : { roomID: room, invitees: [], sessionType: 1 };
    const peer = call ? (call.role === "inviter" ? (inv.invitees[0] || "") : inv.inviter) : "";
    this.report(ACTION_SENT[action], { room_id: room, peer });
    const resp = await this.request(SEND_SIGNAL, pb.signalReq(action, inv, this.me), "1004 (SendSignalMsg)");
    if (resp.errCode) {
      this.report("action_refused", { room_id: room, action, err_code: resp.errCode, err_msg: resp.errMsg });
      throw new Error(`${action} refused: errCode ${resp.errCode} ${resp.errMsg}`);
    }
    const signal = resp.data.length ? pb.readSignalResp(resp.data) : null;
    this.report("action_acked", { room_id: room, action, resp_payload: signal ? signal.action : null });
    if (action !== "accept" && call) call.ended = true;
  }

  async sendMessage(peer, contentType, content, label) {
    const clientMsgID = hex(16);
    const data = pb.msgData({ sendID: this.cfg.userId, recvID: peer, clientMsgID, platformID: this.cfg.platformId, nickname: this.cfg.nickname, contentType, content: utf8.encode(content), createTime: Date.now() });
    const resp = await this.request(SEND_MSG, data, "1003 (SendMsg)");
    if (resp.errCode) {
      this.report("action_refused", { action: label, client_msg_id: clientMsgID, err_code: resp.errCode, err_msg: resp.errMsg });
      throw new Error(`${label} refused: errCode ${resp.errCode} ${resp.errMsg}`);
    }
    this.report("action_acked", { action: label, client_msg_id: clientMsgID });
    return clientMsgID;
  }

  async sendText(peer, text) {
    this.report("text_sent", { to: peer, length: text.length });
    return this.sendMessage(peer, CT_TEXT, JSON.stringify({ text }), "send_text");
  }

  async sendSignal(peer, room, signalType, data) {
    const content = JSON.stringify({ type: "webrtc_signal", signalType, roomID: room, data });
    this.report("signal_sent", { room_id: room, signal_type: signalType, to: peer, form: "webrtc_signal" });
    return this.sendMessage(peer, CT_CUSTOM, content, "send_signal");
  }

  // ---- what the gateway pushes

  onMessage(msg) {
    const own = msg.sendID === this.cfg.userId;
    if (own) { this.report("note", { note: "own_echo", text: `content type ${msg.contentType}` }); return; }
    if (msg.contentType === CT_SIGNALING) this.on1601(msg);
    else if (msg.contentType === CT_CUSTOM) this.onCustom(msg);
    else if (msg.contentType === CT_TEXT) {
      let text = utf8d.decode(msg.content), form = "raw";
      try { const o = JSON.parse(text); if (typeof o.text === "string") { text = o.text; form = "text"; } else if (typeof o.content === "string") { text = o.content; form = "content"; } } catch (e) { /* raw */ }
      this.report("text_received", { from: msg.sendID, client_msg_id: msg.clientMsgID, seq: msg.seq, via: "push", conversation: msg.conversation, form, status: msg.status });
      this.notify("text_received", { peer: msg.sendID, text });
    }
  }

  onCustom(msg) {
    let obj = null;
    try { obj = JSON.parse(utf8d.decode(msg.content)); } catch (e) { return; }
    let form = "webrtc_signal";
    if (obj && obj.type !== "webrtc_signal" && typeof obj.data === "string") {
      try { obj = JSON.parse(obj.data); form = "custom-wrapper"; } catch (e) { return; }
    }
    if (!obj || obj.type !== "webrtc_signal") return;
    this.report("signal_received", { room_id: obj.roomID || "", signal_type: obj.signalType, from: msg.sendID, form, client_msg_id: msg.clientMsgID, seq: msg.seq });
    this.notify("signal_received", { room: obj.roomID || "", peer: msg.sendID, signalType: obj.signalType, data: obj.data });
  }

  on1601(msg) {
    const notice = pb.readCallNotice(msg.content);
    if (!notice) {
      this.report("notice_undecodable", { content_type: CT_SIGNALING, reason: "1601 content is neither a sane SignalInviteReq nor a SignalReq", size: msg.content.length, client_msg_id: msg.clientMsgID, from: msg.sendID });
      return;
    }
    const inv = notice.invitation;
    if (notice.action === "invite" || notice.action === "inviteInGroup") {
      if (inv.invitees.length && !inv.invitees.includes(this.cfg.userId)) return;
      if (this.calls.has(inv.roomID)) return;
      this.calls.set(inv.roomID, { invitation: inv, role: "invitee", ended: false, opened: performance.now() });
      this.report("ringing", { room_id: inv.roomID, inviter: inv.inviter, media: inv.media, dialect: notice.dialect, via: "push_1601", platform: this.cfg.platformId, timeout_s: inv.timeout, seq: msg.seq, invitees: inv.invitees });
      this.notify("ringing", { room: inv.roomID, peer: inv.inviter, media: inv.media || "video" });
      return;
    }
    let reason = "";
    try { reason = JSON.parse(msg.ex || "{}").reason || ""; } catch (e) { /* none */ }
    this.peerAction(notice.action, inv.roomID, "push_1601", notice.userID, notice.dialect, reason);
  }

  onUnsolicited1004(payload, operationID) {
    const signal = payload.length ? pb.readSignalResp(payload) : null;
    if (!signal || !ACTION_NOTICE[signal.action]) return;
    const reason = { "call-timeout": "timeout", "answered-elsewhere": "answered_elsewhere", "call-ended": "ended" }[operationID] || "";
    this.peerAction(signal.action, signal.roomID, "unsolicited_1004", null, "SignalResp", reason);
  }

  peerAction(action, roomID, path, opUser, dialect, reason) {
    let room = roomID, inferred = false;
    if (!room || !this.calls.has(room)) {
      const open = [...this.calls.entries()].filter(([, c]) => !c.ended);
      if (!open.length) return;
      room = open.at(-1)[0];
      inferred = true;
    }
    const key = `${room}/${action}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const call = this.calls.get(room);
    let kind = ACTION_NOTICE[action];
    if ((action === "cancel" || action === "reject") && (reason === "timeout" || opUser === "")) kind = "call_timeout";
    const inv = call.invitation;
    const peer = call.role === "inviter" ? (inv.invitees[0] || "") : inv.inviter;
    const by = kind === "call_timeout" ? "" : (opUser || peer);
    this.report(kind, { room_id: room, path, by, dialect, action, room_inferred: inferred, server_reason: reason });
    if (kind !== "answered") call.ended = true;
    this.notify(kind, { room, peer: by || peer, path });
  }
}
