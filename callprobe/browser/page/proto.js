// The few protobuf messages the test page needs, encoded and decoded by hand.
//
// proto3 wire format: each field is a tag (field number << 3 | wire type)
// then a varint (type 0) or a length and bytes (type 2). Numbers stay below
// 2^53 (times in ms, seqs), so plain arithmetic is enough, never 32-bit
// bit operations. Field numbers are those of proto/openim/*.proto, as
// docs/backends/kkim.md#protobuf-payloads lists them.
"use strict";

const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

export class Writer {
  constructor() { this.parts = []; }
  varint(n) {
    let v = Math.max(0, Math.floor(Number(n)));
    const out = [];
    while (v >= 128) { out.push((v % 128) + 128); v = Math.floor(v / 128); }
    out.push(v);
    this.parts.push(Uint8Array.from(out));
    return this;
  }
  tag(field, wire) { return this.varint(field * 8 + wire); }
  int(field, n) { if (n) { this.tag(field, 0).varint(n); } return this; }
  bool(field, b) { if (b) { this.tag(field, 0).varint(1); } return this; }
  bytes(field, data) {
    if (data && data.length) { this.tag(field, 2).varint(data.length); this.parts.push(data); }
    return this;
  }
  str(field, s) { return s ? this.bytes(field, utf8.encode(String(s))) : this; }
  strs(field, list) { for (const s of list || []) { this.tag(field, 2); const b = utf8.encode(String(s)); this.varint(b.length); this.parts.push(b); } return this; }
  msg(field, writer) { if (writer) { const b = writer.finish(); this.tag(field, 2).varint(b.length); this.parts.push(b); } return this; }
  finish() {
    const size = this.parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(size);
    let at = 0;
    for (const p of this.parts) { out.set(p, at); at += p.length; }
    return out;
  }
}

// Every field of one message: number -> list of values (a Number for varints, bytes otherwise).
export function fields(bytes) {
  const out = new Map();
  let i = 0;
  const varint = () => {
    let v = 0, scale = 1, b;
    do {
      if (i >= bytes.length) throw new Error("truncated varint");
      b = bytes[i++];
      v += (b % 128) * scale;
      scale *= 128;
    } while (b >= 128);
    return v;
  };
  while (i < bytes.length) {
    const key = varint();
    const field = Math.floor(key / 8), wire = key % 8;
    let value;
    if (wire === 0) value = varint();
    else if (wire === 2) { const n = varint(); value = bytes.subarray(i, i + n); i += n; }
    else if (wire === 1) { value = bytes.subarray(i, i + 8); i += 8; }
    else if (wire === 5) { value = bytes.subarray(i, i + 4); i += 4; }
    else throw new Error("unknown wire type " + wire);
    if (!out.has(field)) out.set(field, []);
    out.get(field).push(value);
  }
  return out;
}

export const text = (f, n) => (f.get(n) ? utf8d.decode(f.get(n).at(-1)) : "");
export const texts = (f, n) => (f.get(n) || []).map((b) => utf8d.decode(b));
export const num = (f, n) => (f.get(n) ? Number(f.get(n).at(-1)) : 0);
export const sub = (f, n) => (f.get(n) ? fields(f.get(n).at(-1)) : null);
export const raw = (f, n) => (f.get(n) ? f.get(n).at(-1) : new Uint8Array());

// ---- openim.rtc

// InvitationInfo: 1 inviterUserID, 2 inviteeUserIDList, 5 roomID, 6 timeout, 7 mediaType,
// 8 platformID, 9 sessionType, 10 initiateTime, 11 busyLineUserIDList
export function invitation(inv) {
  return new Writer().str(1, inv.inviter).strs(2, inv.invitees).str(4, inv.groupID).str(5, inv.roomID)
    .int(6, inv.timeout).str(7, inv.media).int(8, inv.platformID).int(9, inv.sessionType || 1)
    .int(10, inv.initiateTime);
}

export function readInvitation(f) {
  if (!f) return null;
  return {
    inviter: text(f, 1), invitees: texts(f, 2), roomID: text(f, 5), timeout: num(f, 6), media: text(f, 7),
    platformID: num(f, 8), sessionType: num(f, 9), initiateTime: num(f, 10), busy: texts(f, 11),
  };
}

// ParticipantMetaData: 3 userInfo (PublicUserInfo: 1 userID, 2 nickname)
const participant = (user, nickname) => new Writer().msg(3, new Writer().str(1, user).str(2, nickname || user));

