// @livekit/rtc-node ops of the test driver: participants (by name) that
// connect, publish a sine of a given pitch, and measure what they receive
// (pitch by zero crossings and level of each remote audio track, frames and
// size of each remote video track, keyed "identity/audio" and "identity/video";
// data packets).
import {
  AudioFrame, AudioSource, AudioStream, LocalAudioTrack, Room, RoomEvent, TrackKind, TrackPublishOptions,
  TrackSource, VideoStream, dispose,
} from '@livekit/rtc-node';

const RATE = 48000;
const FRAME = 480;                 // 10 ms
const participants = new Map();

function get(name) {
  const p = participants.get(name);
  if (!p) throw new Error(`no node participant ${name}`);
  return p;
}

async function readAudio(stats, stream) {
  const window = [];
  for await (const frame of stream) {
    stats.frames += 1;
    const d = frame.data;
    const ch = frame.channels;
    for (let i = 0; i < d.length; i += ch) window.push(d[i]);
    if (window.length >= RATE / 2) {            // every 0.5 s: pitch and RMS over it
      let crossings = 0;
      let sq = 0;
      for (let i = 1; i < window.length; i++) {
        if ((window[i - 1] < 0) !== (window[i] < 0)) crossings += 1;
        sq += window[i] * window[i];
      }
      const seconds = window.length / frame.sampleRate;
      stats.hz = crossings / 2 / seconds;
      stats.rms = Math.sqrt(sq / window.length) / 32768;
      stats.windows += 1;
      window.length = 0;
    }
  }
}

async function readVideo(stats, stream) {
  for await (const ev of stream) {
    stats.frames += 1;
    stats.width = ev.frame.width;
    stats.height = ev.frame.height;
  }
}

export const ops = {
  async connect({ name, url, token }) {
    const room = new Room();
    const p = { room, audio: {}, video: {}, data: [], sine: null };
    participants.set(name, p);
    room.on(RoomEvent.TrackSubscribed, (track, pub, participant) => {
      if (track.kind === TrackKind.KIND_AUDIO) {
        const k = `${participant.identity}/audio`;
        p.audio[k] = { frames: 0, windows: 0, hz: null, rms: null };
        readAudio(p.audio[k], new AudioStream(track, RATE, 1)).catch((e) => { p.audio[k].error = String(e); });
      } else if (track.kind === TrackKind.KIND_VIDEO) {
        const k = `${participant.identity}/video`;
        p.video[k] = { frames: 0, width: null, height: null };
        readVideo(p.video[k], new VideoStream(track)).catch((e) => { p.video[k].error = String(e); });
      }
    });
    room.on(RoomEvent.DataReceived, (payload, participant, kind, topic) => {
      p.data.push({ from: participant?.identity ?? null, text: new TextDecoder().decode(payload), kind, topic });
    });
    await room.connect(url, token, { autoSubscribe: true, dynacast: false });
    return { identity: room.localParticipant.identity, remote: [...room.remoteParticipants.keys()] };
  },

  // publish a microphone track that plays a sine of `hz`
  async publishSine({ name, hz, amplitude = 0.3 }) {
    const p = get(name);
    const source = new AudioSource(RATE, 1);
    const track = LocalAudioTrack.createAudioTrack('sine', source);
    const options = new TrackPublishOptions();
    options.source = TrackSource.SOURCE_MICROPHONE;
    const pub = await p.room.localParticipant.publishTrack(track, options);
    p.sine = { stop: false };
    let n = 0;
    const loop = async () => {
      while (!p.sine.stop) {
        const data = new Int16Array(FRAME);
        for (let i = 0; i < FRAME; i++, n++) {
          data[i] = Math.round(amplitude * 32767 * Math.sin((2 * Math.PI * hz * n) / RATE));
        }
        await source.captureFrame(new AudioFrame(data, RATE, 1, FRAME));   // paces itself (queue)
      }
    };
    loop().catch(() => {});
    return { sid: pub.sid };
  },

  async sendData({ name, text, reliable = true, topic }) {
    await get(name).room.localParticipant.publishData(new TextEncoder().encode(text), { reliable, topic });
  },

  received({ name }) {
    const p = get(name);
    return { audio: p.audio, video: p.video, data: p.data };
  },

  async disconnect({ name }) {
    const p = participants.get(name);
    if (!p) return;
    participants.delete(name);
    if (p.sine) p.sine.stop = true;
    await p.room.disconnect();
  },
};

export async function shutdown() {
  for (const name of [...participants.keys()]) await ops.disconnect({ name }).catch(() => {});
  await dispose().catch(() => {});
}
