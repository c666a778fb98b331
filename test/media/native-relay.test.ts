// The native relay engine (native/rtp-relay) with real UDP on the loopback: the same latching rules as
// the Node engine (docs/media.md "Symmetric RTP and latching"), RTCP on port + 1, packets for the server
// itself, sends from JS, and every socket given back.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { readdirSync } from 'node:fs';
import { afterEach, before, describe, it } from 'node:test';
import { loadNativeRelay, type NativeRelayAddon } from '../../src/media/relay/native-addon.js';
import { NativeRelayEngine } from '../../src/media/relay/native-relay-engine.js';
import type { LegSignalling, RelayLeg } from '../../src/media/relay/relay-leg.js';
import { FakeClock } from '../support/fake-clock.js';
import { freeConsecutivePorts } from '../support/ports.js';
import { mayUseRealtime, realtimeThreads } from '../support/realtime.js';

const HOST = '127.0.0.1';
const OTHER_HOST = '127.0.0.2';
const START = 1_700_000_000_000;
const QUIET_MS = 200;
const POLL_MS = 5;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, probe: () => T | undefined, waitMs = 3_000): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

interface Arrival {
  data: Buffer;
  address: string;
  port: number;
}

/** A UDP socket standing in for a phone's RTP (or RTCP) port; keeps what arrives. */
class Party {
  readonly received: Arrival[] = [];
  private constructor(private readonly socket: dgram.Socket, readonly port: number, readonly address: string) {
    socket.on('message', (data, rinfo) => this.received.push({ data, address: rinfo.address, port: rinfo.port }));
  }

  static async open(address = HOST): Promise<Party> {
    const socket = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, address, () => resolve());
    });
    return new Party(socket, socket.address().port, address);
  }

  send(packet: Buffer, port: number): void {
    this.socket.send(packet, port, this.address);
  }

  async sendAll(packets: Buffer[], port: number): Promise<void> {
    for (const p of packets) await new Promise<void>((resolve) => this.socket.send(p, port, this.address, () => resolve()));
  }

  async waitFor(count: number): Promise<Arrival[]> {
    return until(`${count} packets at port ${this.port}`, () => (this.received.length >= count ? this.received : undefined));
  }

  close(): void {
    this.socket.close();
  }
}

/** An RTP packet (PCMU header) with a random payload, so forwarding must keep every byte. */
function rtp(ssrc: number, sequence: number, payloadBytes = 160): Buffer {
  const header = Buffer.alloc(12);
  header[0] = 0x80;
  header.writeUInt16BE(sequence & 0xffff, 2);
  header.writeUInt32BE((sequence * 160) >>> 0, 4);
  header.writeUInt32BE(ssrc >>> 0, 8);
  return Buffer.concat([header, randomBytes(payloadBytes)]);
}

function signalling(party: Party, overrides: Partial<LegSignalling> = {}): LegSignalling {
  return { address: party.address, port: party.port, rtcpPort: party.port + 1, signallingAddress: party.address, ...overrides };
}

function canBind(port: number, type: 'udp4' | 'udp6' = 'udp4'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket({ type, ipv6Only: type === 'udp6' });
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind(port, type === 'udp6' ? '::' : '0.0.0.0', () => socket.close(() => resolve(true)));
  });
}

function openDescriptors(): number {
  return readdirSync('/proc/self/fd').length;
}

const status = loadNativeRelay();

