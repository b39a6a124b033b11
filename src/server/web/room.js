// Confer's browser client: joins a room over PROTOCOL.md exactly as the native client does
// (the newcomer offers, the others answer, trickle ICE, H.264 and Opus), with a grid, mute,
// camera and leave. Plain JavaScript served by `confer serve`: no build step.
"use strict";

const room = document.body.dataset.room;
const query = new URLSearchParams(location.search);
// The token travels in the fragment, which the browser never sends to a server.
const token = new URLSearchParams(location.hash.slice(1)).get("t");
const $ = (id) => document.getElementById(id);

const RECONNECT_TRIES = 8;
// What a person sees for each refusal the server can give (PROTOCOL.md, Errors).
const REFUSALS = {
  "bad-token": "This invite link is not valid or has expired. Ask the person who invited you for a new one.",
  "room-full": "This meeting is full. Try again when someone leaves.",
  version: "This server speaks another version of Confer. Reload the page.",
};

// A random string for our connections (PROTOCOL.md, Confer's additions): it outlives our peer
// id, so a native peer recognises our ICE restarts after the server gave us back our id.
function newSession() {
  return Array.from(crypto.getRandomValues(new Uint8Array(9)), (b) => b.toString(16).padStart(2, "0")).join("");
}

const call = {
  socket: null,
  id: null,
  resume: null,
  iceServers: [],
  session: newSession(),
  names: new Map(),
  stream: new MediaStream(),
  micOn: true,
  cameraOn: true,
  handUp: false,
  name: "",
  peers: new Map(),
  // Our shared screen (getDisplayMedia) while we share.
  share: null,
  left: false,
  refused: null,
  tries: 0,
};
// For tests and curious people: the peer connections and what the page knows.
window.confer = call;

// ---- The lobby ----

$("name").value = (query.get("name") || localStorage.getItem("confer.name") || "").slice(0, 64);
$("open-app").href = "confer://" + location.host + "/" + room +
  (location.protocol === "http:" ? "?insecure=1" : "") + location.hash;
$("join-form").addEventListener("submit", (event) => {
  event.preventDefault();
  join().catch((e) => problem(`Could not join: ${e.message || e}`));
});
$("rejoin").addEventListener("click", () => location.reload());

function problem(text) {
  const p = $("problem");
  p.textContent = text;
  p.hidden = !text;
}

function show(screen) {
  for (const id of ["lobby", "meeting", "left"]) $(id).hidden = id !== screen;
}

async function join() {
  const name = $("name").value.trim();
  if (!name) return problem("Type your name first.");
  if (/[\u0000-\u001f\u007f]/.test(name)) return problem("A name cannot hold control characters.");
  problem("");
  $("join").disabled = true;
  // A second try after a refusal starts clean.
  Object.assign(call, { refused: null, tries: 0, left: false, id: null, resume: null });
  call.name = name;
  localStorage.setItem("confer.name", name);
  call.stream = await openDevices();
  show("meeting");
  addTile("self", `${name} (you)`, call.stream, true);
  updateControls();
  connect();
}

// Camera and microphone when they can be had; a guest without them still sees and hears.
async function openDevices() {
  const video = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
  const audio = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
  for (const want of [{ audio, video }, { audio }, { video }]) {
    try {
      return await navigator.mediaDevices.getUserMedia(want);
    } catch (e) {
      console.warn("getUserMedia", want, e);
    }
  }
  banner("No camera or microphone could be opened: others will not see or hear you.", 8000);
  return new MediaStream();
}

