// DTMF in its three forms: RFC 4733 telephone-events (payload, receiver, sender), tones in the
// audio found by the in-band detector, and SIP INFO bodies.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InbandDtmfDetector } from '../../src/media/dtmf/inband-detector.js';
import {
  digitToEvent,
  eventToDigit,
  TelephoneEventReceiver,
  TelephoneEventSender,
  writeTelephoneEvent,
} from '../../src/media/dtmf/rfc4733.js';
import { buildDtmfRelayBody, parseDtmfInfo } from '../../src/media/dtmf/sip-info.js';
import { dbm0ToAmplitude, DtmfToneGenerator, TONE_PLANS, ToneGenerator } from '../../src/media/tones.js';

const KEYS = '0123456789*#ABCD';

describe('RFC 4733 telephone-event payload', () => {
  it('writes event, end bit, volume and duration in network order at the offset', () => {
    const out = new Uint8Array(8).fill(0xee);
    assert.equal(writeTelephoneEvent(out, 2, 11, true, 10, 800), 4);
    assert.deepEqual([...out], [0xee, 0xee, 0x0b, 0x8a, 0x03, 0x20, 0xee, 0xee]);
    writeTelephoneEvent(out, 0, 3, false, 0, 0x1234);
    assert.deepEqual([...out.subarray(0, 4)], [0x03, 0x00, 0x12, 0x34]);
  });

  it('clamps volume to 6 bits and duration to 16', () => {
    const out = new Uint8Array(4);
    writeTelephoneEvent(out, 0, 1, false, 100, 70000);
    assert.deepEqual([...out], [0x01, 63, 0xff, 0xff]);
  });

  it('maps every key to its event code and back', () => {
    [...KEYS].forEach((key, event) => {
      assert.equal(digitToEvent(key), event);
      assert.equal(eventToDigit(event), key);
    });
    assert.equal(digitToEvent('b'), 13);
  });

  it('maps nothing else', () => {
    for (const d of ['E', '', '11', '*#', ' ', 'x']) assert.equal(digitToEvent(d), undefined, d);
    for (const e of [16, -1, 1.5, 255]) assert.equal(eventToDigit(e), undefined, String(e));
  });
});

/** Feeds telephone-event packets to a receiver and records what it reports. */
class ReceiverProbe {
  readonly reports: [string, number][] = [];
  readonly receiver: TelephoneEventReceiver;
  private readonly payload = new Uint8Array(4);

  constructor(clockRate?: number) {
    this.receiver = new TelephoneEventReceiver((digit, ms) => this.reports.push([digit, ms]), clockRate);
  }

  send(key: string, timestamp: number, duration: number, options: { end?: boolean; marker?: boolean } = {}): void {
    writeTelephoneEvent(this.payload, 0, digitToEvent(key)!, options.end ?? false, 10, duration);
    this.receiver.push(this.payload, 0, 4, timestamp, options.marker ?? false);
  }

  /** A whole press as a sender makes it, with the packets at `drop` (0-based) lost. */
  press(key: string, timestamp: number, updates: number, drop: number[] = []): void {
    const packets: [number, boolean][] = [];
    for (let i = 1; i <= updates; i++) packets.push([i * 160, false]);
    for (let i = 0; i < 3; i++) packets.push([(updates + 1) * 160, true]);
    packets.forEach(([duration, end], i) => {
      if (!drop.includes(i)) this.send(key, timestamp, duration, { end, marker: i === 0 });
    });
  }
}