describe('native relay engine', { timeout: 60_000 }, () => {
  let addon: NativeRelayAddon;
  let first: number;
  const engines: NativeRelayEngine[] = [];
  const parties: Party[] = [];
  const clock = new FakeClock(START);

  before(async () => {
    assert.ok(status.available, `the native relay must load on this machine: ${status.available ? '' : status.reason}`);
    addon = status.addon;
    first = await freeConsecutivePorts(42);
    first += first % 2;
  });

  afterEach(async () => {
    for (const p of parties.splice(0)) p.close();
    for (const e of engines.splice(0)) await e.close();
  });

  function engine(rangeFirst = first, rangeLast = first + 39): NativeRelayEngine {
    const e = new NativeRelayEngine(addon, rangeFirst, rangeLast, clock, QUIET_MS);
    engines.push(e);
    return e;
  }

  async function party(address = HOST): Promise<Party> {
    const p = await Party.open(address);
    parties.push(p);
    return p;
  }

  async function leg(e: NativeRelayEngine, family: 4 | 6 = 4): Promise<RelayLeg> {
    const l = await e.openLeg(family);
    assert.ok(l, 'a leg');
    return l;
  }

  /** Two legs bridged both ways, each with its party signalled. */
  async function bridged(e: NativeRelayEngine, family: 4 | 6 = 4) {
    const host = family === 6 ? '::1' : HOST;
    const [a, b] = [await leg(e, family), await leg(e, family)];
    const [pa, pb] = [await party(host), await party(host)];
    a.setSignalling(signalling(pa));
    b.setSignalling(signalling(pb));
    a.forwardRtpTo(b);
    b.forwardRtpTo(a);
    a.forwardRtcpTo(b);
    b.forwardRtcpTo(a);
    return { a, b, pa, pb };
  }

  it('loads on this machine', () => {
    assert.equal(status.available, true, status.available ? '' : status.reason);
  });

  it('moves its relay thread to real-time priority when the process may, and says why when it may not', async () => {
    const e = engine();
    const before = realtimeThreads('self', 'rtp-relay');
    const refused = e.useRealtimePriority();
    if (mayUseRealtime()) {
      assert.equal(refused, undefined);
      assert.equal(realtimeThreads('self', 'rtp-relay'), before + 1, 'one more rtp-relay thread under SCHED_RR');
    } else {
      assert.match(refused ?? '', /EPERM: it needs root or CAP_SYS_NICE/);
      assert.equal(realtimeThreads('self', 'rtp-relay'), before);
    }
    const { pa, pb, a } = await bridged(e);
    const packet = rtp(0x3333, 1, 160);
    await pa.sendAll([packet], a.rtpPort);
    assert.deepEqual((await pb.waitFor(1)).map((p) => p.data), [packet], 'still relaying');
  });

  it('forwards RTP both ways byte for byte, out of the leg each party talks to', async () => {
    const e = engine();
    const { a, b, pa, pb } = await bridged(e);
    const toB = Array.from({ length: 20 }, (_, i) => rtp(0x1111, i + 1, 160 + i));
    const toA = Array.from({ length: 20 }, (_, i) => rtp(0x2222, i + 1, 20 + i));
    await pa.sendAll(toB, a.rtpPort);
    await pb.sendAll(toA, b.rtpPort);
    const atB = await pb.waitFor(20);
    const atA = await pa.waitFor(20);
    assert.deepEqual(atB.map((p) => p.data), toB);
    assert.deepEqual(atA.map((p) => p.data), toA);
    assert.ok(atB.every((p) => p.port === b.rtpPort), 'B hears the relay from its own leg');
    assert.ok(atA.every((p) => p.port === a.rtpPort), 'A hears the relay from its own leg');
    assert.equal(a.received, 20);
    assert.equal(b.received, 20);
    assert.equal(a.dropped + b.dropped, 0);
  });

  it('latches to the port the party sends from, not the one its SDP names', async () => {
    const e = engine();
    const [a, b] = [await leg(e), await leg(e)];
    const [advertised, actual, pb] = [await party(), await party(), await party()];
    a.setSignalling(signalling(advertised));
    b.setSignalling(signalling(pb));
    a.forwardRtpTo(b);
    b.forwardRtpTo(a);
    assert.deepEqual(a.rtpDestination(), { address: HOST, port: advertised.port, latched: false });
    actual.send(rtp(0x1111, 1), a.rtpPort);
    await pb.waitFor(1);
    assert.deepEqual(a.rtpDestination(), { address: HOST, port: actual.port, latched: true });
    pb.send(rtp(0x2222, 1), b.rtpPort);
    await actual.waitFor(1);
    await sleep(50);
    assert.equal(advertised.received.length, 0, 'nothing goes to the SDP port once the real source is known');
  });

  it('takes media only from the signalling source IP: other addresses are dropped and counted, latched or not', async () => {
    const e = engine();
    const { a, pa, pb } = await bridged(e);
    const intruder = await party(OTHER_HOST);
    intruder.send(rtp(0x6666, 1), a.rtpPort);
    await until('the first intruder packet counted', () => (a.dropped === 1 ? true : undefined));
    assert.deepEqual(a.rtpDestination(), { address: HOST, port: pa.port, latched: false }, 'the intruder is not latched to');
    pa.send(rtp(0x1111, 1), a.rtpPort);
    await pb.waitFor(1);
    // past the quiet time a new source of the party could take over; one from another address never
    await sleep(QUIET_MS + 50);
    await intruder.sendAll(Array.from({ length: 5 }, (_, i) => rtp(0x6666, i + 2)), a.rtpPort);
    await until('the intruder counted', () => (a.dropped === 6 ? true : undefined));
    await sleep(50);
    assert.equal(pb.received.length, 1, 'nothing of the intruder is forwarded');
    assert.equal(a.received, 1);
    assert.deepEqual(a.rtpDestination(), { address: HOST, port: pa.port, latched: true });
  });

  it(`lets a second source of the party take over only after the first fell quiet (${QUIET_MS} ms)`, async () => {
    const e = engine();
    const { a, b, pa, pb } = await bridged(e);
    const newSource = await party();
    pa.send(rtp(0x1111, 1), a.rtpPort);
    await pb.waitFor(1);
    newSource.send(rtp(0x3333, 1), a.rtpPort);
    await until('the early packet counted', () => (a.dropped === 1 ? true : undefined));
    assert.equal(pb.received.length, 1, 'a second source is ignored while the first is active');
    await sleep(QUIET_MS + 50);
    const late = rtp(0x3333, 2);
    newSource.send(late, a.rtpPort);
    const arrived = await pb.waitFor(2);
    assert.deepEqual(arrived[1]!.data, late);
    assert.equal(a.lastRtp()?.ssrc, 0x3333);
    pb.send(rtp(0x2222, 1), b.rtpPort);
    await newSource.waitFor(1);
    assert.equal(pa.received.length, 0, 'replies follow the new source');
  });

  it('relays RTCP between port + 1 of the legs, to the signalled RTCP port until the party sends from its own', async () => {
    const e = engine();
    const [a, b] = [await leg(e), await leg(e)];
    const [paRtcp, pbRtcp, pbRtp] = [await party(), await party(), await party()];
    a.setSignalling(signalling(paRtcp, { port: paRtcp.port - 1, rtcpPort: paRtcp.port }));
    b.setSignalling(signalling(pbRtp, { rtcpPort: pbRtcp.port }));
    a.forwardRtcpTo(b);
    b.forwardRtcpTo(a);
    const report = Buffer.concat([Buffer.from([0x80, 200, 0, 6]), randomBytes(24)]);
    paRtcp.send(report, a.rtpPort + 1);
    const [atB] = await pbRtcp.waitFor(1);
    assert.deepEqual(atB!.data, report);
    assert.equal(atB!.port, b.rtpPort + 1, 'sent from the RTCP port of the other leg');
    assert.equal(pbRtp.received.length, 0, 'RTCP never goes to the RTP port');
    const back = Buffer.concat([Buffer.from([0x80, 201, 0, 1]), randomBytes(4)]);
    pbRtcp.send(back, b.rtpPort + 1);
    const [atA] = await paRtcp.waitFor(1);
    assert.deepEqual(atA!.data, back);
    assert.equal(a.received, 1);
    assert.equal(b.received, 1);
  });

  it('hands packets of a leg that is not forwarded to onRtp, whole and in order', async () => {
    const e = engine();
    const own = await leg(e);
    const phone = await party();
    own.setSignalling(signalling(phone));
    const heard: Buffer[] = [];
    own.onRtp = (packet, length) => heard.push(Buffer.from(packet.subarray(0, length)));
    const sent = Array.from({ length: 300 }, (_, i) => rtp(0x4444, i + 1, 160));
    // in bursts a socket buffer surely holds (about 270 such packets): the relay thread may not run at once
    for (let i = 0; i < sent.length; i += 50) {
      await phone.sendAll(sent.slice(i, i + 50), own.rtpPort);
      await until(`${i + 50} packets at onRtp`, () => (heard.length >= i + 50 ? true : undefined));
    }
    assert.deepEqual(heard, sent);
    assert.equal(e.undelivered, 0);

    own.onRtp = undefined;
    phone.send(rtp(0x4444, 301), own.rtpPort);
    await until('the packet without a handler counted', () => (own.received === 301 ? true : undefined));
    assert.equal(heard.length, 300, 'no handler, no delivery');
    assert.equal(own.dropped, 0, 'a packet nobody takes is received, not dropped');
  });

  it('a handler that throws loses that packet only: the error is reported and delivery goes on', async () => {
    const reported: unknown[] = [];
    const e = new NativeRelayEngine(addon, first, first + 39, clock, QUIET_MS, (err) => reported.push(err));
    engines.push(e);
    const own = await leg(e);
    const phone = await party();
    own.setSignalling(signalling(phone));
    const heard: number[] = [];
    own.onRtp = (packet) => {
      const seq = packet.readUInt16BE(2);
      if (seq === 2) throw new Error('a bug in one call\'s media code');
      heard.push(seq);
    };
    await phone.sendAll([rtp(0x4444, 1), rtp(0x4444, 2), rtp(0x4444, 3)], own.rtpPort);
    await until('packets 1 and 3', () => (heard.length >= 2 ? true : undefined));
    assert.deepEqual(heard, [1, 3]);
    assert.equal(reported.length, 1);
    assert.match(String(reported[0]), /a bug in one call/);
  });

  it('sends packets from JS to the signalled address before the first packet, to the latched one after; the buffer may be reused at once', async () => {
    const e = engine();
    const own = await leg(e);
    const [advertised, actual] = [await party(), await party()];
    own.setSignalling(signalling(advertised));
    const packet = rtp(0x5555, 1);
    const first = Buffer.from(packet);
    own.sendRtp(packet, packet.length);
    packet.fill(0x7f, 12);
    const [arrived] = await advertised.waitFor(1);
    assert.deepEqual(arrived!.data, first);
    assert.equal(arrived!.port, own.rtpPort, 'sent from the leg the party talks to');

    actual.send(rtp(0x1111, 1), own.rtpPort);
    await until('latched', () => (own.rtpDestination()?.latched ? true : undefined));
    const longer = Buffer.alloc(400, 0x33);
    own.sendRtp(longer, 200);
    const [latched] = await actual.waitFor(1);
    assert.equal(latched!.data.length, 200, 'only `length` bytes are sent');
  });

  it('sends nowhere before the first packet when the SDP names a private address that is not the SIP source', async () => {
    const e = engine();
    const own = await leg(e);
    const phone = await party();
    own.setSignalling(signalling(phone, { address: '10.1.2.3' }));
    assert.equal(own.rtpDestination(), undefined);
    own.sendRtp(rtp(0x5555, 1), 172);
    phone.send(rtp(0x1111, 1), own.rtpPort);
    await until('latched to the source', () => (own.rtpDestination()?.latched ? true : undefined));
    assert.deepEqual(own.rtpDestination(), { address: HOST, port: phone.port, latched: true });
    await sleep(30);
    assert.equal(phone.received.length, 0, 'the send before latching went nowhere');
  });

  it('reports counters, the last RTP position and times in the clock of the engine', async () => {
    const e = engine();
    const own = await leg(e);
    const phone = await party();
    own.setSignalling(signalling(phone));
    assert.equal(own.lastRtp(), undefined);
    const opened = own.lastReceivedAt;
    assert.ok(opened <= clock.now() && opened > clock.now() - 1_000, `a new leg counts as heard when opened: ${opened - START}`);
    clock.advance(10_000);
    const packet = rtp(0xdeadbeef, 4242);
    phone.send(packet, own.rtpPort);
    await until('received', () => (own.received === 1 ? true : undefined));
    const heardAt = own.lastReceivedAt;
    assert.ok(heardAt <= clock.now() && heardAt > clock.now() - 1_000, `last packet ${clock.now() - heardAt} ms ago`);
    const position = own.lastRtp();
    assert.ok(position);
    assert.equal(position.ssrc, 0xdeadbeef);
    assert.equal(position.sequence, 4242);
    assert.equal(position.timestamp, packet.readUInt32BE(4));
    assert.ok(Math.abs(position.at - heardAt) < 50, 'lastRtp().at is the packet time');
    // silence is timed by the relay thread in real time and told in the engine's clock
    await sleep(100);
    const silence = clock.now() - own.lastReceivedAt;
    assert.ok(silence >= 90 && silence < 1_000, `${silence} ms of silence`);

    own.setSignalling(signalling(phone, { port: phone.port + 2 }));
    assert.equal(own.lastRtp(), undefined, 'a new SDP address forgets the old stream');
    assert.equal(own.rtpDestination()?.latched, false, 'and the latch');
    e.closeLeg(own);
    assert.equal(own.received, 1, 'counters stay readable after close');
  });

  it('gives the ports back on close: bindable again, counted, never twice', async () => {
    const e = engine();
    const l = await leg(e);
    assert.equal(e.used, 1);
    assert.equal(e.capacity, 20);
    assert.equal(await canBind(l.rtpPort), false, 'the RTP port is held');
    assert.equal(await canBind(l.rtpPort + 1), false, 'the RTCP port is held');
    e.closeLeg(l);
    e.closeLeg(l);
    assert.equal(e.used, 0);
    assert.equal(await canBind(l.rtpPort), true);
    assert.equal(await canBind(l.rtpPort + 1), true);
    const six = await leg(e, 6);
    assert.equal(await canBind(six.rtpPort, 'udp6'), false, 'an IPv6 leg holds its port on ::');
    await e.close();
    assert.equal(await canBind(six.rtpPort, 'udp6'), true, 'engine close releases every leg');
    assert.equal(await e.openLeg(4), undefined, 'a closed engine opens nothing');
  });

  it('skips a port another program holds, and says when the range is used up', async () => {
    const blocker = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => blocker.bind(first, '0.0.0.0', () => resolve()));
    try {
      const e = engine(first, first + 5);
      const l1 = await leg(e);
      const l2 = await leg(e);
      assert.deepEqual([l1.rtpPort, l2.rtpPort], [first + 2, first + 4]);
      assert.equal(await e.openLeg(4), undefined);
    } finally {
      blocker.close();
    }
  });

  it('relays IPv6 legs on ::', async () => {
    const e = engine();
    const { a, pa, pb } = await bridged(e, 6);
    const packet = rtp(0x6666, 1);
    pa.send(packet, a.rtpPort);
    const [arrived] = await pb.waitFor(1);
    assert.deepEqual(arrived!.data, packet);
    assert.deepEqual(a.rtpDestination(), { address: '::1', port: pa.port, latched: true });
  });

  it('stops forwarding to a leg that closed, even when its port opens again for another call', async () => {
    const e = engine(first, first + 3);
    const { a, b, pa, pb } = await bridged(e);
    pa.send(rtp(0x1111, 1), a.rtpPort);
    await pb.waitFor(1);
    e.closeLeg(b);
    const reopened = await leg(e);
    assert.equal(reopened.rtpPort, b.rtpPort);
    const stranger = await party();
    reopened.setSignalling(signalling(stranger));
    pa.send(rtp(0x1111, 2), a.rtpPort);
    await until('the packet taken', () => (a.received === 2 ? true : undefined));
    await sleep(50);
    assert.equal(stranger.received.length, 0, 'the next call on the port hears nothing of the old one');
  });

  it('opens and closes 500 legs without leaking a descriptor', async () => {
    const rangeFirst = await freeConsecutivePorts(1_004);
    const even = rangeFirst + (rangeFirst % 2);
    const descriptorsBefore = openDescriptors();
    const e = engine(even, even + 1_001);
    const legs: RelayLeg[] = [];
    for (let i = 0; i < 500; i++) legs.push(await leg(e, i % 5 === 0 ? 6 : 4));
    // two sockets per leg, plus the epoll set and the thread's wake-up descriptor
    assert.equal(openDescriptors(), descriptorsBefore + 1_000 + 2);
    for (const l of legs) e.closeLeg(l);
    assert.equal(openDescriptors(), descriptorsBefore + 2);
    await e.close();
    assert.equal(openDescriptors(), descriptorsBefore, 'engine close gives back its own two');
  });
});