// ---- Signaling ----

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws`);
  call.socket = socket;
  socket.onopen = () => {
    const join = { type: "join", room, name: call.name, v: 1 };
    if (token) join.token = token;
    if (call.resume) join.resume = call.resume;
    send(join);
  };
  let chain = Promise.resolve();
  socket.onmessage = (event) => {
    const message = parsed(event.data, "the server");
    if (message === undefined) return;
    // One at a time, in order: offers and candidates depend on what came before.
    chain = chain.then(() => onMessage(message)).catch((e) => console.error("signaling", message, e));
  };
  socket.onclose = () => {
    if (call.socket !== socket || call.left) return;
    if (call.refused) return refused(call.refused);
    if (call.tries >= RECONNECT_TRIES) return leave("The connection to the meeting server was lost.");
    call.tries += 1;
    const after = Math.min(500 * 2 ** call.tries, 8000);
    banner(`Reconnecting to the meeting server (try ${call.tries})…`);
    setTimeout(() => !call.left && connect(), after);
  };
}

// A frame's JSON, or undefined (said on the console) when it is not JSON.
function parsed(text, from) {
  try {
    return JSON.parse(text);
  } catch {
    console.warn(`not JSON from ${from}`, text);
    return undefined;
  }
}

function send(message) {
  if (call.socket && call.socket.readyState === WebSocket.OPEN) call.socket.send(JSON.stringify(message));
}

function signal(to, data) {
  send({ type: "signal", to, data });
}

async function onMessage(message) {
  switch (message.type) {
    case "welcome": {
      const resumed = message.id === call.id;
      call.tries = 0;
      banner("");
      call.id = message.id;
      call.resume = message.resume;
      call.iceServers = message.ice_servers || [];
      if (message.media) {
        // The room's media goes through an SFU: no offers, Janus instead.
        for (const peer of message.peers) call.names.set(peer.id, peer.name);
        moveMedia(message.media);
      } else if (!resumed) {
        // A new id (the server lost us): everyone is a new peer again, and we are the newcomer.
        // The page keeps no connection across ids, so a new session tells the others not to
        // look for the old ones.
        for (const id of [...call.peers.keys()]) removePeer(id);
        call.session = newSession();
        for (const peer of message.peers) {
          call.names.set(peer.id, peer.name);
          await offerTo(peer.id, peer.name);
        }
      }
      announceMediaState();
      break;
    }
    case "peer-joined":
      // They will offer; our mute state reaches them as a broadcast.
      call.names.set(message.id, message.name);
      announceMediaState();
      adoptWaitingFeeds();
      break;
    case "peer-left":
      removePeer(message.id);
      break;
    case "signal":
      // Past the mesh, a late offer of someone who had not heard of the move is not for us.
      if (call.sfu.route) break;
      await onSignal(message.from, message.data || {});
      break;
    case "broadcast":
      onBroadcast(message.from, message.data || {});
      break;
    case "media":
      moveMedia(message);
      break;
    case "error":
      if (REFUSALS[message.code]) {
        call.refused = REFUSALS[message.code];
      } else {
        console.warn("server error", message.code, message.message);
      }
      break;
    default:
      break;
  }
}

function refused(text) {
  for (const id of [...call.peers.keys()]) removePeer(id);
  for (const track of call.stream.getTracks()) track.stop();
  $("grid").replaceChildren();
  show("lobby");
  $("join").disabled = false;
  problem(text);
}

function announceMediaState() {
  const data = { type: "media-state", audio: call.micOn, video: call.cameraOn };
  // Written only when raised (PROTOCOL.md): a missing hand is a hand down.
  if (call.handUp) data.hand = true;
  send({ type: "broadcast", data });
}

const CHAT_LIMIT = 2000;
let unread = 0;

function addMessage(who, text) {
  const item = document.createElement("li");
  const name = document.createElement("span");
  name.className = "who";
  name.textContent = who;
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text; // as text, never markup: it comes from other people
  item.append(name, body);
  $("messages").append(item);
  item.scrollIntoView({ block: "end" });
  if ($("chat").hidden) {
    unread += 1;
    $("chat-toggle").textContent = `Chat (${unread} new)`;
  }
}

function onChat(from, data) {
  // Control characters other than new lines are dropped, as the native client does.
  const text = String(data.text || "").replace(/[\u0000-\u0009\u000b-\u001f\u007f]/g, "")
    .slice(0, CHAT_LIMIT).trim();
  if (text) addMessage(call.names.get(from) || nameOf(from), text);
}

$("chat-toggle").addEventListener("click", () => {
  const open = $("chat").hidden;
  $("chat").hidden = !open;
  $("chat-toggle").setAttribute("aria-pressed", String(open));
  if (open) {
    unread = 0;
    $("chat-toggle").textContent = "Chat";
    $("chat-text").focus();
  }
});

$("chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("chat-text").value.trim().slice(0, CHAT_LIMIT);
  if (!text) return;
  send({ type: "broadcast", data: { type: "chat", text } });
  addMessage("You", text);
  $("chat-text").value = "";
});

function onBroadcast(from, data) {
  if (data.type === "chat") return onChat(from, data);
  if (data.type !== "media-state") return;
  const peer = call.peers.get(from);
  const state = { audio: data.audio !== false, video: data.video !== false, hand: data.hand === true };
  if (peer) peer.media = state;
  const tile = tileOf(from);
  if (tile) {
    if (state.hand && tile.dataset.hand !== "up") banner(`${nameOf(from)} raised their hand`, 4000);
    tile.dataset.audio = state.audio ? "on" : "off";
    tile.dataset.video = state.video ? "on" : "off";
    tile.dataset.hand = state.hand ? "up" : "down";
  } else {
    // Their tile comes with their connection.
    call.early = call.early || new Map();
    call.early.set(from, state);
  }
}

// ---- Peer connections (the mesh) ----

function newPeer(id, name, offering) {
  call.peers.get(id)?.pc.close();
  const pc = new RTCPeerConnection({ iceServers: call.iceServers, bundlePolicy: "max-bundle" });
  const peer = {
    id, name, pc, offering, media: { audio: true, video: true }, restartTimer: null,
    // Perfect negotiation (PROTOCOL.md): an offer of ours is being made.
    makingOffer: false,
    // The section our shared screen goes on, once added.
    shareTransceiver: null,
  };
  call.peers.set(id, peer);
  addTile(id, name, new MediaStream(), false);
  const early = call.early?.get(id);
  if (early) onBroadcast(id, { type: "media-state", ...early });
  pc.onicecandidate = (event) => signal(id, {
    type: "candidate",
    candidate: event.candidate ? event.candidate.toJSON() : null,
  });
  pc.ontrack = (event) => {
    const tile = tileOf(id);
    if (!tile) return;
    if (event.track.kind === "video") {
      // The first video section is their camera; a later one is a screen they share.
      const camera = pc.getTransceivers().find((t) => t.receiver.track.kind === "video");
      if (camera && event.transceiver !== camera) return showShare(id, event.track);
      tile.querySelector("video").srcObject = new MediaStream([event.track]);
    } else {
      // Audio plays through its own element: a muted <video> would not play it.
      tile.querySelector("audio").srcObject = new MediaStream([event.track]);
    }
  };
  pc.onconnectionstatechange = () => onConnectionState(peer);
  // Later changes (our shared screen) are offered by either side; crossing offers resolve
  // by perfect negotiation (onSignal).
  pc.onnegotiationneeded = async () => {
    if (pc.signalingState !== "stable" || pc.connectionState !== "connected") return;
    try {
      peer.makingOffer = true;
      await pc.setLocalDescription();
      signal(id, { type: "offer", sdp: pc.localDescription.sdp, session: call.session });
    } catch (e) {
      console.warn("renegotiation", e);
    } finally {
      peer.makingOffer = false;
    }
  };
  return peer;
}

function preferH264(transceiver) {
  if (!RTCRtpReceiver.getCapabilities || !transceiver.setCodecPreferences) return;
  const codecs = RTCRtpReceiver.getCapabilities("video").codecs;
  const rank = (c) => {
    if (c.mimeType !== "video/H264") return /rtx|red|ulpfec/i.test(c.mimeType) ? 2 : 3;
    // Constrained Baseline with packetization mode 1 first: what every peer decodes.
    return /profile-level-id=42e01f/.test(c.sdpFmtpLine) && /packetization-mode=1/.test(c.sdpFmtpLine) ? 0 : 1;
  };
  transceiver.setCodecPreferences([...codecs].sort((a, b) => rank(a) - rank(b)));
}

// Sends our tracks on the connection: new transceivers when offering, the offer's when answering.
async function attachTracks(pc, offering) {
  for (const kind of ["audio", "video"]) {
    const track = call.stream.getTracks().find((t) => t.kind === kind) || null;
    let transceiver;
    if (offering) {
      transceiver = pc.addTransceiver(track || kind, {
        direction: track ? "sendrecv" : "recvonly",
        streams: track ? [call.stream] : [],
      });
    } else {
      transceiver = pc.getTransceivers().find((t) => t.receiver.track.kind === kind && !t.stopped);
      if (!transceiver) continue;
      if (track) {
        transceiver.direction = "sendrecv";
        await transceiver.sender.replaceTrack(track);
        transceiver.sender.setStreams(call.stream);
      } else {
        transceiver.direction = "recvonly";
      }
    }
    if (kind === "video") preferH264(transceiver);
  }
}

async function offerTo(id, name) {
  const peer = newPeer(id, name, true);
  await attachTracks(peer.pc, true);
  await peer.pc.setLocalDescription();
  signal(id, { type: "offer", sdp: peer.pc.localDescription.sdp, session: call.session });
}

async function onSignal(from, data) {
  let peer = call.peers.get(from);
  switch (data.type) {
    case "offer": {
      const sameCall = peer && data.session && peer.session === data.session &&
        peer.pc.signalingState !== "closed";
      if (!sameCall) {
        const name = peer?.name || nameOf(from);
        peer = newPeer(from, name, false);
        peer.session = data.session;
        await peer.pc.setRemoteDescription({ type: "offer", sdp: data.sdp });
        await attachTracks(peer.pc, false);
      } else {
        // The same connection offered again: an ICE restart, or a change (a shared screen).
        // Offers that cross: the peer whose id sorts lower is polite and gives way (its own
        // offer is rolled back, and offered again once this one is answered); the other
        // ignores the offer it got (PROTOCOL.md).
        const polite = call.id < from;
        const crossing = peer.makingOffer || peer.pc.signalingState !== "stable";
        if (crossing && !polite) return;
        await peer.pc.setRemoteDescription({ type: "offer", sdp: data.sdp });
      }
      await peer.pc.setLocalDescription();
      signal(from, { type: "answer", sdp: peer.pc.localDescription.sdp, session: call.session });
      break;
    }
    case "answer":
      if (!peer || peer.pc.signalingState !== "have-local-offer") return;
      peer.session = data.session;
      await peer.pc.setRemoteDescription({ type: "answer", sdp: data.sdp });
      break;
    case "resume":
      // Only for a session we still had, and ours is new with every id: nothing to keep.
      console.warn("a resume the page did not ask for", from);
      break;
    case "candidate":
      if (!peer || !data.candidate || !data.candidate.candidate) return;
      try {
        await peer.pc.addIceCandidate(data.candidate);
      } catch (e) {
        console.warn("a candidate we cannot use", data.candidate, e);
      }
      break;
    default:
      break;
  }
}

function nameOf(id) {
  return call.names.get(id) || "Guest";
}

// A path that died comes back through an ICE restart, offered by the side that offered first.
function onConnectionState(peer) {
  const tile = tileOf(peer.id);
  const state = peer.pc.connectionState;
  if (tile) {
    tile.dataset.state = state;
    tile.querySelector(".state").textContent =
      state === "connected" ? "" : state === "disconnected" || state === "failed" ? "reconnecting…" : `${state}…`;
  }
  clearTimeout(peer.restartTimer);
  // Someone who came while we share gets our screen too.
  if (state === "connected" && call.share && !peer.shareTransceiver) sendShare(peer);
  if ((state === "disconnected" || state === "failed") && peer.offering) {
    peer.restartTimer = setTimeout(async () => {
      if (call.peers.get(peer.id) !== peer || peer.pc.connectionState === "connected") return;
      peer.pc.restartIce();
      await peer.pc.setLocalDescription();
      signal(peer.id, { type: "offer", sdp: peer.pc.localDescription.sdp, session: call.session });
    }, state === "failed" ? 0 : 3000);
  }
}

function removePeer(id) {
  const peer = call.peers.get(id);
  if (peer) {
    clearTimeout(peer.restartTimer);
    peer.pc.close();
    call.peers.delete(id);
  }
  call.early?.delete(id);
  call.names.delete(id);
  tileOf(id)?.remove();
  shareTileOf(id)?.remove();
  layout();
}

// ---- Shared screens ----
// A screen is a second video section on the connection (PROTOCOL.md): ours is added by an
// offer of ours, stopped by setting it inactive; theirs shows in a tile of its own, first in
// the grid and across it.

function shareTileOf(id) {
  return document.querySelector(`.tile.share[data-share="${CSS.escape(id)}"]`);
}

function showShare(id, track) {
  const name = id === "self" ? "Your screen" : `${call.peers.get(id)?.name || nameOf(id)}'s screen`;
  let tile = shareTileOf(id);
  if (!tile) {
    tile = document.createElement("div");
    tile.className = "tile share";
    tile.dataset.share = id;
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true;
    const label = document.createElement("div");
    label.className = "label";
    label.textContent = name;
    tile.append(video, label);
    $("grid").prepend(tile);
    layout();
  }
  tile.querySelector("video").srcObject = new MediaStream([track]);
  // Their section set inactive (they stopped) mutes the track; sharing again unmutes it.
  // Through Janus the section is taken away instead (we unsubscribe): the track ends.
  track.onmute = () => {
    if (shareTileOf(id)?.querySelector("video").srcObject?.getTracks()[0] === track) {
      shareTileOf(id).remove();
      layout();
    }
  };
  track.onended = track.onmute;
  track.onunmute = () => {
    if (!shareTileOf(id)) showShare(id, track);
  };
}

