// A service's call:dial and call:route through the call manager: the B2BUA rings the phones for a
// caller the service holds, hands the caller back when nobody answers, and a routed call goes on as
// if the caller had dialled the new number (src/call/call-manager.ts, src/call/local-call.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import type { DialOutcome } from '../../src/call/call.js';
import type { Application, ApplicationDirectory, LocalCallHandle, ServiceContext } from '../../src/call/local-call.js';
import { TONE_PLANS } from '../../src/media/tones.js';
import { MediaRelay } from '../../src/media/relay/media-relay.js';
import { parseSdp, type SdpStream } from '../../src/media/sdp/session-sdp.js';
import type { ServiceOutcome } from '../../src/services/engine/service-status.js';
import { LuaServices, type ServiceNumber, type ServiceNumberLookup, type ServiceRunner } from '../../src/services/lua-services.js';
import type { Endpoint, SipRequest, SipResponse } from '../../src/sip/message.js';
import type { Binding, NewCallRecord } from '../../src/store/types.js';
import { FakeRelayEngine } from '../support/fake-relay.js';
import {
  ANSWER_SDP, CALLER_SOURCE, DEVICE_A, DEVICE_A_URI, DEVICE_B, DEVICE_B_URI, FakeServerTransaction, OFFER_SDP, START, binding,
  calleeInDialog, callerCancel, callerInDialog, callerInvite, deliver, inviteTo, setup, toTagOf,
  type Harness, type SetupOptions,
} from './harness.js';

/** our address as the caller and as the phones reach us, told apart to catch a side mixed up */
const TO_CALLER = '203.0.113.1';
const TO_CALLEE = '203.0.113.2';
const DEVICE_C: Endpoint = { transport: 'UDP', address: '192.0.2.23', port: 5064 };
const DEVICE_C_URI = 'sip:201@192.0.2.23:5064';
const RING_SECONDS = 20;

/** The services here use nothing of their context: the call manager only hands it along. */
const SERVICES = { tonePlan: () => TONE_PLANS.us!, ringSeconds: () => 30 } as ServiceContext;

interface Fixture {
  h: Harness;
  engine: FakeRelayEngine;
}

/**
 * The call manager with a relay over a fake engine (a service's own calls need one), extension 201
 * with phone C beside 200 with phones A and B. The relay never times a call out.
 */
function fixture(options: SetupOptions, bindings: Binding[] = [
  binding(DEVICE_A_URI, DEVICE_A),
  binding(DEVICE_B_URI, DEVICE_B, { registeredAt: START - 1 }),
  binding(DEVICE_C_URI, DEVICE_C, { number: '201' }),
]): Fixture {
  const engine = new FakeRelayEngine(100);
  const h = setup(bindings, (clock) => new MediaRelay({
    engine,
    clock,
    timeoutSeconds: () => 0,
    localAddressFor: (remote) => (remote === CALLER_SOURCE.address ? TO_CALLER : TO_CALLEE),
  }), { services: SERVICES, extensions: [{ number: '201', displayName: 'Dave' }], ...options });
  return { h, engine };
}

/** The extension service: it takes every call to an extension. */
function forEveryExtension(app: Application): ApplicationDirectory {
  return { find: () => app };
}

function serviceNumbers(apps: Record<string, Application>): ApplicationDirectory {
  return { find: (_domain, number) => apps[number] };
}

/** Lets the promise chains run (the service, the relay opening its legs); none of them waits on a timer. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

interface Gate {
  promise: Promise<void>;
  open(): void;
}

function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** What a service saw of its call. */
class ServiceLog {
  readonly outcomes: DialOutcome[] = [];
  readonly errors: Error[] = [];
  readonly handles: LocalCallHandle[] = [];
  /** the `ended` of each handle, resolved or not */
  readonly ended: boolean[] = [];
  /** the service function returned */
  returned = false;

