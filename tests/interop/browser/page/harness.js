// The test page's API, window.lk: one livekit-client Room per page, driven by
// the tests through page.evaluate (tests/interop/browser/lkbrowser.py).  Every
// function returns plain JSON-able values; events the client emits are recorded
// and read back with lk.events().
import {
  ExternalE2EEKeyProvider,
  Room,
  RoomEvent,
  Track,
  VideoPresets,
  VideoQuality,
  createLocalAudioTrack,
  createLocalVideoTrack,
  version,
} from 'livekit-client';

const TOPIC = 'lk-test';
const enc = new TextEncoder();
const dec = new TextDecoder();
let room = null;
let audioCtx = null;
const local = {};                 // source -> LocalTrack
const analysers = new Map();      // "identity/source" -> AnalyserNode
const log = { events: [], data: [], texts: [], bytes: [], rpc: [] };

const now = () => Math.round(performance.now());
const key = (identity, source) => `${identity}/${source}`;
const ident = (p) => (p ? p.identity : null);

function record(type, detail = {}) {
  log.events.push({ t: now(), type, ...detail });
}

// the client's HTTP requests (e.g. /rtc/v1/validate after a failed upgrade), for the tests to read
const realFetch = window.fetch.bind(window);
window.fetch = async (input, init) => {
  const url = new URL(typeof input === 'string' ? input : input.url, location.href);
  try {
    const resp = await realFetch(input, init);
    record('fetch', { path: url.pathname, status: resp.status, body: await resp.clone().text() });
    return resp;
  } catch (e) {
    record('fetch', { path: url.pathname, error: String(e) });
    throw e;
  }
};

function findPublication(identity, source) {
  return room.remoteParticipants.get(identity)?.getTrackPublication(source);
}

function remotePublication(identity, source) {
  const pub = findPublication(identity, source);
  if (!pub) throw new Error(`${identity} has no ${source} publication`);
  return pub;
}

async function sha256(bytes) {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

function pattern(size) {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + (i >> 8)) & 0xff;
  return b;
}

function attach(track, publication, participant) {
  const el = track.attach();
  el.id = `v-${participant.identity}-${publication.source}`;
  el.muted = track.kind === Track.Kind.Video;
  if (track.kind === Track.Kind.Video) {
    el.style.cssText = 'width:160px;height:90px;object-fit:fill;margin:2px;background:#000';
  }
  document.getElementById('media').appendChild(el);
  if (track.kind === Track.Kind.Audio) {
    audioCtx ??= new AudioContext();
    const src = audioCtx.createMediaStreamSource(new MediaStream([track.mediaStreamTrack]));
    const an = audioCtx.createAnalyser();
    an.fftSize = 8192;
    an.smoothingTimeConstant = 0;
    src.connect(an);
    analysers.set(key(participant.identity, publication.source), an);
  }
}