async function toggleShare() {
  if (call.share) return stopShare();
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false });
  } catch (e) {
    console.warn("getDisplayMedia", e);
    if (e.name !== "NotAllowedError") banner(`Your screen could not be shared: ${e.message || e.name}`, 6000);
    return;
  }
  const track = stream.getVideoTracks()[0];
  if (!track) return;
  // Text: keep it sharp, lower the frame rate first.
  track.contentHint = "detail";
  // The browser's own "Stop sharing" ends the track.
  track.onended = () => stopShare();
  call.share = stream;
  showShare("self", track);
  for (const peer of call.peers.values()) sendShare(peer);
  sfuShare();
  updateControls();
}

// Puts our screen (or nothing, when we stopped) on `peer`'s connection; the change is offered
// by onnegotiationneeded.
function sendShare(peer) {
  const track = call.share?.getVideoTracks()[0] || null;
  if (peer.pc.connectionState !== "connected") return;
  if (!peer.shareTransceiver) {
    if (!track) return;
    peer.shareTransceiver = peer.pc.addTransceiver(track, { direction: "sendonly" });
    preferH264(peer.shareTransceiver);
    return;
  }
  peer.shareTransceiver.sender.replaceTrack(track).catch((e) => console.warn("replaceTrack", e));
  peer.shareTransceiver.direction = track ? "sendonly" : "inactive";
}