// SignalReq oneof: 1 invite, 3 cancel, 4 accept, 5 hungUp, 6 reject
export const SIGNAL_FIELD = { invite: 1, inviteInGroup: 2, cancel: 3, accept: 4, hungUp: 5, reject: 6 };
export const SIGNAL_NAME = Object.fromEntries(Object.entries(SIGNAL_FIELD).map(([k, v]) => [v, k]));

export function signalReq(action, inv, me) {
  const inner = new Writer().msg(1, invitation(inv));
  if (action === "invite") {
    inner.msg(2, new Writer().str(1, "incoming call").str(2, `${inv.media} call from ${me.nickname || me.user}`))
      .msg(3, participant(me.user, me.nickname)).str(4, me.user);
  } else if (action === "accept" || action === "reject") {
    inner.msg(3, participant(me.user, me.nickname)).int(4, me.platformID).str(5, me.user);
  } else if (action === "cancel") {
    inner.msg(3, participant(me.user, me.nickname)).str(4, me.user);
  } else if (action === "hungUp") {
    inner.str(3, me.user);
  }
  return new Writer().msg(SIGNAL_FIELD[action], inner).finish();
}

// SignalResp: which oneof, and the roomID / busy list an invite or accept reply carries.
export function readSignalResp(bytes) {
  const f = fields(bytes);
  for (const [n, name] of Object.entries(SIGNAL_NAME)) {
    if (f.has(Number(n))) {
      const inner = fields(raw(f, Number(n)));
      return { action: name, roomID: text(inner, 2), busy: name === "invite" ? texts(inner, 4) : [] };
    }
  }
  return null;
}

// A 1601 content: a bare SignalInviteReq (KKIM) or a whole SignalReq (OpenIM v2 semantics).
// Both start with tag 0x0A: keep the reading whose invitation is sane.
export function readCallNotice(bytes) {
  const sane = (inv) => inv && inv.inviter && inv.roomID && inv.timeout >= 0 && inv.timeout <= 86400
    && ["", "audio", "video"].includes(inv.media);
  try {
    const bare = fields(bytes);
    const inv = readInvitation(sub(bare, 1));
    if (sane(inv)) return { action: "invite", dialect: "bare-SignalInviteReq", invitation: inv, userID: text(bare, 4) };
  } catch (e) { /* try the other dialect */ }
  try {
    const wrapper = fields(bytes);
    for (const [n, name] of Object.entries(SIGNAL_NAME)) {
      if (!wrapper.has(Number(n))) continue;
      const inner = fields(raw(wrapper, Number(n)));
      const inv = readInvitation(sub(inner, 1));
      if (sane(inv)) {
        const user = name === "accept" || name === "reject" ? text(inner, 5) : name === "hungUp" ? text(inner, 3) : text(inner, 4);
        return { action: name, dialect: "SignalReq-wrapper", invitation: inv, userID: user };
      }
    }
  } catch (e) { /* neither */ }
  return null;
}

// ---- openim.sdkws

// MsgData: 1 sendID, 2 recvID, 4 clientMsgID, 6 senderPlatformID, 7 senderNickname, 9 sessionType,
// 10 msgFrom, 11 contentType, 12 content, 14 seq, 15 sendTime, 16 createTime, 17 status, 23 ex
export function msgData(m) {
  return new Writer().str(1, m.sendID).str(2, m.recvID).str(4, m.clientMsgID).int(6, m.platformID)
    .str(7, m.nickname).int(9, 1).int(10, 100).int(11, m.contentType).bytes(12, m.content)
    .int(16, m.createTime).int(17, 1).finish();
}

export function readMsgData(f) {
  return {
    sendID: text(f, 1), recvID: text(f, 2), clientMsgID: text(f, 4), contentType: num(f, 11),
    content: raw(f, 12), seq: num(f, 14), sendTime: num(f, 15), status: num(f, 17), ex: text(f, 23),
  };
}

// PushMessages: 1 msgs, 2 notificationMsgs, each map<string, PullMsgs{1 Msgs}>
export function readPush(bytes) {
  const f = fields(bytes);
  const out = [];
  for (const n of [1, 2]) {
    for (const entry of f.get(n) || []) {
      const e = fields(entry);
      const conv = text(e, 1);
      const pulled = sub(e, 2);
      for (const m of (pulled && pulled.get(1)) || []) out.push({ conversation: conv, ...readMsgData(fields(m)) });
    }
  }
  return out;
}
