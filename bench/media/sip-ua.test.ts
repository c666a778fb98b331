import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { DigestAuthenticator } from '../../src/auth/digest.js';
import { computeHa1 } from '../../src/auth/ha1.js';
import { parseCredentials } from '../../src/sip/headers.js';
import { FakeClock } from '../../test/support/fake-clock.js';
import { sleep } from '../processes.js';
import { audioAddress } from './sdp.js';
import { SipUserAgent } from './sip-ua.js';
import { cseqOf, formatSipMessage, headerOf, headersOf, paramOf, parseSipMessage, type SipMessage } from './sip-message.js';

const DOMAIN = 'pbx.test';
const WAIT_MS = 2_000;

/** The server side of the conversation, one datagram at a time. */
class ScriptedServer {
  private readonly queue: Array<{ message: SipMessage; text: string }> = [];
  private wake: (() => void) | undefined;

  private constructor(private readonly socket: dgram.Socket, readonly port: number) {
    socket.on('message', (data) => {
      this.queue.push({ message: parseSipMessage(data)!, text: data.toString('utf8') });
      this.wake?.();
    });
  }

  static async open(): Promise<ScriptedServer> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    return new ScriptedServer(socket, socket.address().port);
  }

  async next(): Promise<{ message: SipMessage; text: string }> {
    const deadline = Date.now() + WAIT_MS;
    while (this.queue.length === 0) {
      if (Date.now() > deadline) throw new Error('the user agent sent nothing');
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 50);
      });
    }
    return this.queue.shift()!;
  }

  /** Waits a little real time: the user agent sends at once when it sends at all. */
  async silent(): Promise<boolean> {
    await sleep(100);
    return this.queue.length === 0;
  }

  send(text: string, port: number): void {
    this.socket.send(text, port, '127.0.0.1');
  }

  reply(request: SipMessage, port: number, status: string, options: { toTag?: string; headers?: Array<[string, string]>; body?: string } = {}): void {
    const to = headerOf(request, 'to')!;
    const headers: Array<[string, string]> = [
      ...headersOf(request, 'via').map((via): [string, string] => ['Via', via]),
      ['From', headerOf(request, 'from')!],
      ['To', options.toTag === undefined ? to : `${to};tag=${options.toTag}`],
      ['Call-ID', headerOf(request, 'call-id')!],
      ['CSeq', headerOf(request, 'cseq')!],
      ...(options.headers ?? []),
    ];
    this.send(formatSipMessage(`SIP/2.0 ${status}`, headers, options.body), port);
  }

  close(): void {
    this.socket.close();
  }
}