function stopShare() {
  const stream = call.share;
  if (!stream) return;
  call.share = null;
  for (const track of stream.getTracks()) track.stop();
  for (const peer of call.peers.values()) sendShare(peer);
  sfuShare();
  shareTileOf("self")?.remove();
  layout();
  updateControls();
}

// ---- The grid ----

function tileOf(id) {
  return document.querySelector(`.tile[data-peer="${CSS.escape(id)}"]`);
}

function addTile(id, name, stream, self) {
  tileOf(id)?.remove();
  const tile = document.createElement("div");
  tile.className = "tile";
  tile.dataset.peer = id;
  tile.dataset.name = name;
  tile.dataset.audio = "on";
  tile.dataset.video = "on";
  tile.dataset.hand = "down";
  const video = document.createElement("video");
  video.autoplay = true;
  video.playsInline = true;
  video.muted = true;
  video.srcObject = stream;
  const initial = document.createElement("div");
  initial.className = "initial";
  initial.textContent = [...name][0]?.toUpperCase() || "?";
  const label = document.createElement("div");
  label.className = "label";
  label.textContent = name; // as text, never markup: names come from other people
  const micOff = document.createElement("span");
  micOff.className = "mic-off";
  micOff.textContent = "muted";
  micOff.title = "Microphone off";
  const hand = document.createElement("span");
  hand.className = "hand";
  hand.textContent = "✋";
  hand.title = "Hand raised";
  // After the name, which stays the label's first child.
  label.append(micOff, hand);
  const state = document.createElement("div");
  state.className = "state";
  tile.append(video, initial, label, state);
  if (!self) {
    const audio = document.createElement("audio");
    audio.autoplay = true;
    tile.append(audio);
  }
  $("grid").append(tile);
  layout();
  return tile;
}