  /** An application running `body`, which records what happens to its call. */
  app(body: (call: LocalCallHandle, dial: (targets: string[]) => Promise<DialOutcome>) => Promise<void> | void): Application {
    return async (call) => {
      const index = this.handles.push(call) - 1;
      this.ended.push(false);
      void call.ended.then(() => (this.ended[index] = true));
      const dial = async (targets: string[]) => {
        const outcome = await call.dial(targets, RING_SECONDS);
        this.outcomes.push(outcome);
        return outcome;
      };
      try {
        await body(call, dial);
      } catch (err) {
        this.errors.push(err as Error);
      }
      this.returned = true;
    };
  }
}

/** Alice (100) dials `number`; the caller's INVITE transaction. */
async function dialIn(h: Harness, number = '200'): Promise<{ tx: FakeServerTransaction }> {
  const invite = callerInvite({ requestUri: `sip:${number}@example.com` });
  const tx = new FakeServerTransaction(invite);
  h.stack.inviteTx = tx;
  h.manager.handleInvite(invite, tx);
  await settle();
  return { tx };
}

function audioOf(msg: SipResponse | SipRequest): SdpStream {
  const sdp = parseSdp(msg.body.toString('utf8'));
  assert.ok(sdp?.streams[0], 'SDP with an audio stream');
  return sdp.streams[0];
}

function summary(rec: NewCallRecord | undefined): Partial<NewCallRecord> | undefined {
  if (!rec) return undefined;
  const { caller, callee, disposition, finalStatus, hangupBy } = rec;
  return { caller, callee, disposition, finalStatus, hangupBy };
}

function finals(tx: FakeServerTransaction): number[] {
  return tx.statuses().filter((s) => s >= 200);
}

describe('call:dial answered', () => {
  it('the caller hears the phones ring, then gets their answer through the relay; one call listed and recorded', async () => {
    const log = new ServiceLog();
    const { h, engine } = fixture({ extensionService: forEveryExtension(log.app(async (_call, dial) => void (await dial(['200'])))) });
    const { tx } = await dialIn(h);
    const a = inviteTo(h.stack, DEVICE_A);
    inviteTo(h.stack, DEVICE_B);
    assert.equal(audioOf(a.req).address, TO_CALLEE, 'the phones are offered the relay');

    const ringing = h.manager.list();
    assert.equal(ringing.length, 1, 'the service\'s call and the call it rings are one call');
    assert.deepEqual([ringing[0]!.caller, ringing[0]!.callee, ringing[0]!.state], ['100', '200', 'ringing']);
    assert.equal(ringing[0]!.id, log.handles[0]!.id, 'listed under the id the service\'s call had before it dialled');
    assert.equal(h.manager.count(), 1);

    deliver(a, 180, { tag: 'tagA' });
    assert.deepEqual(tx.statuses(), [180]);
    deliver(a, 200, { tag: 'tagA', sdp: ANSWER_SDP });
    await settle();
    assert.deepEqual(tx.statuses(), [180, 200]);
    const answer = audioOf(tx.final());
    assert.deepEqual([answer.address, answer.port], [TO_CALLER, engine.opened[0]!.rtpPort], 'the caller is answered with the relay');

    assert.deepEqual(log.outcomes, [], 'call:dial waits while the call is on');
    assert.deepEqual(log.ended, [false]);
    assert.equal(h.records.length, 0);
    assert.deepEqual(h.manager.list().map((c) => [c.id, c.callee, c.state]), [[ringing[0]!.id, '200', 'answered']]);

    const bye = callerInDialog('BYE', 11, toTagOf(tx.final()));
    const byeTx = new FakeServerTransaction(bye);
    assert.equal(h.manager.handleInDialog(bye, byeTx), true);
    await settle();
    assert.equal(byeTx.final().status, 200);
    assert.equal(h.stack.byMethod('BYE').filter((s) => s.dest.address === DEVICE_A.address).length, 1, 'the phone got the BYE');
    assert.deepEqual(log.outcomes, [{ status: 'answered', answeredBy: '200' }]);
    assert.deepEqual(log.ended, [true]);
    assert.equal(log.returned, true);
    assert.deepEqual(h.records.map(summary), [{ caller: '100', callee: '200', disposition: 'answered', finalStatus: 200, hangupBy: 'caller' }]);
    assert.deepEqual(h.manager.list(), []);
    assert.equal(engine.used, 0, 'every relay leg is back');
  });

  it('shutdown ends the answered call once: BYE to both sides, one record', async () => {
    const log = new ServiceLog();
    const { h } = fixture({ extensionService: forEveryExtension(log.app(async (_call, dial) => void (await dial(['200'])))) });
    const { tx } = await dialIn(h);
    const a = inviteTo(h.stack, DEVICE_A);
    inviteTo(h.stack, DEVICE_B);
    deliver(a, 200, { tag: 'tagA', sdp: ANSWER_SDP });
    await settle();
    assert.equal(tx.final().status, 200);

    h.manager.shutdown();
    await settle();
    assert.equal(h.stack.byMethod('BYE').length, 2, 'one BYE to the caller, one to the phone');
    assert.deepEqual(log.outcomes, [{ status: 'answered', answeredBy: '200' }]);
    assert.deepEqual(h.records.map(summary), [{ caller: '100', callee: '200', disposition: 'answered', finalStatus: 200, hangupBy: 'system' }]);
    assert.deepEqual(h.manager.list(), []);
  });

  it('ends when the phone hangs up, with the phone\'s SDP passed through when the media may go direct', async () => {
    const log = new ServiceLog();
    const { h } = fixture({ directMedia: true, extensionService: forEveryExtension(log.app(async (_call, dial) => void (await dial(['200'])))) });
    const { tx } = await dialIn(h);
    const a = inviteTo(h.stack, DEVICE_A);
    assert.equal(a.req.body.toString(), OFFER_SDP, 'the caller\'s offer goes to the phones as it is');
    deliver(a, 200, { tag: 'tagA', sdp: ANSWER_SDP });
    await settle();
    assert.equal(tx.final().status, 200);
    assert.equal(tx.final().body.toString(), ANSWER_SDP);
    assert.deepEqual(log.ended, [false]);

    const bye = calleeInDialog(a, 'BYE', 1);
    const byeTx = new FakeServerTransaction(bye);
    assert.equal(h.manager.handleInDialog(bye, byeTx), true);
    await settle();
    assert.equal(byeTx.final().status, 200);
    assert.deepEqual(log.outcomes, [{ status: 'answered', answeredBy: '200' }]);
    assert.deepEqual(log.ended, [true]);
    assert.deepEqual(h.records.map(summary), [{ caller: '100', callee: '200', disposition: 'answered', finalStatus: 200, hangupBy: 'callee' }]);
  });
});

