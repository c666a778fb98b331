// The host functions a Lua service uses beside its call (docs/lua-api.md): voicemail, mailboxes,
// extensions' call settings, the services' data, and the log. Everything is scoped to the domain of the
// call the script is running for: a service of one company never reads another's data.
import path from 'node:path';
import type { TSchema } from 'typebox';
import { Value } from 'typebox/value';
import type { Logger } from 'pino';
import type { Store } from '../../store/types.js';
import { callSettingsOf, getItem, mailboxOf } from '../data/accessors.js';
import { callSettings, DATA_KINDS } from '../data/kinds.js';
import { secretHashField, secretSetField, withDefaults } from '../data/data-kind.js';
import { hashPin, verifyPin } from '../data/pin.js';
import type { HostValue } from '../engine/protocol.js';
import type { VoicemailBox } from '../../voicemail/voicemail-store.js';
import type { VoicemailMessage } from '../../store/sqlite-voicemail.js';
import type { HostFunction, ServiceCallLookup } from './call-functions.js';
import { HostArgs } from './host-args.js';
import { PENDING_RECORDINGS_DIR, type ServiceCall } from './service-call.js';

export interface PbxFunctionDeps {
  store: Store;
  voicemail: VoicemailBox;
  /** queues the e-mail for a new message, when its mailbox has an address */
  emailNewMessage(message: VoicemailMessage, mailbox: { email: string | null; attachAudio: boolean }): void;
  logger: Logger;
  lookup: ServiceCallLookup;
  /** `number` is talking or placing a call */
  isBusy(domain: string, number: string): boolean;
}

const FORWARDS = ['always', 'busy', 'noAnswer', 'unreachable'];

/** A recording made by call:record and not yet kept: recordings/pending/<uuid>.wav */
const PENDING_RECORDING = /^[0-9a-f-]{36}\.wav$/;