function layout() {
  const count = $("grid").children.length;
  const columns = count <= 1 ? 1 : count <= 4 ? 2 : 3;
  $("grid").style.setProperty("--columns", columns);
}

let bannerTimer = null;
function banner(text, forMs) {
  const b = $("banner");
  b.textContent = text;
  b.hidden = !text;
  clearTimeout(bannerTimer);
  if (text && forMs) bannerTimer = setTimeout(() => banner(""), forMs);
}

// ---- Controls ----

function updateControls() {
  const hasAudio = call.stream.getAudioTracks().length > 0;
  const hasVideo = call.stream.getVideoTracks().length > 0;
  $("mic").disabled = !hasAudio;
  $("camera").disabled = !hasVideo;
  $("mic").textContent = call.micOn ? "Mute" : "Unmute";
  $("mic").setAttribute("aria-pressed", String(!call.micOn));
  $("camera").textContent = call.cameraOn ? "Stop video" : "Start video";
  $("camera").setAttribute("aria-pressed", String(!call.cameraOn));
  $("hand").textContent = call.handUp ? "Lower hand" : "Raise hand";
  $("hand").setAttribute("aria-pressed", String(call.handUp));
  $("share").disabled = !navigator.mediaDevices?.getDisplayMedia;
  $("share").textContent = call.share ? "Stop sharing" : "Share screen";
  $("share").setAttribute("aria-pressed", String(Boolean(call.share)));
  $("meeting").dataset.sharing = call.share ? "yes" : "no";
  const self = tileOf("self");
  if (self) {
    self.dataset.audio = call.micOn && hasAudio ? "on" : "off";
    self.dataset.video = call.cameraOn && hasVideo ? "on" : "off";
    self.dataset.hand = call.handUp ? "up" : "down";
  }
}

function toggleHand() {
  call.handUp = !call.handUp;
  updateControls();
  announceMediaState();
}

function toggle(kind) {
  if (kind === "audio") call.micOn = !call.micOn;
  else call.cameraOn = !call.cameraOn;
  const on = kind === "audio" ? call.micOn : call.cameraOn;
  // A disabled track sends silence or black: the connection and its bandwidth stay.
  for (const track of call.stream.getTracks()) if (track.kind === kind) track.enabled = on;
  updateControls();
  announceMediaState();
}

$("mic").addEventListener("click", () => toggle("audio"));
$("camera").addEventListener("click", () => toggle("video"));
$("hand").addEventListener("click", toggleHand);
$("share").addEventListener("click", () => toggleShare().catch((e) => console.error("share", e)));
$("leave").addEventListener("click", () => leave(""));
document.addEventListener("keydown", (event) => {
  if (!(event.ctrlKey || event.metaKey) || $("meeting").hidden) return;
  // Google Meet's: Ctrl/Cmd+D, Ctrl/Cmd+E, Ctrl/Cmd+Alt+H; Ctrl/Cmd+Shift+S shares, as
  // in Confer's window.
  if (event.key === "d" && !event.altKey) toggle("audio");
  else if (event.key === "e" && !event.altKey) toggle("video");
  else if (event.code === "KeyH" && event.altKey) toggleHand();
  else if (event.code === "KeyS" && event.shiftKey && !event.altKey) toggleShare();
  else return;
  event.preventDefault();
});

function leave(why) {
  call.left = true;
  stopShare();
  leaveSfu();
  send({ type: "leave" });
  for (const id of [...call.peers.keys()]) removePeer(id);
  for (const track of call.stream.getTracks()) track.stop();
  call.socket?.close();
  $("grid").replaceChildren();
  banner("");
  $("left-why").textContent = why;
  show("left");
}

// ---- Through an SFU (PROTOCOL.md, "Rooms past the mesh") ----
// When the room outgrows the mesh, its media goes through a Janus VideoRoom the server made:
// we publish there under our peer id as display, and receive everyone else on one
// subscriber connection that answers Janus's offers. Names, chat and mute stay on the
// meeting server.

const PLUGIN = "janus.plugin.videoroom";

// What one session in Janus holds: all of it goes when we join afresh (sfuRejoin).
function sessionState() {
  return {
    session: null, pub: null, sub: null, pubPc: null, subPc: null, privateId: null,
    feeds: new Map(), subscribed: new Set(), subJoined: false, busy: false, mids: new Map(),
    keepalive: null,
    // Feeds whose display is no member yet (Janus told of them before the Confer server did).
    waiting: new Map(),
    // Each feed's streams as its publisher last listed them, and those our subscription holds
    // (by the publisher's mid) as Janus's last offer said; our sections that carry a screen.
    published: new Map(), held: new Map(), screens: new Set(),
    // Streams of feeds we receive already to subscribe to (a screen shared since) or to drop
    // (a share that ended: Janus stops forwarding it but renegotiates nothing by itself).
    toAdd: [], toDrop: [],
    // The section our shared screen goes on, once added; the offers that change it, in turn.
    shareTransceiver: null, shareChange: Promise.resolve(),
  };
}