describe('TelephoneEventReceiver', () => {
  it('reports a press once although its end packet comes three times', () => {
    const probe = new ReceiverProbe();
    probe.press('5', 1000, 4);
    assert.deepEqual(probe.reports, [['5', 100]]);
  });

  it('reports a press whose start packets were lost', () => {
    const probe = new ReceiverProbe();
    probe.press('7', 1000, 4, [0, 1]);
    assert.deepEqual(probe.reports, [['7', 100]]);
  });

  it('reports a press whose end packets were all lost when the next press starts', () => {
    const probe = new ReceiverProbe();
    probe.press('1', 1000, 4, [4, 5, 6]);
    assert.deepEqual(probe.reports, []);
    probe.press('2', 3000, 2);
    assert.deepEqual(probe.reports, [
      ['1', 80],
      ['2', 60],
    ]);
  });

  it('reports a press whose end packets were all lost on flush, once', () => {
    const probe = new ReceiverProbe();
    probe.press('9', 1000, 3, [3, 4, 5]);
    probe.receiver.flush();
    probe.receiver.flush();
    probe.send('9', 1000, 640, { end: true });
    assert.deepEqual(probe.reports, [['9', 60]]);
  });

  it('ignores packets of a press already reported, late or repeated', () => {
    const probe = new ReceiverProbe();
    probe.press('3', 1000, 2);
    probe.press('4', 2000, 2);
    probe.send('3', 1000, 480, { end: true });
    probe.send('4', 2000, 160);
    probe.send('3', 1000, 160, { marker: true });
    assert.deepEqual(probe.reports, [
      ['3', 60],
      ['4', 60],
    ]);
  });

  it('takes the end duration even when updates arrive after it', () => {
    const probe = new ReceiverProbe();
    probe.send('6', 500, 800, { end: true });
    probe.send('6', 500, 160, { marker: true });
    probe.send('6', 500, 320);
    assert.deepEqual(probe.reports, [['6', 100]]);
  });

  it('reports the same key pressed twice as two presses', () => {
    const probe = new ReceiverProbe();
    probe.press('0', 1000, 2);
    probe.press('0', 2000, 2);
    assert.deepEqual(probe.reports, [
      ['0', 60],
      ['0', 60],
    ]);
  });

  it('keeps the longest duration seen when updates arrive out of order', () => {
    const probe = new ReceiverProbe();
    probe.send('2', 1000, 160, { marker: true });
    probe.send('2', 1000, 480);
    probe.send('2', 1000, 320);
    probe.receiver.flush();
    assert.deepEqual(probe.reports, [['2', 60]]);
  });

  it('tells a repeated key from a continued one when the first lost its end and the second its start', () => {
    const probe = new ReceiverProbe();
    probe.press('5', 1000, 3, [3, 4, 5]);
    probe.press('5', 1000 + 1200, 3, [0]);
    assert.deepEqual(probe.reports, [
      ['5', 60],
      ['5', 80],
    ]);
  });

  it('joins the segments of a press longer than 16 bits of duration', () => {
    const probe = new ReceiverProbe();
    const start = 50_000;
    probe.send('#', start, 160, { marker: true });
    probe.send('#', start, 0xffff);
    probe.send('#', start + 0xffff, 160);
    probe.send('#', start + 0xffff, 800, { end: true });
    assert.deepEqual(probe.reports, [['#', Math.round(((0xffff + 800) * 1000) / 8000)]]);
  });

  it('keeps working across the 32-bit timestamp wrap', () => {
    const probe = new ReceiverProbe();
    probe.press('A', 0xffff_ff00, 2);
    probe.press('B', 0x0000_0400, 2);
    probe.send('A', 0xffff_ff00, 480, { end: true });
    assert.deepEqual(
      probe.reports.map(([digit]) => digit),
      ['A', 'B'],
    );
  });

  it('converts durations with the clock rate it was given', () => {
    const probe = new ReceiverProbe(48000);
    probe.send('8', 0, 4800, { end: true, marker: true });
    assert.deepEqual(probe.reports, [['8', 100]]);
  });

  it('ignores short payloads and events that are not keys', () => {
    const probe = new ReceiverProbe();
    const flash = new Uint8Array(4);
    writeTelephoneEvent(flash, 0, 16, true, 10, 800);
    probe.receiver.push(flash, 0, 4, 1000, true);
    const key = new Uint8Array(4);
    writeTelephoneEvent(key, 0, 5, true, 10, 800);
    probe.receiver.push(key, 0, 3, 2000, true);
    probe.receiver.push(key, 2, 4, 2000, true);
    probe.receiver.flush();
    assert.deepEqual(probe.reports, []);
  });
});

interface SentPacket {
  event: number;
  end: boolean;
  duration: number;
  marker: boolean;
}