describe('call:dial not answered', () => {
  it('gives the caller back untouched after the ring time; the service\'s 408 is the one final response and record', async () => {
    const log = new ServiceLog();
    const decided = gate();
    const { h, engine } = fixture({
      extensionService: forEveryExtension(log.app(async (call, dial) => {
        if ((await dial(['200'])).status !== 'noanswer') return;
        await decided.promise;
        call.reject(408, 'Request Timeout');
      })),
    });
    const { tx } = await dialIn(h);
    deliver(inviteTo(h.stack, DEVICE_A), 180, { tag: 'tagA' });
    deliver(inviteTo(h.stack, DEVICE_B), 180, { tag: 'tagB' });

    h.clock.advance(RING_SECONDS * 1000 - 1);
    await settle();
    assert.deepEqual(log.outcomes, []);
    h.clock.advance(1);
    await settle();
    assert.deepEqual(log.outcomes, [{ status: 'noanswer', code: 408 }]);
    assert.deepEqual(h.stack.cancels.map((c) => c.dest.address).sort(), [DEVICE_A.address, DEVICE_B.address]);
    assert.deepEqual(finals(tx), [], 'no final response while the service decides');
    assert.equal(h.records.length, 0);
    assert.deepEqual(h.manager.list().map((c) => [c.callee, c.state]), [['200', 'ringing']], 'the service holds the call again');
    assert.equal(engine.used, 0, 'the relay of the failed dial is closed');

    decided.open();
    await settle();
    assert.equal(tx.final().status, 408);
    assert.deepEqual(h.records.map(summary), [{ caller: '100', callee: '200', disposition: 'no_answer', finalStatus: 408, hangupBy: 'system' }]);
    assert.deepEqual(h.manager.list(), []);
  });

  for (const { what, replies, outcome } of [
    { what: 'busy from every phone', replies: [486, 486], outcome: { status: 'busy', code: 486 } },
    { what: 'a 6xx from one phone', replies: [180, 603], outcome: { status: 'busy', code: 603 } },
    { what: 'unavailable from every phone', replies: [480, 480], outcome: { status: 'unavailable', code: 480 } },
    { what: 'a refusal', replies: [403, 403], outcome: { status: 'failed', code: 403 } },
  ] as const) {
    it(`reports ${what} to the service without a response to the caller`, async () => {
      const log = new ServiceLog();
      const { h } = fixture({ extensionService: forEveryExtension(log.app(async (_call, dial) => void (await dial(['200'])))) });
      const { tx } = await dialIn(h);
      deliver(inviteTo(h.stack, DEVICE_A), replies[0], { tag: 'tagA' });
      deliver(inviteTo(h.stack, DEVICE_B), replies[1], { tag: 'tagB' });
      await settle();
      assert.deepEqual(log.outcomes, [outcome]);
      if (replies[0] < 200) assert.deepEqual(h.stack.cancels.map((c) => c.dest.address), [DEVICE_A.address], 'the ringing phone is cancelled');
      // the service returned without a word: the caller gets the server's 480
      assert.deepEqual(finals(tx), [480]);
      assert.deepEqual(h.records.map(summary), [{ caller: '100', callee: '200', disposition: 'failed', finalStatus: 480, hangupBy: 'system' }]);
    });
  }

  it('a phone that only rings outlasts one that fails: no answer once the ring time is over', async () => {
    const log = new ServiceLog();
    const { h } = fixture({ extensionService: forEveryExtension(log.app(async (_call, dial) => void (await dial(['200'])))) });
    await dialIn(h);
    deliver(inviteTo(h.stack, DEVICE_A), 180, { tag: 'tagA' });
    deliver(inviteTo(h.stack, DEVICE_B), 486, { tag: 'tagB' });
    await settle();
    assert.deepEqual(log.outcomes, [], 'phone A still rings');
    h.clock.advance(RING_SECONDS * 1000);
    await settle();
    assert.deepEqual(log.outcomes, [{ status: 'noanswer', code: 408 }]);
    assert.deepEqual(h.stack.cancels.map((c) => c.dest.address), [DEVICE_A.address]);
  });

  it('the service forwards to another extension after the first was busy, and that one answers', async () => {
    const log = new ServiceLog();
    const { h } = fixture({
      extensionService: forEveryExtension(log.app(async (_call, dial) => {
        if ((await dial(['200'])).status === 'busy') await dial(['201']);
      })),
    });
    const { tx } = await dialIn(h);
    deliver(inviteTo(h.stack, DEVICE_A), 486, { tag: 'tagA' });
    deliver(inviteTo(h.stack, DEVICE_B), 486, { tag: 'tagB' });
    await settle();
    const c = inviteTo(h.stack, DEVICE_C);
    assert.deepEqual(finals(tx), []);
    deliver(c, 180, { tag: 'tagC' });
    deliver(c, 200, { tag: 'tagC', sdp: ANSWER_SDP });
    await settle();
    assert.deepEqual(tx.statuses(), [180, 200]);
    assert.deepEqual(h.manager.list().map((x) => [x.callee, x.state]), [['201', 'answered']]);

    const bye = callerInDialog('BYE', 11, toTagOf(tx.final()));
    assert.equal(h.manager.handleInDialog(bye, new FakeServerTransaction(bye)), true);
    await settle();
    assert.deepEqual(log.outcomes, [{ status: 'busy', code: 486 }, { status: 'answered', answeredBy: '201' }]);
    assert.deepEqual(h.records.map(summary), [{ caller: '100', callee: '201', disposition: 'answered', finalStatus: 200, hangupBy: 'caller' }]);
  });

  it('the caller can still hang up a forwarded call long after the first dial rang and failed', async () => {
    const log = new ServiceLog();
    const { h } = fixture({
      extensionService: forEveryExtension(log.app(async (_call, dial) => {
        if ((await dial(['200'])).status === 'noanswer') await dial(['201']);
      })),
    });
    const { tx } = await dialIn(h);
    deliver(inviteTo(h.stack, DEVICE_A), 180, { tag: 'tagA' });
    h.clock.advance(RING_SECONDS * 1000);
    await settle();
    const c = inviteTo(h.stack, DEVICE_C);
    deliver(c, 200, { tag: 'tagC', sdp: ANSWER_SDP });
    await settle();
    assert.equal(tx.final().status, 200);

    // past the time the first dial's caller dialog (the same dialog: same Call-ID and tags) is kept
    h.clock.advance(60_000);
    const bye = callerInDialog('BYE', 11, toTagOf(tx.final()));
    const byeTx = new FakeServerTransaction(bye);
    assert.equal(h.manager.handleInDialog(bye, byeTx), true, 'the BYE finds the call');
    await settle();
    assert.equal(byeTx.final().status, 200);
    assert.equal(h.stack.byMethod('BYE').filter((s) => s.dest.address === DEVICE_C.address).length, 1);
    assert.deepEqual(h.records.map(summary), [{ caller: '100', callee: '201', disposition: 'answered', finalStatus: 200, hangupBy: 'caller' }]);
  });
});