const sfu = { route: null, ws: null, tx: 0, pending: new Map(), ...sessionState() };
call.sfu = sfu;

// The shares of others (ours goes on: it moves with us).
const OTHERS_SHARES = '.tile.share:not([data-share="self"])';

function moveMedia(route) {
  if (sfu.route || route.via !== "janus") return;
  sfu.route = route;
  // Shares go with the connections, and come back through Janus as streams of their own
  // (ours as we publish).
  for (const tile of document.querySelectorAll(OTHERS_SHARES)) tile.remove();
  for (const peer of [...call.peers.values()]) {
    clearTimeout(peer.restartTimer);
    peer.pc.close();
  }
  call.peers.clear();
  banner("More people joined: the meeting's media now goes through its server.", 6000);
  const ws = new WebSocket(route.url, "janus-protocol");
  sfu.ws = ws;
  ws.onopen = joinSfu;
  ws.onerror = () => console.warn("the media server's connection failed", route.url);
  ws.onmessage = (event) => {
    const message = parsed(event.data, "Janus");
    if (message === undefined) return;
    onJanus(message).catch((e) => console.error("janus", message, e));
  };
  ws.onclose = (event) => {
    console.warn("the media server's connection closed", event.code, event.reason);
    if (!call.left) banner("The connection to the media server was lost.");
  };
}

// A request; resolves with Janus's answer to it (the `ack` of an asynchronous one is skipped).
function janus(message) {
  const transaction = `w${++sfu.tx}`;
  const out = { ...message, transaction };
  if (sfu.session && out.janus !== "create") out.session_id = sfu.session;
  if (sfu.ws.readyState === WebSocket.OPEN) sfu.ws.send(JSON.stringify(out));
  return new Promise((resolve) => sfu.pending.set(transaction, resolve));
}

function failed(answer) {
  const data = answer.plugindata?.data;
  if (answer.janus === "error") return `${answer.error?.code}: ${answer.error?.reason}`;
  if (data?.error_code) return `${data.error_code}: ${data.error}`;
  return null;
}

// A session of ours in Janus, and our place in the room; a refusal is said on the page.
function joinSfu() {
  sfuStart().catch((e) => {
    console.warn("Janus:", e);
    banner(`The media server refused us: ${e.message || e}`);
  });
}

async function sfuStart() {
  const created = await janus({ janus: "create" });
  if (failed(created)) throw new Error(failed(created));
  sfu.session = created.data.id;
  sfu.keepalive = setInterval(() => janus({ janus: "keepalive" }), 25000);
  const attached = await janus({ janus: "attach", plugin: PLUGIN });
  sfu.pub = attached.data.id;
  const joined = await janus({
    janus: "message",
    handle_id: sfu.pub,
    body: { request: "join", ptype: "publisher", room: sfu.route.room, pin: sfu.route.pin, display: call.id },
  });
  if (failed(joined)) throw new Error(failed(joined));
}

async function onJanus(message) {
  if (message.janus === "ack") return;
  if (message.janus === "hangup") return onHangup(message);
  if (message.janus === "event" && message.plugindata) {
    await onRoomEvent(message.sender, message.plugindata.data || {}, message.jsep);
  }
  const resolve = sfu.pending.get(message.transaction);
  if (resolve) {
    sfu.pending.delete(message.transaction);
    resolve(message);
  }
}

async function onRoomEvent(sender, data, jsep) {
  if (sender === sfu.pub && data.videoroom === "joined") {
    sfu.privateId = data.private_id;
    await publish();
  }
  if (sender === sfu.pub && jsep?.type === "answer") {
    await sfu.pubPc.setRemoteDescription(jsep);
  }
  for (const publisher of data.publishers || []) {
    sfu.published.set(publisher.id, publisher.streams || []);
    // A feed is someone of this meeting when its display is their peer id.
    if (sfu.feeds.has(publisher.id)) {
      queueStreamChanges(publisher.id);
      continue;
    }
    if (call.names.has(publisher.display)) sfu.feeds.set(publisher.id, publisher.display);
    else sfu.waiting.set(publisher.id, publisher.display);
  }
  for (const gone of [data.unpublished, data.leaving]) {
    sfu.waiting.delete(gone);
    if (gone === undefined || gone === "ok" || !sfu.feeds.has(gone)) continue;
    const tile = tileOf(sfu.feeds.get(gone));
    if (tile) tile.querySelector("video").srcObject = null;
    sfu.feeds.delete(gone);
    sfu.subscribed.delete(gone);
    sfu.published.delete(gone);
    sfu.held.delete(gone);
    sfu.toAdd = sfu.toAdd.filter((s) => s.feed !== gone);
    sfu.toDrop = sfu.toDrop.filter((s) => s.feed !== gone);
  }
  if (sender === sfu.sub && (data.videoroom === "attached" || data.videoroom === "updated") && jsep) {
    await answerSubscriber(jsep, data.streams || []);
  }
  await subscribeWanted();
}