function drain(sender: TelephoneEventSender): SentPacket[] {
  const out = new Uint8Array(8);
  const packets: SentPacket[] = [];
  for (let packet = sender.next(out, 4); packet; packet = sender.next(out, 4)) {
    assert.equal(packet.length, 4);
    assert.equal(packet.timestampOffset, 0);
    const duration = (out[6]! << 8) | out[7]!;
    packets.push({ event: out[4]!, end: (out[5]! & 0x80) !== 0, duration, marker: packet.marker });
  }
  return packets;
}

describe('TelephoneEventSender', () => {
  it('sends a marked start, an update every ptime and the end packet three times', () => {
    const sender = new TelephoneEventSender(8000, 20);
    sender.start('5', 100);
    assert.equal(sender.idle, false);
    const packets = drain(sender);
    assert.deepEqual(
      packets.map((p) => [p.duration, p.end, p.marker]),
      [
        [160, false, true],
        [320, false, false],
        [480, false, false],
        [640, false, false],
        [800, true, false],
        [800, true, false],
        [800, true, false],
      ],
    );
    assert.ok(packets.every((p) => p.event === 5));
    assert.equal(sender.idle, true);
    assert.equal(sender.next(new Uint8Array(4), 0), undefined);
  });

  it('sends a press shorter than ptime as three end packets, the first marked', () => {
    const sender = new TelephoneEventSender(8000, 30);
    sender.start('#', 10);
    assert.deepEqual(
      drain(sender).map((p) => [p.duration, p.end, p.marker]),
      [
        [80, true, true],
        [80, true, false],
        [80, true, false],
      ],
    );
  });

  for (const clockRate of [8000, 48000]) {
    it(`is understood by the receiver for every key at ${clockRate} Hz`, () => {
      const sender = new TelephoneEventSender(clockRate, 20);
      const probe = new ReceiverProbe(clockRate);
      const payload = new Uint8Array(4);
      let streamTimestamp = 12345;
      let eventTimestamp = 0;
      for (const key of KEYS) {
        sender.start(key, 120);
        for (let packet = sender.next(payload, 0); packet; packet = sender.next(payload, 0)) {
          if (packet.marker) eventTimestamp = streamTimestamp;
          probe.receiver.push(payload, 0, packet.length, eventTimestamp + packet.timestampOffset, packet.marker);
          streamTimestamp += (clockRate * 20) / 1000;
        }
        streamTimestamp += (clockRate * 60) / 1000;
      }
      assert.deepEqual(
        probe.reports,
        [...KEYS].map((key) => [key, 120]),
      );
    });
  }

  it('refuses a second press while one is being sent, and keys or durations it cannot send', () => {
    const sender = new TelephoneEventSender();
    assert.throws(() => sender.start('E', 100), RangeError);
    assert.throws(() => sender.start('1', 0), RangeError);
    assert.throws(() => sender.start('1', 9000), RangeError);
    sender.start('1', 100);
    assert.throws(() => sender.start('2', 100), /still being sent/);
  });
});

/** Deterministic white noise: mulberry32 through Box-Muller. */
function gaussianNoise(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 1) / 4294967297;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

type Part = { key: string; ms: number; lowDbm0?: number; highDbm0?: number } | { silenceMs: number };

/** Keys and silences one after another at `rate`, with white noise `snrDb` below the keys' power if given. */
function keySignal(rate: number, parts: Part[], snrDb?: number, seed = 1): Int16Array {
  const lengths = parts.map((p) => Math.round((('key' in p ? p.ms : p.silenceMs) * rate) / 1000));
  const pcm = new Int16Array(lengths.reduce((a, b) => a + b, 0));
  let position = 0;
  let keyPower = 0;
  parts.forEach((part, i) => {
    if ('key' in part) {
      const levels = { lowDbm0: part.lowDbm0 ?? -20, highDbm0: part.highDbm0 ?? -20 };
      new DtmfToneGenerator(part.key, part.ms, rate, levels).fill(pcm.subarray(position), lengths[i]!);
      keyPower = (dbm0ToAmplitude(levels.lowDbm0) ** 2 + dbm0ToAmplitude(levels.highDbm0) ** 2) / 2;
    }
    position += lengths[i]!;
  });
  if (snrDb !== undefined) addNoise(pcm, Math.sqrt(keyPower / 10 ** (snrDb / 10)), seed);
  return pcm;
}