describe('call:dial without a phone, and cancelled', () => {
  it('is unavailable at once when no target has a registered phone, and sends nothing', async () => {
    const log = new ServiceLog();
    const decided = gate();
    const { h } = fixture({
      extensionService: forEveryExtension(log.app(async (call, dial) => {
        await dial(['201']);
        await dial(['999']);
        await decided.promise;
        call.reject(480, 'Temporarily Unavailable');
      })),
    }, [binding(DEVICE_A_URI, DEVICE_A)]);
    const timers = h.clock.pending();
    const { tx } = await dialIn(h);
    assert.deepEqual(log.outcomes, [{ status: 'unavailable', code: 480 }, { status: 'unavailable', code: 480 }]);
    assert.equal(h.stack.requests.length, 0);
    assert.equal(h.clock.pending(), timers, 'no ring timer was set');
    assert.deepEqual(finals(tx), []);
    decided.open();
    await settle();
    assert.deepEqual(finals(tx), [480]);
    assert.equal(h.records.length, 1);
  });

  it('a CANCEL from the caller while the phones ring: 487, CANCEL to the phones, outcome cancelled, one record', async () => {
    const log = new ServiceLog();
    const { h } = fixture({
      extensionService: forEveryExtension(log.app(async (call, dial) => {
        if ((await dial(['200'])).status === 'cancelled') call.reject(480, 'Temporarily Unavailable');
      })),
    });
    const { tx } = await dialIn(h);
    deliver(inviteTo(h.stack, DEVICE_A), 180, { tag: 'tagA' });
    deliver(inviteTo(h.stack, DEVICE_B), 180, { tag: 'tagB' });
    const cancel = callerCancel();
    const cancelTx = new FakeServerTransaction(cancel);
    h.manager.handleCancel(cancel, cancelTx);
    await settle();
    assert.equal(cancelTx.final().status, 200);
    assert.equal(tx.final().status, 487);
    assert.deepEqual(h.stack.cancels.map((c) => c.dest.address).sort(), [DEVICE_A.address, DEVICE_B.address]);
    assert.deepEqual(log.outcomes, [{ status: 'cancelled', code: 487 }]);
    assert.deepEqual(log.ended, [true]);
    assert.deepEqual(h.records.map(summary), [{ caller: '100', callee: '200', disposition: 'cancelled', finalStatus: 487, hangupBy: 'caller' }]);
    assert.deepEqual(h.manager.list(), []);
  });

  it('the API hangs up the service\'s call while its dial rings: CANCEL to the phones, 487 to the caller, one record', async () => {
    const log = new ServiceLog();
    const { h } = fixture({
      extensionService: forEveryExtension(log.app(async (call, dial) => {
        const outcome = await dial(['200']);
        if (outcome.status !== 'answered' && outcome.status !== 'cancelled') call.reject(outcome.code);
      })),
    });
    const { tx } = await dialIn(h);
    deliver(inviteTo(h.stack, DEVICE_A), 180, { tag: 'tagA' });
    deliver(inviteTo(h.stack, DEVICE_B), 180, { tag: 'tagB' });
    // the id the API saw an instant before the service began to dial
    assert.equal(h.manager.hangup(log.handles[0]!.id), true);
    await settle();
    assert.equal(tx.final().status, 487);
    assert.deepEqual(h.stack.cancels.map((c) => c.dest.address).sort(), [DEVICE_A.address, DEVICE_B.address]);
    assert.deepEqual(log.ended, [true]);
    assert.deepEqual(h.records.map(summary), [{ caller: '100', callee: '200', disposition: 'cancelled', finalStatus: 487, hangupBy: 'system' }]);
    assert.deepEqual(h.manager.list(), []);
  });
});