// Janus closed a connection of ours. Its room closes one for a reason of the room's ("Close
// PC": we unpublished, were kicked, the room went). Any other hang-up is a connection lost (its
// DTLS handshake did not finish in time, a DTLS alert, ICE failed) that Janus keeps nothing of.
function onHangup(message) {
  if (message.sender !== sfu.pub && message.sender !== sfu.sub) return;
  if (message.reason === "Close PC") return;
  sfuRejoin(`the media server closed our connection (${message.reason})`);
}

// A lost connection to Janus, told by Janus or found by the browser: we leave that session, so
// that no one keeps a frozen picture of us, and join the room again in a new one (as
// call::janus_room does).
function sfuRejoin(why) {
  if (call.left || !sfu.session) return;
  console.warn("Janus: joining again:", why);
  banner("The connection to the media server was lost: joining it again…", 6000);
  const old = sfu.session;
  clearInterval(sfu.keepalive);
  sfu.pubPc?.close();
  sfu.subPc?.close();
  for (const display of sfu.feeds.values()) {
    const tile = tileOf(display);
    if (tile) tile.querySelector("video").srcObject = null;
  }
  for (const tile of document.querySelectorAll(OTHERS_SHARES)) tile.remove();
  Object.assign(sfu, sessionState());
  janus({ janus: "destroy", session_id: old });
  joinSfu();
}

// A connection the browser gave up on.
function rejoinOnFailure(pc) {
  pc.onconnectionstatechange = () => {
    if (pc.connectionState !== "failed" || (pc !== sfu.pubPc && pc !== sfu.subPc)) return;
    sfuRejoin(`our ${pc === sfu.pubPc ? "sending" : "receiving"} connection failed`);
  };
}

// Someone the Confer server just announced may have published already.
function adoptWaitingFeeds() {
  for (const [feed, display] of sfu.waiting) {
    if (!call.names.has(display)) continue;
    sfu.waiting.delete(feed);
    sfu.feeds.set(feed, display);
  }
  subscribeWanted().catch((e) => console.warn("Janus:", e));
}

function trickleOn(pc, handle) {
  pc.onicecandidate = (event) => janus({
    janus: "trickle",
    handle_id: handle,
    candidate: event.candidate ? event.candidate.toJSON() : { completed: true },
  });
}

async function publish() {
  const pc = new RTCPeerConnection({ iceServers: call.iceServers, bundlePolicy: "max-bundle" });
  sfu.pubPc = pc;
  trickleOn(pc, sfu.pub);
  rejoinOnFailure(pc);
  for (const track of call.stream.getTracks()) {
    const transceiver = pc.addTransceiver(track, { direction: "sendonly", streams: [call.stream] });
    if (track.kind === "video") preferH264(transceiver);
  }
  const screen = call.share?.getVideoTracks()[0];
  if (screen) addShareSection(pc, screen);
  await pc.setLocalDescription();
  const has = (kind) => call.stream.getTracks().some((t) => t.kind === kind);
  await janus({
    janus: "message",
    handle_id: sfu.pub,
    body: { request: "configure", audio: has("audio"), video: has("video"), ...screenDescribed() },
    jsep: { type: "offer", sdp: pc.localDescription.sdp },
  });
}

// Our shared screen through Janus: a video section of its own on the connection we publish on,
// described to Janus as a screen (as call::janus_room describes the native's), to which the
// others subscribe as to a stream of ours. When we stop, the section goes inactive and Janus
// disables the stream. One offer at a time: each waits for Janus's answer to the one before.
function sfuShare() {
  sfu.shareChange = sfu.shareChange.then(offerShare).catch((e) => console.warn("Janus share:", e));
}

async function offerShare() {
  const pc = sfu.pubPc;
  // Not published yet: publish() takes the share along.
  if (!pc) return;
  await answered(pc);
  if (pc !== sfu.pubPc || pc.signalingState === "closed") return;
  const track = call.share?.getVideoTracks()[0] || null;
  if (!sfu.shareTransceiver) {
    if (!track) return;
    addShareSection(pc, track);
  } else {
    await sfu.shareTransceiver.sender.replaceTrack(track);
    sfu.shareTransceiver.direction = track ? "sendonly" : "inactive";
  }
  await pc.setLocalDescription();
  await janus({
    janus: "message",
    handle_id: sfu.pub,
    body: { request: "configure", ...screenDescribed() },
    jsep: { type: "offer", sdp: pc.localDescription.sdp },
  });
}

function addShareSection(pc, track) {
  sfu.shareTransceiver = pc.addTransceiver(track, { direction: "sendonly", streams: [call.share] });
  preferH264(sfu.shareTransceiver);
}

// What tells Janus which of our sections is a screen (once it has a mid).
function screenDescribed() {
  const mid = sfu.shareTransceiver?.mid;
  return mid && call.share ? { descriptions: [{ mid, description: "screen" }] } : {};
}

// Until Janus's answer to our last offer is in (or the connection is closed).
function answered(pc) {
  return new Promise((resolve) => {
    const check = () => {
      if (pc.signalingState !== "stable" && pc.signalingState !== "closed") return;
      pc.removeEventListener("signalingstatechange", check);
      resolve();
    };
    pc.addEventListener("signalingstatechange", check);
    check();
  });
}

