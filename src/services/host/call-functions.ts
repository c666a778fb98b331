// The `call:` methods a Lua service uses (docs/lua-api.md), each a host function named "call.<method>".
import type { HostValue } from '../engine/protocol.js';
import { HostArgs } from './host-args.js';
import { isToneName, type ServiceCall } from './service-call.js';

export type HostFunction = (ctx: { service: string; callId: string }, args: HostValue[]) => HostValue | Promise<HostValue>;

/** Lookup of the ServiceCall a script drives; undefined once the host forgot the call. */
export type ServiceCallLookup = (callId: string) => ServiceCall | undefined;

const MAX_WAIT_SECONDS = 3600;
/** what one conference room mixes (ConferenceBridge) */
const MAX_CONFERENCE_MEMBERS = 50;
const MAX_RECORD_SECONDS = 3600;

export function callFunctions(lookup: ServiceCallLookup): Map<string, HostFunction> {
  const method = (name: string, run: (call: ServiceCall, args: HostArgs) => HostValue | Promise<HostValue>): [string, HostFunction] => {
    const full = `call.${name}`;
    return [full, (ctx, args) => {
      const call = lookup(ctx.callId);
      if (!call) throw new Error('the call has ended');
      return run(call, new HostArgs(full, args));
    }];
  };
  return new Map<string, HostFunction>([
    method('answer', async (call) => {
      await call.answer();
      return true;
    }),
    method('early_media', async (call) => {
      await call.earlyMedia();
      return true;
    }),
    method('ringing', (call) => {
      call.ringing();
      return null;
    }),
    method('reject', (call, args) => {
      call.reject(args.integer(0, 'status code', 300, 699), args.optionalString(1, 'reason'));
      return null;
    }),
    method('forwarding', (call) => {
      call.forwarding();
      return null;
    }),
    method('dial', async (call, args): Promise<HostValue> => {
      const outcome = await call.dial(args.names(0, 'extension number'), args.options(1).optionalNumber('timeout', 1, 600));
      return outcome.status === 'answered' ? { status: 'answered', answered_by: outcome.answeredBy } : { status: outcome.status, code: outcome.code };
    }),
    method('hangup', (call) => {
      call.hangup();
      return null;
    }),
    method('route', (call, args) => {
      call.routeTo(args.string(0, 'number'));
      return null;
    }),
    method('is_up', (call) => call.up),
    method('play', async (call, args) => call.play(args.names(0, 'sound'), args.options(1).keys('interrupt', ''))),
    method('say_digits', async (call, args) => {
      const digits = args.string(0, 'digits');
      if (!/^[0-9*#]*$/.test(digits)) args.fail(`argument 1 must hold only 0-9 * #, not "${digits}"`);
      const names = [...digits].map((d) => (d === '*' ? 'digit-star' : d === '#' ? 'digit-pound' : `digit-${d}`));
      return names.length === 0 ? null : call.play(names, args.options(1).keys('interrupt', ''));
    }),
    method('collect', async (call, args) => {
      const o = args.options(0);
      const timeout = o.number('timeout', 5, 0, MAX_WAIT_SECONDS);
      return call.collect({
        max: o.number('max', 1, 1, 64),
        timeoutSeconds: timeout,
        firstTimeoutSeconds: o.number('first_timeout', timeout, 0, MAX_WAIT_SECONDS),
        terminator: o.keys('terminator', '#').slice(0, 1),
        prompts: o.names('prompt'),
      });
    }),
    method('record', async (call, args) => {
      const o = args.options(0);
      const recording = await call.record({
        maxSeconds: o.number('max_seconds', 120, 1, MAX_RECORD_SECONDS),
        beep: o.boolean('beep', true),
        stopDigits: o.keys('stop_digits', '#'),
        silenceSeconds: o.optionalNumber('silence_seconds', 1, 60),
      });
      return recording === null ? null : { file: recording.file, seconds: recording.seconds, stopped_by: recording.stoppedBy, digit: recording.digit };
    }),
    method('tone', async (call, args) => {
      const name = args.string(0, 'tone');
      if (!isToneName(name)) return args.fail(`argument 1 must be ringback, busy, congestion or beep, not "${name}"`);
      await call.tone(name, args.number(1, 'seconds', name === 'beep' ? 0.25 : 5, 0, MAX_WAIT_SECONDS));
      return null;
    }),
    method('wait', async (call, args) => {
      await call.wait(args.number(0, 'seconds', 1, 0, MAX_WAIT_SECONDS));
      return null;
    }),
    method('music', async (call, args) => {
      const o = args.options(1);
      const sound = o.names('sound');
      return call.music(args.number(0, 'seconds', 30, 0, MAX_WAIT_SECONDS), sound[0], o.keys('interrupt', ''));
    }),
    method('echo', async (call) => {
      await call.echo();
      return null;
    }),
    method('park', async (call, args) => call.park(args.string(0, 'slot'), args.options(1).number('timeout', 60, 1, MAX_WAIT_SECONDS))),
    method('retrieve', async (call, args) => call.retrieve(args.string(0, 'slot'))),
    method('pickup', async (call, args) => call.pickUp(args.names(0, 'extension number'))),
    method('referred_by', (call) => call.referredBy ?? null),
    method('conference_size', (call, args) => call.conferenceSize(args.string(0, 'room'))),
    method('conference', async (call, args) => {
      const o = args.options(1);
      return call.conference(args.string(0, 'room'), o.number('max_members', 20, 2, MAX_CONFERENCE_MEMBERS), o.boolean('announce', true));
    }),
  ]);
}
