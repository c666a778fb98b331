// Two calls the server holds, talking to each other through it (a picked-up or parked call, an attended
// transfer): each decoded frame from one side is sent at once by the other, resampled when one side is
// wideband. Unlike a relay join this works whatever codec each phone chose.
import type { ConferenceEndpoint } from './conference/conference-room.js';
import { Downsampler2x, Upsampler2x } from './resample.js';

export interface EndpointLink {
  /** Lets both endpoints go; they send nothing more of the other's audio. */
  close(): void;
}

/** The largest frame an endpoint hands over (its MAX_FRAME_MS, 200 ms at 16 kHz), doubled for upsampling. */
const MAX_OUT_SAMPLES = 2 * 16 * 200;

export function linkEndpoints(a: ConferenceEndpoint, b: ConferenceEndpoint): EndpointLink {
  a.stopPlayback();
  b.stopPlayback();
  const toB = forwarder(a.sampleRate, b);
  const toA = forwarder(b.sampleRate, a);
  a.onAudio = toB;
  b.onAudio = toA;
  return {
    close() {
      if (a.onAudio === toB) a.onAudio = undefined;
      if (b.onAudio === toA) b.onAudio = undefined;
    },
  };
}

function forwarder(fromRate: number, to: ConferenceEndpoint): (pcm: Int16Array, count: number) => void {
  if (fromRate === to.sampleRate) return (pcm, count) => to.sendFrame(pcm, count);
  const out = new Int16Array(MAX_OUT_SAMPLES);
  if (fromRate < to.sampleRate) {
    const up = new Upsampler2x();
    return (pcm, count) => to.sendFrame(out, up.process(pcm, Math.min(count, MAX_OUT_SAMPLES / 2), out));
  }
  const down = new Downsampler2x();
  return (pcm, count) => to.sendFrame(out, down.process(pcm, Math.min(count, MAX_OUT_SAMPLES), out));
}