function addNoise(pcm: Int16Array, rms: number, seed: number): void {
  const noise = gaussianNoise(seed);
  for (let i = 0; i < pcm.length; i++) pcm[i] = Math.max(-32768, Math.min(32767, Math.round(pcm[i]! + rms * noise())));
}

/** Adds `frequencies`, each at `dbm0`, to `pcm` from `startMs` for `ms`. */
function addTone(pcm: Int16Array, rate: number, hz: number[], dbm0: number, startMs: number, ms: number): void {
  const start = Math.round((startMs * rate) / 1000);
  const tone = new Int16Array(Math.round((ms * rate) / 1000));
  new ToneGenerator({ frequencies: hz, cadence: [ms], repeat: false }, rate, dbm0).fill(tone, tone.length);
  tone.forEach((sample, i) => (pcm[start + i] += sample));
}

/** What the detector reports for `pcm`, fed in frames of `frame` samples. */
function detect(rate: number, pcm: Int16Array, frame = (rate * 20) / 1000): string {
  let digits = '';
  const detector = new InbandDtmfDetector(rate, (digit) => (digits += digit));
  const buffer = new Int16Array(frame);
  for (let i = 0; i < pcm.length; i += frame) {
    const count = Math.min(frame, pcm.length - i);
    buffer.set(pcm.subarray(i, i + count));
    detector.process(buffer, count);
  }
  return digits;
}

/** Silences, in samples, to put before a signal so it meets the detector's windows at every phase. */
const alignments = (rate: number) => Array.from({ length: 17 }, (_, i) => (i * 3 * rate) / 8000);

