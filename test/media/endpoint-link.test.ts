import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConferenceEndpoint } from '../../src/media/conference/conference-room.js';
import { linkEndpoints } from '../../src/media/endpoint-link.js';

class Endpoint implements ConferenceEndpoint {
  onAudio: ((pcm: Int16Array, count: number) => void) | undefined;
  readonly sent: number[][] = [];
  stops = 0;
  constructor(readonly sampleRate: number) {}
  sendFrame(pcm: Int16Array, count: number): void {
    this.sent.push([...pcm.subarray(0, count)]);
  }
  stopPlayback(): void {
    this.stops++;
  }
  hear(samples: number[]): void {
    this.onAudio?.(Int16Array.from(samples), samples.length);
  }
}

describe('linkEndpoints', () => {
  it('sends each side\'s frames from the other at once, after stopping what they played', () => {
    const a = new Endpoint(8000);
    const b = new Endpoint(8000);
    linkEndpoints(a, b);
    assert.equal(a.stops, 1);
    assert.equal(b.stops, 1);
    a.hear([1, 2, 3]);
    b.hear([7, 8]);
    assert.deepEqual(b.sent, [[1, 2, 3]]);
    assert.deepEqual(a.sent, [[7, 8]]);
  });

  it('resamples between a narrowband and a wideband side', () => {
    const narrow = new Endpoint(8000);
    const wide = new Endpoint(16000);
    linkEndpoints(narrow, wide);
    narrow.hear(new Array(160).fill(1000));
    wide.hear(new Array(320).fill(1000));
    assert.equal(wide.sent[0]!.length, 320);
    assert.equal(narrow.sent[0]!.length, 160);
  });

  it('stops passing audio once closed, leaving handlers others installed since', () => {
    const a = new Endpoint(8000);
    const b = new Endpoint(8000);
    const link = linkEndpoints(a, b);
    const later = (): void => {};
    b.onAudio = later;
    link.close();
    assert.equal(a.onAudio, undefined);
    assert.equal(b.onAudio, later);
  });
});