export function pbxFunctions(deps: PbxFunctionDeps): Map<string, HostFunction> {
  const { store, voicemail } = deps;
  const fn = (name: string, run: (call: ServiceCall, args: HostArgs, service: string) => HostValue | Promise<HostValue>): [string, HostFunction] =>
    [name, (ctx, args) => {
      const call = deps.lookup(ctx.callId);
      if (!call) throw new Error(`${name}: the call has ended`);
      return run(call, new HostArgs(name, args), ctx.service);
    }];
  const domainOf = (call: ServiceCall) => call.call.domain;
  function messageOf(call: ServiceCall, args: HostArgs): VoicemailMessage;
  function messageOf(call: ServiceCall, args: HostArgs, mayBeGone: true): VoicemailMessage | undefined;
  function messageOf(call: ServiceCall, args: HostArgs, mayBeGone = false): VoicemailMessage | undefined {
    const id = args.integer(0, 'message id', 1, Number.MAX_SAFE_INTEGER);
    const message = voicemail.get(id);
    if (message && message.domain === domainOf(call)) return message;
    // deleting or saving a message that is already gone is no error: it is gone either way
    return mayBeGone ? undefined : args.fail(`no message ${id}`);
  }
  const pendingRecording = (args: HostArgs, index: number): { file: string; seconds: number } => {
    const { file, seconds } = args.options(index).raw();
    if (typeof file !== 'string' || path.dirname(file) !== PENDING_RECORDINGS_DIR || !PENDING_RECORDING.test(path.basename(file)) || typeof seconds !== 'number') {
      return args.fail(`argument ${index + 1} must be the recording call:record returned`);
    }
    return { file, seconds };
  };
  const mailboxFor = (call: ServiceCall, args: HostArgs) => {
    const number = args.string(0, 'mailbox');
    const mailbox = mailboxOf(store, domainOf(call), number);
    if (!mailbox) return args.fail(`no mailbox ${number}`);
    return mailbox;
  };

  /** Applies `change` to the stored call settings of `number`, checked against the kind's schema. */
  const updateSettings = (call: ServiceCall, args: HostArgs, number: string, change: (stored: Record<string, unknown>) => Record<string, unknown>): HostValue => {
    const domain = domainOf(call);
    if (!store.extensions.find(domain, number)) return args.fail(`no extension ${number}`);
    const next = change(getItem(store, domain, callSettings.kind, number) ?? {});
    const invalid = firstError(callSettings.fields, next) ?? callSettings.check?.(withDefaults(callSettings, structuredClone(next)), { store, domain });
    if (invalid) return args.fail(invalid);
    store.serviceData.put(domain, callSettings.kind, number, next);
    return callSettingsOf(store, domain, number) as unknown as HostValue;
  };

  const log = (level: 'info' | 'warn' | 'error'): [string, HostFunction] => fn(`log.${level}`, (call, args, service) => {
    deps.logger[level]({ service, call: call.call.id }, args.string(0, 'message').slice(0, 2000));
    return null;
  });

  return new Map<string, HostFunction>([
    log('info'),
    log('warn'),
    log('error'),

    fn('voicemail.save', async (call, args) => {
      const mailbox = mailboxFor(call, args);
      const recording = pendingRecording(args, 1);
      const domain = domainOf(call);
      if (voicemail.counts(domain, mailbox.number).newCount + voicemail.counts(domain, mailbox.number).savedCount >= mailbox.maxMessages) {
        return args.fail(`mailbox ${mailbox.number} is full (${mailbox.maxMessages} messages)`);
      }
      const message = await voicemail.deposit({
        domain,
        mailbox: mailbox.number,
        caller: call.call.caller,
        callerName: call.call.callerName,
        recordingFile: recording.file,
        durationMs: Math.round(recording.seconds * 1000),
      });
      deps.emailNewMessage(message, { email: mailbox.email, attachAudio: mailbox.attachAudio });
      return message.id;
    }),
    fn('voicemail.is_full', (call, args) => {
      const mailbox = mailboxFor(call, args);
      const counts = voicemail.counts(domainOf(call), mailbox.number);
      return counts.newCount + counts.savedCount >= mailbox.maxMessages;
    }),
    fn('voicemail.counts', (call, args) => {
      const counts = voicemail.counts(domainOf(call), mailboxFor(call, args).number);
      return { new: counts.newCount, saved: counts.savedCount };
    }),
    fn('voicemail.messages', (call, args) => {
      const folder = args.optionalString(1, 'folder');
      if (folder !== undefined && folder !== 'new' && folder !== 'saved') return args.fail(`argument 2 (folder) must be "new" or "saved", not "${folder}"`);
      return voicemail.list(domainOf(call), mailboxFor(call, args).number, folder).map((m) => ({
        id: m.id,
        caller: m.caller,
        caller_name: m.callerName,
        received_at: Math.floor(m.receivedAt / 1000),
        seconds: Math.round(m.durationMs / 1000),
        folder: m.folder,
      }));
    }),
    fn('voicemail.play', async (call, args) => call.playFile(voicemail.filePath(messageOf(call, args)), args.options(1).keys('interrupt', ''))),
    fn('voicemail.mark_saved', (call, args) => {
      const message = messageOf(call, args, true);
      return message !== undefined && voicemail.markSaved(message.id);
    }),
    fn('voicemail.delete', async (call, args) => {
      const message = messageOf(call, args, true);
      return message !== undefined && voicemail.delete(message.id);
    }),
    fn('voicemail.has_greeting', async (call, args) => (await voicemail.greetingFile(domainOf(call), mailboxFor(call, args).number)) !== undefined),
    fn('voicemail.play_greeting', async (call, args) => {
      const file = await voicemail.greetingFile(domainOf(call), mailboxFor(call, args).number);
      if (file === undefined) return args.fail('the mailbox has no recorded greeting (check voicemail.has_greeting first)');
      return call.playFile(file, args.options(1).keys('interrupt', ''));
    }),
    fn('voicemail.save_greeting', async (call, args) => {
      const mailbox = mailboxFor(call, args);
      await voicemail.saveGreeting(domainOf(call), mailbox.number, pendingRecording(args, 1).file);
      const stored = getItem(store, domainOf(call), 'mailboxes', mailbox.number) ?? {};
      store.serviceData.put(domainOf(call), 'mailboxes', mailbox.number, { ...stored, greeting: 'recorded' });
      return null;
    }),

    fn('mailbox.get', (call, args) => {
      const mailbox = mailboxOf(store, domainOf(call), args.string(0, 'mailbox'));
      if (!mailbox) return null;
      const { pinHash, ...open } = mailbox;
      return { ...open, pinSet: pinHash !== null } as unknown as HostValue;
    }),
    fn('mailbox.check_pin', async (call, args) => {
      const mailbox = mailboxFor(call, args);
      const pin = args.string(1, 'pin');
      return mailbox.pinHash !== null && (await verifyPin(mailbox.pinHash, pin));
    }),
    fn('mailbox.set_pin', async (call, args) => {
      const mailbox = mailboxFor(call, args);
      const pin = args.string(1, 'pin');
      if (!/^[0-9]{4,12}$/.test(pin)) return args.fail('a PIN is 4 to 12 digits');
      const stored = getItem(store, domainOf(call), 'mailboxes', mailbox.number) ?? {};
      store.serviceData.put(domainOf(call), 'mailboxes', mailbox.number, { ...stored, [secretHashField('pin')]: await hashPin(pin) });
      return null;
    }),

    fn('extension.is_busy', (call, args) => deps.isBusy(domainOf(call), args.string(0, 'number'))),
    fn('extension.exists', (call, args) => store.extensions.find(domainOf(call), args.string(0, 'number')) !== undefined),
    fn('extension.settings', (call, args) => extensionSettings(store, domainOf(call), args.string(0, 'number'))),
    fn('extension.update_settings', (call, args) => {
      const changes = args.options(1).raw();
      return updateSettings(call, args, args.string(0, 'number'), (stored) => mergeSettings(stored, changes));
    }),

    fn('extension.set_forward', (call, args) => {
      const number = args.string(0, 'number');
      const which = args.string(1, 'which forward');
      if (!FORWARDS.includes(which)) return args.fail(`argument 2 must be one of ${FORWARDS.join(', ')}, not "${which}"`);
      const target = args.optionalString(2, 'target number') ?? null;
      return updateSettings(call, args, number, (stored) => ({ ...stored, forward: { ...(stored.forward as object | undefined), [which]: target } }));
    }),
    fn('extension.set_dnd', (call, args) => {
      const on = args.boolean(1, 'on');
      return updateSettings(call, args, args.string(0, 'number'), (stored) => ({ ...stored, dnd: on }));
    }),

    fn('data.get', (call, args) => {
      const kind = DATA_KINDS.find((k) => k.kind === args.string(0, 'kind'));
      if (!kind) return args.fail(`no data kind "${args.string(0, 'kind')}" (kinds: ${DATA_KINDS.map((k) => k.kind).join(', ')})`);
      const body = getItem(store, domainOf(call), kind.kind, args.string(1, 'key'));
      if (!body) return null;
      const open: Record<string, unknown> = { [kind.key]: args.string(1, 'key'), ...withDefaults(kind, body) };
      for (const secret of kind.secrets) {
        open[secretSetField(secret)] = open[secretHashField(secret)] != null;
        delete open[secretHashField(secret)];
      }
      return open as HostValue;
    }),
    fn('data.check_pin', async (call, args) => {
      const kind = DATA_KINDS.find((k) => k.kind === args.string(0, 'kind'));
      if (!kind || kind.secrets.length === 0) return args.fail(`data kind "${args.string(0, 'kind')}" has no PIN`);
      const body = getItem(store, domainOf(call), kind.kind, args.string(1, 'key'));
      const hash = body?.[secretHashField(kind.secrets[0]!)];
      return typeof hash === 'string' && (await verifyPin(hash, args.string(2, 'pin')));
    }),
  ]);
}

/** What `extension.settings(number)` returns: the settings with their defaults, null when there is no such extension. */
export function extensionSettings(store: Store, domain: string, number: string): HostValue {
  if (!store.extensions.find(domain, number)) return null;
  return callSettingsOf(store, domain, number) as unknown as HostValue;
}

/** Top-level fields replace, the forward tables merge field by field (so *90*n keeps the busy forward). */
function mergeSettings(stored: Record<string, unknown>, changes: Record<string, HostValue>): Record<string, unknown> {
  const next: Record<string, unknown> = { ...stored };
  for (const [key, value] of Object.entries(changes)) {
    const before = next[key];
    next[key] = value !== null && typeof value === 'object' && !Array.isArray(value) && before !== null && typeof before === 'object'
      ? { ...(before as Record<string, unknown>), ...value }
      : value;
  }
  return next;
}

/** What is wrong with `body` by `schema`, as "field: problem"; undefined when it fits. */
function firstError(schema: TSchema, body: Record<string, unknown>): string | undefined {
  const [error] = Value.Errors(schema, body);
  if (!error) return undefined;
  const where = error.instancePath.replace(/^\//, '').replaceAll('/', '.') || 'settings';
  return `${where}: ${error.message}`;
}