// What `feed`'s publisher lists and our subscription lacks (a screen they began to share) is
// to be subscribed to, and what it holds that they disabled (a share that ended) dropped.
// Until Janus's offer says what the subscription holds of the feed, this waits for it.
function queueStreamChanges(feed) {
  const held = sfu.held.get(feed);
  if (!held) return;
  const queued = (list, mid) => list.some((s) => s.feed === feed && s.mid === mid);
  for (const stream of sfu.published.get(feed) || []) {
    if (!stream.mid || (stream.type !== "audio" && stream.type !== "video")) continue;
    if (!stream.disabled && !held.has(stream.mid) && !queued(sfu.toAdd, stream.mid)) {
      sfu.toAdd.push({ feed, mid: stream.mid });
    } else if (stream.disabled && held.has(stream.mid) && !queued(sfu.toDrop, stream.mid)) {
      sfu.toDrop.push({ feed, mid: stream.mid });
    }
  }
}

// One change of the receiving connection at a time: its handle, its join, then `subscribe`
// (and `unsubscribe`).
async function subscribeWanted() {
  if (sfu.busy || !sfu.session) return;
  const drop = sfu.subJoined ? sfu.toDrop.splice(0) : [];
  const streams = drop.length
    ? drop
    : [...sfu.feeds.keys()].filter((f) => !sfu.subscribed.has(f)).map((feed) => ({ feed }));
  if (!drop.length && sfu.subJoined) streams.push(...sfu.toAdd.splice(0));
  if (!streams.length) return;
  sfu.busy = true;
  for (const s of streams) if (!s.mid) sfu.subscribed.add(s.feed);
  // An answer that comes after we joined again (sfuRejoin) is the old session's.
  const session = sfu.session;
  if (!sfu.sub) {
    const attached = await janus({ janus: "attach", plugin: PLUGIN });
    if (sfu.session !== session) return;
    sfu.sub = attached.data.id;
  }
  const body = drop.length
    ? { request: "unsubscribe", streams }
    : sfu.subJoined
    ? { request: "subscribe", streams }
    : { request: "join", ptype: "subscriber", room: sfu.route.room, pin: sfu.route.pin, private_id: sfu.privateId, streams };
  const answer = await janus({ janus: "message", handle_id: sfu.sub, body });
  if (sfu.session !== session) return;
  if (failed(answer)) {
    // Asked again at Janus's next event (a feed that had just gone, a room being restarted).
    console.warn("Janus refused a subscription", failed(answer));
    for (const s of streams) if (!s.mid) sfu.subscribed.delete(s.feed);
    sfu.busy = false;
  } else if (!answer.jsep) {
    // Nothing to negotiate (Janus had nothing new to send): the next change may go.
    sfu.busy = false;
  }
}

async function answerSubscriber(offer, streams) {
  sfu.subJoined = true;
  // What the subscription holds is what this offer says.
  sfu.held.clear();
  for (const stream of streams) {
    if (!stream.mid || stream.feed_id === undefined) continue;
    sfu.mids.set(stream.mid, sfu.feeds.get(stream.feed_id) || stream.feed_display);
    if (stream.type === "video" && stream.feed_description === "screen") sfu.screens.add(stream.mid);
    else sfu.screens.delete(stream.mid);
    if (stream.active === false || !stream.feed_mid) continue;
    if (!sfu.held.has(stream.feed_id)) sfu.held.set(stream.feed_id, new Set());
    sfu.held.get(stream.feed_id).add(stream.feed_mid);
  }
  // A stream a publisher added (or disabled) while this offer was being made is not in it
  // (or still is).
  for (const feed of sfu.held.keys()) queueStreamChanges(feed);
  if (!sfu.subPc) {
    const pc = new RTCPeerConnection({ iceServers: call.iceServers, bundlePolicy: "max-bundle" });
    sfu.subPc = pc;
    trickleOn(pc, sfu.sub);
    rejoinOnFailure(pc);
    pc.ontrack = (event) => {
      const id = sfu.mids.get(event.transceiver.mid);
      if (!id) return;
      // Their shared screen, a stream of its own (described so by its publisher).
      if (event.track.kind === "video" && sfu.screens.has(event.transceiver.mid)) {
        return showShare(id, event.track);
      }
      const tile = tileOf(id) || addTile(id, nameOf(id), new MediaStream(), false);
      const element = tile.querySelector(event.track.kind === "video" ? "video" : "audio");
      element.srcObject = new MediaStream([event.track]);
      const early = call.early?.get(id);
      if (early) onBroadcast(id, { type: "media-state", ...early });
    };
  }
  await sfu.subPc.setRemoteDescription(offer);
  await sfu.subPc.setLocalDescription();
  await janus({
    janus: "message",
    handle_id: sfu.sub,
    body: { request: "start" },
    jsep: { type: "answer", sdp: sfu.subPc.localDescription.sdp },
  });
  sfu.busy = false;
}

function leaveSfu() {
  if (!sfu.ws) return;
  clearInterval(sfu.keepalive);
  if (sfu.session) janus({ janus: "destroy" });
  sfu.pubPc?.close();
  sfu.subPc?.close();
  sfu.ws.close();
}