function listen(r) {
  r.on(RoomEvent.ParticipantConnected, (p) => record('participantConnected', { identity: p.identity }))
    .on(RoomEvent.ParticipantDisconnected, (p) => record('participantDisconnected', { identity: p.identity }))
    .on(RoomEvent.TrackPublished, (pub, p) => record('trackPublished', { identity: p.identity, source: pub.source }))
    .on(RoomEvent.TrackSubscribed, (track, pub, p) => {
      record('trackSubscribed', { identity: p.identity, source: pub.source, kind: track.kind, mime: pub.mimeType });
      attach(track, pub, p);
    })
    .on(RoomEvent.TrackUnsubscribed, (track, pub, p) => {
      record('trackUnsubscribed', { identity: p.identity, source: pub.source });
      track.detach().forEach((el) => el.remove());
    })
    .on(RoomEvent.TrackSubscriptionFailed, (sid, p, reason) =>
      record('trackSubscriptionFailed', { identity: ident(p), sid, reason: String(reason) }))
    .on(RoomEvent.TrackMuted, (pub, p) => record('trackMuted', { identity: p.identity, source: pub.source }))
    .on(RoomEvent.TrackUnmuted, (pub, p) => record('trackUnmuted', { identity: p.identity, source: pub.source }))
    .on(RoomEvent.ActiveSpeakersChanged, (speakers) =>
      record('activeSpeakersChanged', { speakers: speakers.map((s) => s.identity) }))
    .on(RoomEvent.ConnectionQualityChanged, (quality, p) =>
      record('connectionQualityChanged', { identity: p.identity, quality }))
    .on(RoomEvent.ConnectionStateChanged, (state) => record('connectionStateChanged', { state }))
    .on(RoomEvent.Disconnected, (reason) => record('disconnected', { reason }))
    .on(RoomEvent.EncryptionError, (error, p) =>
      record('encryptionError', { identity: ident(p), message: String(error?.message ?? error) }))
    .on(RoomEvent.ParticipantEncryptionStatusChanged, (enabled, p) =>
      record('encryptionStatusChanged', { identity: ident(p), enabled }))
    .on(RoomEvent.DataReceived, (payload, p, kind, topic) =>
      log.data.push({ t: now(), from: ident(p), text: dec.decode(payload), kind, topic }));
  r.registerTextStreamHandler(TOPIC, async (reader, info) => {
    const text = await reader.readAll();
    log.texts.push({ t: now(), from: info.identity, text, topic: reader.info.topic });
  });
  r.registerByteStreamHandler(TOPIC, async (reader, info) => {
    const chunks = await reader.readAll();
    const all = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
    let off = 0;
    for (const c of chunks) { all.set(c, off); off += c.byteLength; }
    log.bytes.push({ t: now(), from: info.identity, name: reader.info.name, size: all.byteLength,
      sha256: await sha256(all) });
  });
  r.registerRpcMethod('echo', async (data) => {
    log.rpc.push({ t: now(), from: data.callerIdentity, payload: data.payload });
    return JSON.stringify({ by: r.localParticipant.identity, caller: data.callerIdentity, payload: data.payload });
  });
}

async function statsOf(rtcObject) {
  const report = await rtcObject.getStats();
  const codecs = {};
  report.forEach((s) => { if (s.type === 'codec') codecs[s.id] = s.mimeType; });
  const out = [];
  report.forEach((s) => {
    if (s.type === 'inbound-rtp' || s.type === 'outbound-rtp') {
      out.push({ ...s, codec: codecs[s.codecId] ?? null });
    }
  });
  return out;
}

const QUALITIES = { low: VideoQuality.LOW, medium: VideoQuality.MEDIUM, high: VideoQuality.HIGH };