/** A runner of Lua services whose every script fails, at once or after doing `script` on the host's side. */
function failingRunner(script?: (callId: string) => Promise<void> | void): ServiceRunner & { runs: string[] } {
  const runs: string[] = [];
  return {
    runs,
    isRunning: () => true,
    run: async (service, call): Promise<ServiceOutcome> => {
      runs.push(service);
      await script?.(call.id);
      return { ok: false, kind: 'crashed', error: 'the worker died' };
    },
    end: () => undefined,
  };
}

/** LuaServices on the fixture's clock, for `numbers` and as the extension service; `runner` stands for the Lua workers. */
function withLua(runner: ServiceRunner, numbers: ServiceNumberLookup = { find: () => undefined }): Fixture & { lua: LuaServices } {
  let lua: LuaServices | undefined;
  // the directories are asked only when a call comes in, by which time LuaServices exists
  const f = fixture({
    applications: { find: (domain, number) => lua?.find(domain, number) },
    extensionService: { find: (domain, number) => lua?.extensions.find(domain, number) },
  });
  lua = new LuaServices(numbers, runner, f.h.clock, pino({ level: 'silent' }));
  return { ...f, lua };
}

describe('a failed service', () => {
  it('a Lua extension service that fails before answering lets the phones ring as they are', async () => {
    const runner = failingRunner();
    const { h } = withLua(runner);
    const { tx } = await dialIn(h);
    assert.deepEqual(runner.runs, ['extension']);
    const a = inviteTo(h.stack, DEVICE_A);
    inviteTo(h.stack, DEVICE_B);
    deliver(a, 200, { tag: 'tagA', sdp: ANSWER_SDP });
    await settle();
    assert.equal(tx.final().status, 200);
    const bye = callerInDialog('BYE', 11, toTagOf(tx.final()));
    h.manager.handleInDialog(bye, new FakeServerTransaction(bye));
    assert.deepEqual(h.records.map(summary), [{ caller: '100', callee: '200', disposition: 'answered', finalStatus: 200, hangupBy: 'caller' }]);
  });

  it('an extension service that throws before answering lets the phones ring as they are', async () => {
    const { h } = fixture({ extensionService: forEveryExtension(() => Promise.reject(new Error('broken service'))) });
    const { tx } = await dialIn(h);
    assert.deepEqual(finals(tx), [], `no refusal (got ${tx.statuses().join(',')})`);
    assert.equal(h.stack.byMethod('INVITE').length, 2, 'both phones of 200 ring');
  });

  it('a Lua extension service that dies while its call:dial rings still leaves the caller a final response', async () => {
    let lua: LuaServices | undefined;
    const f = withLua(failingRunner((callId) => void lua?.lookup(callId)?.dial(['200'], RING_SECONDS)));
    lua = f.lua;
    const { h } = f;
    const { tx } = await dialIn(h);
    assert.equal(h.stack.byMethod('INVITE').length, 2, 'the dial rang the phones before the service died');
    h.clock.advance(RING_SECONDS * 1000);
    await settle();
    assert.equal(finals(tx).length, 1, `one final response once nobody answered (got ${tx.statuses().join(',')})`);
    assert.equal(h.records.length, 1);
  });

  it('a Lua service that fails during early media still hands the call to its fallback', async () => {
    let lua: LuaServices | undefined;
    const ivr: ServiceNumber = { service: 'ivr', args: {}, fallback: '200' };
    const f = withLua(failingRunner(async (callId) => void (await lua?.lookup(callId)?.earlyMedia())), { find: (_d, n) => (n === '*5' ? ivr : undefined) });
    lua = f.lua;
    const { h } = f;
    const { tx } = await dialIn(h, '*5');
    assert.deepEqual(tx.statuses().slice(0, 1), [183], 'the service had early media');
    // a phone keeps the first SDP it got (RFC 3261 §13.2.1): the call is answered with it, then the fallback rings
    assert.deepEqual(finals(tx), [200], `answered, not refused (got ${tx.statuses().join(',')})`);
    for (let i = 0; i < 10; i++) await settle();
    assert.equal(h.stack.byMethod('INVITE').length, 2, 'the fallback 200 rings');
  });
});