describe('bench SIP user agent', () => {
  const digest = new DigestAuthenticator({ algorithms: ['MD5'], nonceLifetimeSeconds: 300, now: Date.now });
  const ha1Of = (user: string) => computeHa1('MD5', user, DOMAIN, `pw-${user}`);
  const verify = (message: SipMessage, header: string, method: string) =>
    digest.verify([parseCredentials(headerOf(message, header) ?? '')!], method, DOMAIN, (user) => ha1Of(user)).outcome;
  let server: ScriptedServer;
  let clock: FakeClock;
  let ua: SipUserAgent;

  before(async () => {
    server = await ScriptedServer.open();
    clock = new FakeClock(1_000_000);
    ua = await SipUserAgent.open({ serverPort: server.port, domain: DOMAIN, clock, answerPort: (user) => (user === '600' ? 41_000 : undefined) });
  });

  after(async () => {
    await ua.close();
    server.close();
  });

  it('registers its own address, answering the 401 with credentials the server accepts', async () => {
    const done = ua.register('500', 'pw-500', 10_000);
    const first = (await server.next()).message;
    assert.equal(first.method, 'REGISTER');
    assert.equal(first.uri, `sip:${DOMAIN}`);
    assert.equal(headerOf(first, 'contact'), `<sip:500@127.0.0.1:${ua.port}>`);
    assert.equal(headerOf(first, 'authorization'), undefined);
    server.reply(first, ua.port, '401 Unauthorized', { headers: [['WWW-Authenticate', digest.challenges(DOMAIN)[0]!]] });
    const second = (await server.next()).message;
    assert.equal(verify(second, 'authorization', 'REGISTER'), 'ok');
    assert.equal(cseqOf(second)?.seq, 2);
    assert.equal(headerOf(second, 'call-id'), headerOf(first, 'call-id'));
    assert.notEqual(paramOf(headerOf(second, 'via'), 'branch'), paramOf(headerOf(first, 'via'), 'branch'));
    server.reply(second, ua.port, '200 OK');
    await done;
  });

  it('retransmits on T1, doubling, and gives up at its timeout', async () => {
    const done = ua.register('501', 'pw-501', 3_000);
    const first = await server.next();
    clock.advance(499);
    assert.ok(await server.silent());
    clock.advance(1);
    assert.equal((await server.next()).text, first.text);
    clock.advance(999);
    assert.ok(await server.silent());
    clock.advance(1);
    assert.equal((await server.next()).text, first.text);
    const before = ua.counters.retransmissions;
    clock.advance(1_500);
    await assert.rejects(done, /REGISTER: no final response in time/);
    assert.equal(ua.counters.retransmissions, before);
    assert.ok(await server.silent());
  });

  it('places a call: 407, ACK, INVITE with credentials, 180, 200, ACK; then BYE', async () => {
    const placing = ua.call('500', 'pw-500', '600', 40_000, 10_000);
    const invite = (await server.next()).message;
    assert.equal(invite.method, 'INVITE');
    assert.equal(invite.uri, `sip:600@${DOMAIN}`);
    assert.deepEqual(audioAddress(invite.body), { address: '127.0.0.1', port: 40_000 });
    server.reply(invite, ua.port, '407 Proxy Authentication Required', { toTag: 'refused', headers: [['Proxy-Authenticate', digest.challenges(DOMAIN)[0]!]] });
    const failureAck = (await server.next()).message;
    assert.equal(failureAck.method, 'ACK');
    assert.equal(paramOf(headerOf(failureAck, 'via'), 'branch'), paramOf(headerOf(invite, 'via'), 'branch'));
    assert.equal(headerOf(failureAck, 'cseq'), '1 ACK');
    assert.equal(paramOf(headerOf(failureAck, 'to'), 'tag'), 'refused');

    const authorized = (await server.next()).message;
    assert.equal(cseqOf(authorized)?.seq, 2);
    assert.equal(verify(authorized, 'proxy-authorization', 'INVITE'), 'ok');
    server.reply(authorized, ua.port, '100 Trying');
    server.reply(authorized, ua.port, '180 Ringing', { toTag: 'leg' });
    const answer = 'v=0\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 20002 RTP/AVP 0\r\n';
    const ok = { toTag: 'leg', headers: [['Contact', '<sip:relay@127.0.0.1:5099>'], ['Content-Type', 'application/sdp']] as Array<[string, string]>, body: answer };
    server.reply(authorized, ua.port, '200 OK', ok);
    const ack = await server.next();
    assert.equal(ack.message.uri, 'sip:relay@127.0.0.1:5099');
    assert.equal(headerOf(ack.message, 'cseq'), '2 ACK');
    assert.equal(paramOf(headerOf(ack.message, 'to'), 'tag'), 'leg');

    const call = await placing;
    assert.deepEqual(call.media, { address: '127.0.0.2', port: 20_002 });
    assert.ok(call.ringMs !== undefined && call.ringMs >= 0);
    assert.ok(ua.isUp(call));
    // The 200 again means our ACK was lost: the same ACK goes again.
    server.reply(authorized, ua.port, '200 OK', ok);
    assert.equal((await server.next()).text, ack.text);

    const hangingUp = ua.hangUp(call, 5_000);
    const bye = (await server.next()).message;
    assert.equal(bye.method, 'BYE');
    assert.equal(bye.uri, 'sip:relay@127.0.0.1:5099');
    assert.equal(headerOf(bye, 'cseq'), '3 BYE');
    assert.equal(headerOf(bye, 'from'), headerOf(invite, 'from'));
    server.reply(bye, ua.port, '200 OK');
    await hangingUp;
    assert.ok(!ua.isUp(call));
  });

  it('reports the status of a refused call', async () => {
    const placing = ua.call('500', 'pw-500', '699', 40_002, 10_000);
    const invite = (await server.next()).message;
    server.reply(invite, ua.port, '404 Not Found', { toTag: 'nobody' });
    await assert.rejects(placing, /INVITE 500 -> 699: 404 Not Found/);
    assert.equal((await server.next()).message.method, 'ACK');
  });

  it('answers a call with 180 and 200, retransmits the 200 until the ACK, and takes the BYE', async () => {
    const offer = 'v=0\r\nc=IN IP4 127.0.0.3\r\nt=0 0\r\nm=audio 22000 RTP/AVP 0\r\n';
    const request = (method: string, cseq: string, toTag?: string, body = '') => formatSipMessage(`${method} sip:600@127.0.0.1:${ua.port} SIP/2.0`, [
      ['Via', `SIP/2.0/UDP 127.0.0.1:${server.port};branch=z9hG4bK-${method}-${cseq.split(' ')[0]}`],
      ['From', '"500" <sip:500@pbx.test>;tag=caller'],
      ['To', toTag === undefined ? '<sip:600@pbx.test>' : `<sip:600@pbx.test>;tag=${toTag}`],
      ['Call-ID', 'leg-b-1'], ['CSeq', cseq], ['Contact', `<sip:127.0.0.1:${server.port}>`],
      ...(body ? [['Content-Type', 'application/sdp'] as [string, string]] : []),
    ], body);
    server.send(request('INVITE', '1 INVITE', undefined, offer), ua.port);
    const ringing = (await server.next()).message;
    assert.equal(ringing.status, 180);
    const tag = paramOf(headerOf(ringing, 'to'), 'tag')!;
    assert.ok(tag);
    assert.equal(headerOf(ringing, 'via'), `SIP/2.0/UDP 127.0.0.1:${server.port};branch=z9hG4bK-INVITE-1`);
    const ok = await server.next();
    assert.equal(ok.message.status, 200);
    assert.equal(paramOf(headerOf(ok.message, 'to'), 'tag'), tag);
    assert.deepEqual(audioAddress(ok.message.body), { address: '127.0.0.1', port: 41_000 });
    assert.deepEqual(ua.incomingFor('600')?.media, { address: '127.0.0.3', port: 22_000 });
    assert.equal(ua.incomingFor('600')?.state, 'answered');

    clock.advance(500);
    assert.equal((await server.next()).text, ok.text);
    server.send(request('ACK', '1 ACK', tag), ua.port);
    await sleep(50);
    assert.equal(ua.incomingFor('600')?.state, 'confirmed');
    clock.advance(10_000);
    assert.ok(await server.silent());

    server.send(request('BYE', '2 BYE', tag), ua.port);
    const byeOk = (await server.next()).message;
    assert.equal(byeOk.status, 200);
    assert.equal(headerOf(byeOk, 'cseq'), '2 BYE');
    assert.equal(ua.incomingFor('600')?.state, 'ended');
    server.send(request('BYE', '2 BYE', tag), ua.port);
    assert.equal((await server.next()).message.status, 481);
  });

  it('counts datagrams that are not SIP and answers none of them', async () => {
    const before = ua.counters.unparsable;
    server.send('\x80\x00\x12\x34 not SIP', ua.port);
    assert.ok(await server.silent());
    assert.equal(ua.counters.unparsable, before + 1);
  });

  it('refuses a call for a user it has no media port for', async () => {
    server.send(formatSipMessage(`INVITE sip:700@127.0.0.1:${ua.port} SIP/2.0`, [
      ['Via', `SIP/2.0/UDP 127.0.0.1:${server.port};branch=z9hG4bK-700`], ['From', '<sip:500@pbx.test>;tag=c'],
      ['To', '<sip:700@pbx.test>'], ['Call-ID', 'leg-b-2'], ['CSeq', '1 INVITE'],
    ]), ua.port);
    assert.equal((await server.next()).message.status, 480);
    assert.equal(ua.incomingFor('700'), undefined);
  });
});