describe('InbandDtmfDetector', () => {
  for (const rate of [8000, 16000]) {
    const lead = (samples: number): Part => ({ silenceMs: 10 + (samples * 1000) / rate });

    it(`finds every key at -20 dBm0 at ${rate} Hz, once`, () => {
      for (const key of KEYS) {
        assert.equal(detect(rate, keySignal(rate, [{ silenceMs: 30 }, { key, ms: 60 }, { silenceMs: 60 }])), key);
      }
    });

    it(`finds every key in white noise 15 dB down at ${rate} Hz`, () => {
      [...KEYS].forEach((key, i) => {
        const pcm = keySignal(rate, [{ silenceMs: 30 }, { key, ms: 60 }, { silenceMs: 60 }], 15, i + 1);
        assert.equal(detect(rate, pcm), key);
      });
    });

    it(`finds "123#" sent 50 ms on, 50 ms off, exactly once each, at ${rate} Hz`, () => {
      for (const [i, samples] of alignments(rate).entries()) {
        const parts: Part[] = [lead(samples)];
        for (const key of '123#') parts.push({ key, ms: 50 }, { silenceMs: 50 });
        assert.equal(detect(rate, keySignal(rate, parts)), '123#', `clean, ${samples} samples in`);
        assert.equal(detect(rate, keySignal(rate, parts, 15, i + 100)), '123#', `noisy, ${samples} samples in`);
      }
    });

    it(`reports a key held 40 ms but not one of 20 ms, wherever it falls, at ${rate} Hz`, () => {
      for (const [i, samples] of alignments(rate).entries()) {
        for (const snr of [undefined, 15]) {
          const held = (ms: number) =>
            keySignal(rate, [lead(samples), { key: '8', ms }, { silenceMs: 60 }], snr, i + 1);
          assert.equal(detect(rate, held(40)), '8', `40 ms, ${samples} samples in, snr ${snr}`);
          assert.equal(detect(rate, held(20)), '', `20 ms, ${samples} samples in, snr ${snr}`);
        }
      }
    });

    it(`reports a key again after a 40 ms gap but not after a 20 ms break at ${rate} Hz`, () => {
      for (const [i, samples] of alignments(rate).entries()) {
        const twice = (gapMs: number) =>
          keySignal(rate, [lead(samples), { key: '5', ms: 60 }, { silenceMs: gapMs }, { key: '5', ms: 60 }], 15, i + 1);
        assert.equal(detect(rate, twice(40)), '55', `40 ms gap, ${samples} samples in`);
        assert.equal(detect(rate, twice(20)), '5', `20 ms break, ${samples} samples in`);
      }
    });
  }

  it('gives the same answer however the audio is cut into frames', () => {
    const parts: Part[] = [{ silenceMs: 13 }];
    for (const key of '90*D') parts.push({ key, ms: 70 }, { silenceMs: 55 });
    const pcm = keySignal(8000, parts, 15);
    for (const frame of [1, 37, 160, 1000]) assert.equal(detect(8000, pcm, frame), '90*D', `frames of ${frame}`);
  });

  it('accepts up to 8 dB of normal twist and 4 dB of reverse twist, and no more', () => {
    const heard = (lowDbm0: number, highDbm0: number) =>
      detect(8000, keySignal(8000, [{ silenceMs: 20 }, { key: '6', ms: 80, lowDbm0, highDbm0 }, { silenceMs: 40 }]));
    assert.equal(heard(-10, -17), '6');
    assert.equal(heard(-10, -20), '');
    assert.equal(heard(-13, -10), '6');
    assert.equal(heard(-15, -10), '');
  });

  it('wants one clear tone per group: two keys of a column together are one key only if one is far quieter', () => {
    const together = (quieterDb: number) => {
      const pcm = keySignal(8000, [{ silenceMs: 20 }, { key: '1', ms: 80 }, { silenceMs: 40 }]);
      addTone(pcm, 8000, [770], -20 - quieterDb, 20, 80);
      return detect(8000, pcm);
    };
    assert.equal(together(6), '');
    assert.equal(together(12), '1');
  });

  it('wants the key to hold most of the power, so it is not heard under louder sound elsewhere in the band', () => {
    const withTalk = (talkDbm0: number) => {
      const pcm = keySignal(8000, [{ silenceMs: 20 }, { key: '3', ms: 80 }, { silenceMs: 40 }]);
      addTone(pcm, 8000, [220, 2600], talkDbm0, 0, 140);
      return detect(8000, pcm);
    };
    assert.equal(withTalk(-30), '3');
    assert.equal(withTalk(-18), '');
  });

  it('ignores keys too quiet to be meant', () => {
    const at = (dbm0: number) =>
      detect(8000, keySignal(8000, [{ key: '2', ms: 100, lowDbm0: dbm0, highDbm0: dbm0 }, { silenceMs: 40 }]));
    assert.equal(at(-26), '2');
    assert.equal(at(-36), '');
  });

  describe('hears no key in', () => {
    const seconds = 2;

    function sines(rate: number, frequencies: number[], dbm0: number): Int16Array {
      const amplitude = dbm0ToAmplitude(dbm0);
      return Int16Array.from({ length: rate * seconds }, (_, n) => {
        const phase = (hz: number, i: number) => (2 * Math.PI * hz * n) / rate + i;
        const sum = frequencies.reduce((acc, hz, i) => acc + amplitude * Math.sin(phase(hz, i)), 0);
        return Math.max(-32768, Math.min(32767, Math.round(sum)));
      });
    }

    function planTone(rate: number, name: 'ringback' | 'dial'): Int16Array {
      const pcm = new Int16Array(rate * seconds);
      new ToneGenerator(TONE_PLANS.us![name], rate, -10).fill(pcm, pcm.length);
      return pcm;
    }

    for (const rate of [8000, 16000]) {
      it(`single tones, at and between the keypad frequencies, at ${rate} Hz`, () => {
        for (const hz of [697, 770, 852, 941, 1000, 1209, 1336, 1477, 1633, 2000]) {
          assert.equal(detect(rate, sines(rate, [hz], -10)), '', `${hz} Hz`);
        }
      });

      it(`US ringback (440+480) and dial tone (350+440) at ${rate} Hz`, () => {
        assert.equal(detect(rate, planTone(rate, 'ringback')), '');
        assert.equal(detect(rate, planTone(rate, 'dial')), '');
      });

      it(`white noise at ${rate} Hz`, () => {
        const pcm = new Int16Array(rate * seconds);
        addNoise(pcm, 3000, 7);
        assert.equal(detect(rate, pcm), '');
      });

      it(`a sum of many tones, keypad pairs among them, at ${rate} Hz`, () => {
        assert.equal(detect(rate, sines(rate, [300, 500, 697, 900, 1209, 1500, 1800, 2200, 2700], -18)), '');
      });

      it(`a vowel-like harmonic series at ${rate} Hz`, () => {
        const harmonics = Array.from({ length: 20 }, (_, i) => 118 * (i + 1));
        assert.equal(detect(rate, sines(rate, harmonics, -22)), '');
      });
    }
  });
});