describe('call:route', () => {
  it('hands the unanswered call to an extension: its phones ring and the call is recorded once', async () => {
    const log = new ServiceLog();
    const { h } = fixture({ applications: serviceNumbers({ '*5': log.app((call) => call.route('200')) }) });
    const { tx } = await dialIn(h, '*5');
    assert.deepEqual(log.ended, [true], 'the service is done with the call');
    assert.deepEqual(log.errors, []);
    const a = inviteTo(h.stack, DEVICE_A);
    inviteTo(h.stack, DEVICE_B);
    assert.deepEqual(h.manager.list().map((c) => [c.callee, c.state]), [['200', 'ringing']]);
    deliver(a, 200, { tag: 'tagA', sdp: ANSWER_SDP });
    await settle();
    assert.equal(tx.final().status, 200);
    const bye = callerInDialog('BYE', 11, toTagOf(tx.final()));
    h.manager.handleInDialog(bye, new FakeServerTransaction(bye));
    assert.deepEqual(h.records.map(summary), [{ caller: '100', callee: '200', disposition: 'answered', finalStatus: 200, hangupBy: 'caller' }]);
  });

  it('two services that route to each other end with 482 after the hop limit', async () => {
    const runs = { '*1': 0, '*2': 0 };
    const { h } = fixture({
      applications: serviceNumbers({
        '*1': (call) => {
          runs['*1']++;
          call.route('*2');
        },
        '*2': (call) => {
          runs['*2']++;
          call.route('*1');
        },
      }),
    });
    const { tx } = await dialIn(h, '*1');
    assert.equal(tx.final().status, 482);
    assert.ok(runs['*1'] > 1 && runs['*2'] > 1, `both services ran again and again: ${JSON.stringify(runs)}`);
    assert.ok(runs['*1'] + runs['*2'] < 50, 'the hop limit stopped them');
    assert.equal(h.records.length, 1);
    assert.deepEqual([h.records[0]!.disposition, h.records[0]!.finalStatus], ['failed', 482]);
    assert.deepEqual(h.manager.list(), []);
  });

  it('an answered call routed on goes on, answered, in the service of the number', async () => {
    const first = new ServiceLog();
    const second = new ServiceLog();
    let answeredWhenTaken: boolean | undefined;
    const { h } = fixture({
      applications: serviceNumbers({
        '*5': first.app(async (call) => {
          await call.answer();
          call.route('*6');
        }),
        '*6': second.app((call) => {
          answeredWhenTaken = call.answered;
          call.hangup();
        }),
      }),
    });
    const { tx } = await dialIn(h, '*5');
    await settle();
    assert.deepEqual([first.errors, second.errors], [[], []]);
    assert.equal(second.handles[0], first.handles[0], 'the same call');
    assert.equal(answeredWhenTaken, true);
    assert.equal(tx.final().status, 200, 'answered once');
    assert.equal(h.stack.byMethod('INVITE').length, 0, 'no phone rang');
    assert.equal(h.stack.byMethod('BYE').length, 1, 'the second service hung up');
    assert.deepEqual(h.records.map(summary), [{ caller: '100', callee: '*5', disposition: 'answered', finalStatus: 200, hangupBy: 'callee' }]);
  });

  it('two services that route an answered call to each other are hung up after the hop limit', async () => {
    let runs = 0;
    const { h } = fixture({
      applications: serviceNumbers({
        '*1': async (call) => {
          runs++;
          if (!call.answered) await call.answer();
          call.route('*2');
        },
        '*2': (call) => {
          runs++;
          call.route('*1');
        },
      }),
    });
    const { tx } = await dialIn(h, '*1');
    await settle();
    assert.equal(tx.final().status, 200);
    assert.ok(runs > 2 && runs < 50, `the hop limit stopped them after ${runs} services`);
    assert.equal(h.stack.byMethod('BYE').length, 1);
    assert.deepEqual(h.records.map(summary), [{ caller: '100', callee: '*1', disposition: 'answered', finalStatus: 200, hangupBy: 'callee' }]);
  });
});

