// Dialled numbers that run Lua services (POST /api/v1/service-numbers): the call layer asks this
// directory, and each call it claims runs as a coroutine in its service's VM, driven through the
// host functions. When a service fails, the number's fallback takes the call (answered or not); without
// one the caller gets a clean error, or a hang-up once answered.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Application, ApplicationDirectory, LocalCallHandle, ServiceContext } from '../call/local-call.js';
import type { Clock } from '../transaction/clock.js';
import type { CallInfo, HostValue } from './engine/protocol.js';
import type { ServiceOutcome } from './engine/service-status.js';
import { ServiceCall } from './host/service-call.js';

export interface ServiceNumber {
  service: string;
  args: HostValue;
  /** the number that takes the call when the service fails before answering; null: an error response */
  fallback: string | null;
  /** the fallback rings its extension's phones directly, past any service (so a broken extension service still rings) */
  fallbackDirect?: boolean;
  /** what the caller gets when the service fails before answering and there is no fallback (default 500) */
  failureStatus?: number;
}

export interface ServiceNumberLookup {
  find(domain: string, number: string): ServiceNumber | undefined;
}

/** An extension's call settings as `extension.settings` returns them; null when there is no such extension. */
export type ExtensionSettingsReader = (domain: string, number: string) => HostValue;

/** What runs the scripts: the supervisor of the services' VMs. */
export interface ServiceRunner {
  /** whether `service` can take calls now */
  isRunning(service: string): boolean;
  run(service: string, call: CallInfo, args: HostValue): Promise<ServiceOutcome>;
  /** the caller hung up: the script may go on, but what it does about the call is no longer urgent */
  callEnded?(callId: string): void;
  /** the host is done with the call: the script is dropped if it still runs */
  end(callId: string): void;
}

const EXTENSION_SERVICE = 'extension';
const RESTRICTED_SERVICE = 'call-restricted';

/** How long a script may go on after its call ended (saving a message, say) before it is dropped. */
const AFTER_HANGUP_GRACE_MS = 30_000;

/** call:route hands an unanswered call to the routing of another number. */
const routeOn = (call: LocalCallHandle, number: string): void => call.route(number);

export class LuaServices implements ApplicationDirectory {
  private readonly active = new Map<string, ServiceCall>();

  constructor(
    private readonly numbers: ServiceNumberLookup,
    private readonly runner: ServiceRunner,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** hands the extension service its extension's settings with the call (args.settings) */
    private readonly extensionSettings?: ExtensionSettingsReader,
  ) {}

  /** The ServiceCall behind a call id, for the host functions. */
  readonly lookup = (callId: string): ServiceCall | undefined => this.active.get(callId);

  /**
   * The service of `number`: its own entry, else the longest entry ending in `*` that starts it, so
   * one entry `*6*` serves every `*6*<room>*<pin>` (the script reads the rest from call.dialled).
   */
  find(domain: string, number: string): Application | undefined {
    let entry = this.numbers.find(domain, number);
    for (let end = number.length - 2; !entry && end >= 0; end--) {
      if (number[end] === '*') entry = this.numbers.find(domain, number.slice(0, end + 1));
    }
    if (!entry) return undefined;
    const found = entry;
    return (call, services) => this.runService(found, call, services);
  }

  /**
   * The extension service (lua/services/extension.lua) for calls to extensions: forwarding, do not
   * disturb, voicemail. When it is missing or broken the extension's phones ring as they are.
   */
  readonly extensions: ApplicationDirectory = {
    find: (_domain, number) => {
      if (!this.runner.isRunning(EXTENSION_SERVICE)) return undefined;
      return (call, services) => {
        // read as the call starts: asking for them is what the script does first, a round trip to its worker
        const args: HostValue = this.extensionSettings === undefined
          ? { extension: number }
          : { extension: number, settings: this.extensionSettings(call.domain, number) };
        return this.runService({ service: EXTENSION_SERVICE, args, fallback: number, fallbackDirect: true }, call, services);
      };
    },
  };

  /**
   * For a caller who may not dial a number: the call-restricted service (a prompt in early media, then
   * 403); without it, or when it fails, a plain 403.
   */
  restricted(): Application {
    const entry: ServiceNumber = { service: RESTRICTED_SERVICE, args: {}, fallback: null, failureStatus: 403 };
    if (this.runner.isRunning(RESTRICTED_SERVICE)) return (call, services) => this.runService(entry, call, services);
    return (call) => call.reject(403, 'Forbidden - call restricted');
  }

  private async runService(entry: ServiceNumber, call: LocalCallHandle, services: ServiceContext): Promise<void> {
    const session = new ServiceCall(call, services, this.clock, routeOn);
    // one id per service run: an answered call routed on runs a second service while the first ends
    const runId = randomUUID();
    this.active.set(runId, session);
    let finished = false;
    let grace: ReturnType<Clock['setTimer']> | undefined;
    void call.ended.then(() => {
      if (finished) return;
      this.runner.callEnded?.(runId);
      grace = this.clock.setTimer(AFTER_HANGUP_GRACE_MS, () => this.runner.end(runId));
    });
    const info: CallInfo = { id: runId, domain: call.domain, caller: call.caller, callerName: call.callerName, dialled: call.dialled };
    try {
      let outcome: ServiceOutcome;
      try {
        outcome = await this.runner.run(entry.service, info, entry.args);
      } catch (err) {
        // the supervisor never rejects; anything else that throws on the way is a failure of this service all the same
        outcome = { ok: false, kind: 'error', error: err instanceof Error ? err.message : String(err) };
      }
      if (!outcome.ok) this.onFailure(entry, session, outcome);
    } finally {
      finished = true;
      this.active.delete(runId);
      if (grace !== undefined) this.clock.clearTimer(grace);
    }
  }

  private onFailure(entry: ServiceNumber, session: ServiceCall, outcome: Extract<ServiceOutcome, { ok: false }>): void {
    const call = session.call;
    // a script that stopped because its caller hung up did nothing wrong
    const level = call.isEnded ? 'debug' : 'warn';
    this.logger[level]({ service: entry.service, dialled: call.dialled, call: call.id, kind: outcome.kind, error: outcome.error }, 'service failed on a call');
    if (call.isEnded || !session.up) return;
    if (call.dialling) {
      // the phones ring for its dial: their answer, or how the dial failed, decides what the caller gets
      call.hangup();
      return;
    }
    if (entry.fallback !== null && (entry.fallbackDirect || entry.fallback !== call.dialled)) {
      call.route(entry.fallback, { bypassServices: entry.fallbackDirect ?? false });
      return;
    }
    if (session.answered) call.hangup();
    else call.reject(entry.failureStatus ?? 500, entry.failureStatus ? undefined : 'Server Internal Error - service failed');
  }
}