window.lk = {
  version: () => version,

  codecs: () => ({
    send: RTCRtpSender.getCapabilities('video').codecs.map((c) => [c.mimeType, c.sdpFmtpLine ?? '']),
    recv: RTCRtpReceiver.getCapabilities('video').codecs.map((c) => [c.mimeType, c.sdpFmtpLine ?? '']),
  }),

  // options: {singlePeerConnection, e2eeKey, autoSubscribe}
  async connect(url, token, options = {}) {
    const roomOptions = { adaptiveStream: false, dynacast: false };
    if (options.singlePeerConnection !== undefined) roomOptions.singlePeerConnection = options.singlePeerConnection;
    if (options.dynacast) roomOptions.dynacast = true;   // pause the layers the server says nobody needs
    if (options.e2eeKey) {
      const keyProvider = new ExternalE2EEKeyProvider();
      await keyProvider.setKey(options.e2eeKey);
      const worker = new Worker(new URL('./e2ee-worker.js', location.href), { type: 'module' });
      roomOptions.encryption = { keyProvider, worker };
    }
    room = new Room(roomOptions);
    listen(room);
    if (options.e2eeKey) await room.setE2EEEnabled(true);
    const t0 = now();
    await room.connect(url, token, { autoSubscribe: options.autoSubscribe ?? true, maxRetries: 0,
      peerConnectionTimeout: options.peerConnectionTimeout ?? 15000 });
    return {
      ms: now() - t0,
      identity: room.localParticipant.identity,
      sid: room.localParticipant.sid,
      serverVersion: room.serverInfo?.version ?? null,
      remote: [...room.remoteParticipants.keys()],
    };
  },

  async disconnect() {
    if (room) await room.disconnect();
    room = null;
  },

  // options: {codec, simulcast, scalabilityMode, width, height, backupCodec}
  async publishCamera(options = {}) {
    const width = options.width ?? 640;
    const height = options.height ?? 360;
    const track = await createLocalVideoTrack({ resolution: { width, height, frameRate: 30 } });
    local.camera = track;
    const publish = { source: Track.Source.Camera, simulcast: options.simulcast ?? false,
      backupCodec: options.backupCodec ?? false };
    if (options.codec) publish.videoCodec = options.codec;
    if (options.scalabilityMode) publish.scalabilityMode = options.scalabilityMode;
    if (options.degradationPreference) publish.degradationPreference = options.degradationPreference;
    if (options.maxBitrate) publish.videoEncoding = { maxBitrate: options.maxBitrate, maxFramerate: 30 };
    if (options.simulcast && width >= 1280) {
      publish.videoSimulcastLayers = [VideoPresets.h180, VideoPresets.h360];
    }
    const pub = await room.localParticipant.publishTrack(track, publish);
    return { sid: pub.trackSid, mime: pub.mimeType ?? null };
  },

  async publishMic() {
    const track = await createLocalAudioTrack({ echoCancellation: false, noiseSuppression: false,
      autoGainControl: false });
    local.microphone = track;
    const pub = await room.localParticipant.publishTrack(track, { source: Track.Source.Microphone });
    return { sid: pub.trackSid };
  },

  async setMuted(source, muted) {
    const track = local[source];
    if (muted) await track.mute(); else await track.unmute();
    return track.isMuted;
  },

  remoteTracks() {
    const out = [];
    room.remoteParticipants.forEach((p) => p.trackPublications.forEach((pub) => out.push({
      identity: p.identity, source: pub.source, kind: pub.kind, sid: pub.trackSid, mime: pub.mimeType ?? null,
      subscribed: pub.isSubscribed, muted: pub.isMuted, encrypted: pub.isEncrypted,
      simulcasted: pub.simulcasted ?? null,
    })));
    return out;
  },

  setQuality(identity, quality) {
    remotePublication(identity, Track.Source.Camera).setVideoQuality(QUALITIES[quality]);
  },

  // inbound-rtp of a remote track, as getStats reports it
  async inbound(identity, source) {
    const pub = findPublication(identity, source);
    if (!pub?.track?.receiver) return null;
    const stats = await statsOf(pub.track.receiver);
    return stats.find((s) => s.type === 'inbound-rtp') ?? null;
  },

  // outbound-rtp of a local track: one entry per simulcast layer
  async outbound(source) {
    const sender = local[source]?.sender;
    return sender ? statsOf(sender) : [];
  },

  // peak frequency (Hz) and its level (dBFS) of a remote audio track, through WebAudio
  audioPeak(identity, source = Track.Source.Microphone) {
    const an = analysers.get(key(identity, source));
    if (!an) return null;
    const bins = new Float32Array(an.frequencyBinCount);
    an.getFloatFrequencyData(bins);
    let best = 0;
    for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
    return { hz: (best * audioCtx.sampleRate) / an.fftSize, db: bins[best], state: audioCtx.state };
  },

  // options: {reliable, topic, to: [identities]}
  async sendData(text, options = {}) {
    await room.localParticipant.publishData(enc.encode(text), { reliable: options.reliable ?? true,
      topic: options.topic, destinationIdentities: options.to });
  },

  // `count` packets "<prefix>-<i>", one after the other; returns the errors
  async sendNumbered(prefix, count, options = {}) {
    const errors = [];
    for (let i = 0; i < count; i++) {
      await window.lk.sendData(`${prefix}-${i}`, options).catch((e) => errors.push(String(e?.message ?? e)));
    }
    return errors;
  },

  async sendText(text) {
    const info = await room.localParticipant.sendText(text, { topic: TOPIC });
    return { id: info.id };
  },

  async sendBytes(size, name = 'blob.bin') {
    const bytes = pattern(size);
    const file = new File([bytes], name, { type: 'application/octet-stream' });
    await room.localParticipant.sendFile(file, { topic: TOPIC });
    return { size, sha256: await sha256(bytes) };
  },

  async rpc(destinationIdentity, payload, method = 'echo') {
    try {
      const response = await room.localParticipant.performRpc({ destinationIdentity, method, payload,
        responseTimeout: 5000 });
      return { response };
    } catch (e) {
      return { error: { code: e.code ?? null, message: String(e.message ?? e) } };
    }
  },

  received: () => log,
  events: () => log.events,
  activeSpeakers: () => room.activeSpeakers.map((p) => p.identity),
  connectionQuality: () => ({
    local: room.localParticipant.connectionQuality,
    remote: Object.fromEntries([...room.remoteParticipants].map(([id, p]) => [id, p.connectionQuality])),
  }),
};
window.lkReady = true;