describe('isBusy', () => {
  it('counts talking and placing a call, not a phone that only rings', async () => {
    const { h } = fixture({});
    await dialIn(h);
    assert.equal(h.manager.isBusy('example.com', '100'), true, 'the caller is placing a call');
    assert.equal(h.manager.isBusy('example.com', '200'), false, 'a ringing phone is not busy');
    assert.equal(h.manager.isBusy('other.com', '100'), false, 'another domain\'s 100');
    deliver(inviteTo(h.stack, DEVICE_A), 200, { tag: 'tagA', sdp: ANSWER_SDP });
    await settle();
    assert.equal(h.manager.isBusy('example.com', '200'), true, 'the callee is talking');
  });

  it('counts a caller a service holds, and the phone its call:dial rings only once answered', async () => {
    const hold = gate();
    const { h } = fixture({
      applications: serviceNumbers({ '*5': () => hold.promise }),
      extensionService: forEveryExtension(async (call) => void (await call.dial(['200'], RING_SECONDS))),
    });
    await dialIn(h, '*5');
    assert.equal(h.manager.isBusy('example.com', '100'), true, 'talking to a service');
    hold.open();
    await settle();
    assert.equal(h.manager.isBusy('example.com', '100'), false);

    const { tx } = await dialIn(h, '200');
    assert.equal(h.manager.isBusy('example.com', '100'), true);
    assert.equal(h.manager.isBusy('example.com', '200'), false, 'the dial only rings 200');
    deliver(inviteTo(h.stack, DEVICE_A), 200, { tag: 'tagA', sdp: ANSWER_SDP });
    await settle();
    assert.equal(h.manager.isBusy('example.com', '200'), true);
    const bye = callerInDialog('BYE', 11, toTagOf(tx.final()));
    h.manager.handleInDialog(bye, new FakeServerTransaction(bye));
    await settle();
    assert.equal(h.manager.isBusy('example.com', '100'), false);
    assert.equal(h.manager.isBusy('example.com', '200'), false);
  });
});

/** A full collection: V8's gc(), reached without starting node with --expose-gc. */
async function collectGarbage(): Promise<void> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  // a WeakRef's target lives until the job that read it has ended
  await new Promise((resolve) => setImmediate(resolve));
  gc();
}

describe('call:dial memory', () => {
  it('holds nothing of the service\'s call once the call it dialled has ended (only that call stays, for late requests)', async () => {
    let service: WeakRef<LocalCallHandle> | undefined;
    const { h } = fixture({
      extensionService: forEveryExtension(async (call) => {
        service = new WeakRef(call);
        await call.dial(['200'], RING_SECONDS);
      }),
    });
    const { tx } = await dialIn(h);
    deliver(inviteTo(h.stack, DEVICE_A), 200, { tag: 'tagA', sdp: ANSWER_SDP });
    await settle();
    const bye = callerInDialog('BYE', 11, toTagOf(tx.final()));
    h.manager.handleInDialog(bye, new FakeServerTransaction(bye));
    await settle();
    assert.ok(service, 'the service ran');
    assert.deepEqual(h.manager.list(), []);

    await collectGarbage();
    assert.equal(service.deref(), undefined, 'collected at once, not 32 s later');
  });
});