describe('DTMF in SIP INFO', () => {
  it('reads application/dtmf-relay', () => {
    assert.deepEqual(parseDtmfInfo('application/dtmf-relay', 'Signal=5\r\nDuration=160\r\n'), {
      digit: '5',
      durationMs: 160,
    });
  });

  it('takes keys in any case, spaces, bare LF and content-type parameters', () => {
    assert.deepEqual(parseDtmfInfo('Application/DTMF-Relay; charset=utf-8', 'signal = *\nDURATION= 250\n'), {
      digit: '*',
      durationMs: 250,
    });
  });

  it('takes the signal as an event number and letters in any case', () => {
    const signal = (s: string) => parseDtmfInfo('application/dtmf-relay', `Signal=${s}\r\nDuration=100`)?.digit;
    assert.equal(signal('10'), '*');
    assert.equal(signal('11'), '#');
    assert.equal(signal('15'), 'D');
    assert.equal(signal('d'), 'D');
    assert.equal(signal('7'), '7');
  });

  it('gives no duration when it is missing or not a number', () => {
    assert.deepEqual(parseDtmfInfo('application/dtmf-relay', 'Signal=1'), { digit: '1', durationMs: undefined });
    assert.deepEqual(parseDtmfInfo('application/dtmf-relay', 'Signal=1\r\nDuration=-5'), {
      digit: '1',
      durationMs: undefined,
    });
  });

  it('reads application/dtmf as the key or its event number', () => {
    assert.deepEqual(parseDtmfInfo('application/dtmf', '5'), { digit: '5', durationMs: undefined });
    assert.deepEqual(parseDtmfInfo('application/dtmf', '11\r\n'), { digit: '#', durationMs: undefined });
    assert.deepEqual(parseDtmfInfo('APPLICATION/DTMF', ' b '), { digit: 'B', durationMs: undefined });
  });

  it('finds no key in other bodies', () => {
    const relay = 'application/dtmf-relay';
    assert.equal(parseDtmfInfo(undefined, 'Signal=5\r\nDuration=160'), undefined);
    assert.equal(parseDtmfInfo('application/sdp', 'Signal=5'), undefined);
    assert.equal(parseDtmfInfo(relay, 'Duration=160'), undefined);
    assert.equal(parseDtmfInfo(relay, 'Signal=16\r\nDuration=160'), undefined);
    assert.equal(parseDtmfInfo(relay, 'Signal=E'), undefined);
    assert.equal(parseDtmfInfo(relay, ''), undefined);
    assert.equal(parseDtmfInfo('application/dtmf', '5 6'), undefined);
  });

  it('builds a dtmf-relay body that reads back as the same key and duration', () => {
    assert.equal(buildDtmfRelayBody('#', 160), 'Signal=#\r\nDuration=160\r\n');
    for (const key of KEYS) {
      assert.deepEqual(parseDtmfInfo('application/dtmf-relay', buildDtmfRelayBody(key.toLowerCase(), 250)), {
        digit: key,
        durationMs: 250,
      });
    }
    assert.throws(() => buildDtmfRelayBody('x', 100), RangeError);
    assert.throws(() => buildDtmfRelayBody('1', Number.NaN), RangeError);
  });
});
