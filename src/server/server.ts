import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { ensureAdminCredential } from '../api/admin-credential.js';
import type { ApiRuntime } from '../api/runtime.js';
import { startApiServers } from '../api/server.js';
import { DigestAuthenticator } from '../auth/digest.js';
import { RequestAuthenticator } from '../auth/request-authenticator.js';
import { CallManager, type ActiveCall } from '../call/call-manager.js';
import { loadVariables, VARIABLES_FILE_NAME, type Variables } from '../config/variables.js';
import { createLogger, RateLimitedLog, SipTrace, type Logger } from '../log/logger.js';
import type { MailboxSource } from '../presence/mailbox-source.js';
import { MwiService } from '../presence/mwi-service.js';
import { sweepPendingRecordingsHourly } from '../services/host/pending-recordings.js';
import { DomainDirectory } from '../registrar/domain-directory.js';
import { LocationService } from '../registrar/location-service.js';
import { RegistrarService } from '../registrar/registrar-service.js';
import { hostPort, SipStack } from '../stack/sip-stack.js';
import { CdrCsvWriter } from '../store/cdr-csv.js';
import { openSqliteStore } from '../store/sqlite-store.js';
import { StunServer } from '../stun/stun-server.js';
import { MediaRelay } from '../media/relay/media-relay.js';
import { parsePortRange } from '../media/relay/port-pool.js';
import { NodeRelayEngine } from '../media/relay/node-relay-engine.js';
import { loadNativeRelay } from '../media/relay/native-addon.js';
import { NativeRelayEngine } from '../media/relay/native-relay-engine.js';
import type { RelayEngine } from '../media/relay/relay-leg.js';
import type { Clock } from '../transaction/clock.js';
import type { Application } from '../call/local-call.js';
import { BuiltinApplications, firstOf } from '../services/application-directory.js';
import { startServiceEngine } from '../services/service-engine.js';
import { ConferenceBridge } from '../media/conference/conference-bridge.js';
import { HoldMusic } from '../media/hold-music.js';
import { SoundLibrary } from '../media/sound-library.js';
import { TONE_PLANS } from '../media/tones.js';
import type { ServiceContext } from '../call/local-call.js';
import type { Store } from '../store/types.js';
import { systemClock } from '../transaction/clock.js';
import { ensureCertificate } from '../transport/certificate.js';
import { watchEventLoop } from './event-loop-watch.js';
import { RequestRouter } from './request-router.js';
import { VERSION } from './version.js';

export interface ServerOptions {
  dataDir: string;
  /** addresses to listen on; empty means every interface (IPv4 and IPv6) */
  bind: string[];
  sipPort: number;
  tlsPort: number;
  httpsPort: number;
  httpPort: number;
  /** STUN Binding server on UDP; 0 disables; undefined: the [stun] port variable */
  stunPort: number | undefined;
  /** media relay ports "first-last"; undefined: the [media] rtp_ports variable */
  rtpPorts: string | undefined;
  /** what relays RTP; undefined: the [media] relay_engine variable */
  relayEngine?: 'auto' | 'native' | 'node';
  /** the relay thread at real-time priority; undefined: the [media] relay_realtime variable */
  relayRealtime?: boolean;
  adminPassword: string | undefined;
  /** numbers answered by code of the embedding program, beside the built-in feature codes */
  applications?: ReadonlyMap<string, Application>;
  /** message counts behind the phones' message lamps (MWI); undefined: every mailbox empty */
  mailboxes?: MailboxSource;
}

export interface RunningServer {
  readonly logger: Logger;
  readonly banner: string[];
  /** the admin password generated on first start, to print once */
  readonly generatedAdminPassword: string | undefined;
  /** calls in progress, as GET /api/v1/calls lists them */
  activeCalls(): ActiveCall[];
  stop(): Promise<void>;
}

/** Starts every layer in order; any failure is an Error with one clear line. */
export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const dataDir = resolve(opts.dataDir);
  prepareDataDir(dataDir);
  const { vars, warnings } = loadVariables(join(dataDir, VARIABLES_FILE_NAME));
  const logger = createLogger(vars.log.level);
  for (const w of warnings) logger.warn(w);

  const store = openSqliteStore(join(dataDir, 'switchboard.db'));
  const cleanups: (() => unknown)[] = [() => store.close()];
  try {
    return await startOnStore(opts, dataDir, vars, logger, store, cleanups);
  } catch (err) {
    await runCleanups(cleanups, logger);
    throw err;
  }
}

/** `[media] relay_engine`: the native relay when asked for or when it was built, else Node sockets. */
function chooseRelayEngine(
  choice: string,
  realtime: boolean,
  ports: { first: number; last: number },
  clock: Clock,
  relatchQuietMs: number,
  logger: Logger,
): RelayEngine {
  const errors = new RateLimitedLog((msg, fields) => logger.error(fields, msg), 5, 60_000);
  const reportHandlerError = (err: unknown) => errors.write('media handler failed; packet dropped', { err: err instanceof Error ? err.stack ?? err.message : String(err) });
  if (choice !== 'node') {
    const native = loadNativeRelay();
    if (native.available) {
      logger.info({ engine: 'native' }, 'media relay engine');
      const engine = new NativeRelayEngine(native.addon, ports.first, ports.last, clock, relatchQuietMs, reportHandlerError);
      if (realtime) {
        const refused = engine.useRealtimePriority();
        if (refused) logger.warn({ reason: refused }, 'relay thread left at normal priority: real-time priority refused');
        else logger.info('relay thread at real-time priority');
      }
      return engine;
    }
    if (choice === 'native') throw new Error(`media relay engine "native" asked for, but the native relay is unavailable: ${native.reason}`);
    logger.warn({ reason: native.reason }, 'native RTP relay unavailable: media relayed with Node sockets, which carry far fewer calls');
  }
  logger.info({ engine: 'node' }, 'media relay engine');
  if (realtime) logger.warn('relay_realtime applies to the native relay engine only; the Node engine runs at normal priority');
  return new NodeRelayEngine(ports.first, ports.last, clock, relatchQuietMs, reportHandlerError);
}

/** Last in, first out, and each one runs even when an earlier one fails: the store must close. */
async function runCleanups(cleanups: (() => unknown)[], logger: Logger): Promise<void> {
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch (err) {
      logger.error({ err: err instanceof Error ? err.message : String(err) }, 'error while shutting down');
    }
  }
}

async function startOnStore(
  opts: ServerOptions,
  dataDir: string,
  vars: Variables,
  logger: Logger,
  store: Store,
  cleanups: (() => unknown)[],
): Promise<RunningServer> {
  const bind = opts.bind.length > 0 ? opts.bind : ['0.0.0.0', '::'];
  const domainName = chooseDefaultDomain(store, vars, bind);
  store.domains.ensureDefault(domainName);
  const domains = new DomainDirectory(store.domains);
  const { generatedPassword } = ensureAdminCredential(store.settings, opts.adminPassword);

  const needsTls = opts.tlsPort > 0 || opts.httpsPort > 0;
  const tls = needsTls ? await ensureCertificate(dataDir, [domainName, 'localhost', '127.0.0.1', '::1', ...bind]) : undefined;

  const clock = systemClock;
  const digest = new DigestAuthenticator({
    algorithms: vars.sip.digest_algorithms,
    nonceLifetimeSeconds: vars.sip.nonce_lifetime,
    now: () => clock.now(),
    secret: persistentSecret(store),
  });
  const auth = new RequestAuthenticator(digest, store.extensions);
  const location = new LocationService(store.bindings, clock, {
    transaction: (fn) => store.transaction(fn),
    defer: (flush) => setImmediate(flush),
    onError: (err) => logger.error({ err: String(err) }, 'could not save registrations to the database'),
  });
  location.load();
  cleanups.push(() => location.close());

  // before SIP listens: a request that arrives while the services' workers start would get 503
  let calls: CallManager | undefined;
  const services = await startServiceEngine({ lines: () => calls, store, vars, dataDir, clock, logger });
  cleanups.push(() => services.close());
  cleanups.push(sweepPendingRecordingsHourly(dataDir, clock, logger));

  const trace = vars.log.sip_trace
    ? new SipTrace(join(dataDir, 'log', 'sip-trace.log'), (err) => logger.error({ err: err.message }, 'SIP trace stopped: cannot write the trace file'))
    : undefined;
  if (trace) cleanups.push(() => trace.close());
  const stack = await SipStack.start({
    transport: {
      bind,
      sipPort: opts.sipPort,
      tlsPort: opts.tlsPort,
      tls: tls ? { key: tls.key, cert: tls.cert } : undefined,
      maxBodyBytes: vars.sip.max_message_bytes,
    },
    clock,
    timers: () => ({ T1: vars.sip.t1_ms, T2: vars.sip.t2_ms, T4: vars.sip.t4_ms }),
    logger,
    trace,
    userAgent: vars.sip.user_agent,
    maxMessageBytes: vars.sip.max_message_bytes,
  });
  cleanups.push(() => stack.close());

  const stunPort = opts.stunPort ?? vars.stun.port;
  const stun =
    stunPort > 0
      ? await StunServer.start({
          bind,
          port: stunPort,
          software: vars.sip.user_agent,
          onLog: (level, msg, fields) => logger[level](fields ?? {}, msg),
        })
      : undefined;
  if (stun) cleanups.push(() => stun.close());

  const rtpPorts = parsePortRange(opts.rtpPorts ?? vars.media.rtp_ports);
  const sounds = new SoundLibrary({
    shippedDir: SoundLibrary.shippedSoundsDir(),
    overrideDir: join(dataDir, 'sounds'),
    defaultLanguage: 'en',
  });
  const media = new MediaRelay({
    engine: chooseRelayEngine(opts.relayEngine ?? vars.media.relay_engine, opts.relayRealtime ?? vars.media.relay_realtime, rtpPorts, clock, vars.media.relatch_quiet_ms, logger),
    clock,
    timeoutSeconds: () => vars.media.timeout,
    localAddressFor: (remote) => vars.media.public_address || stack.localAddressFor(remote),
    hold: new HoldMusic({ library: sounds, clock, logger: (msg, fields, problem) => (problem ? logger.warn(fields, msg) : logger.debug(fields, msg)) }),
  });
  const conferences = new ConferenceBridge(clock, { tonePlan: TONE_PLANS[vars.media.tone_country] });
  cleanups.push(() => conferences.close());
  const serviceContext: ServiceContext = {
    sounds,
    conferences,
    tonePlan: () => TONE_PLANS[vars.media.tone_country] ?? TONE_PLANS.us!,
    language: () => vars.media.language,
    ringSeconds: () => vars.sip.no_answer_timeout,
    dataDir,
  };
  cleanups.push(() => media.close());

  const cdrCsv = new CdrCsvWriter(join(dataDir, 'cdr'));
  cleanups.push(() => cdrCsv.close());
  calls = new CallManager({
    stack,
    domains,
    auth,
    extensions: store.extensions,
    location,
    noAnswerTimeoutSeconds: () => vars.sip.no_answer_timeout,
    media,
    applications: firstOf(new BuiltinApplications(() => ({ echoTest: vars.features.echo_test }), opts.applications), services.directory),
    extensionService: services.extensions,
    restriction: (domain, caller, dialled) => services.restriction(domain, caller, dialled),
    services: serviceContext,
    recordingsDir: join(dataDir, 'recordings'),
    clock,
    logger,
    onCallEnded: (record) => {
      const stored = store.callRecords.insert(record);
      if (vars.cdr.csv) cdrCsv.append(stored);
      logger.debug({ caller: record.caller, callee: record.callee, disposition: record.disposition, status: record.finalStatus }, 'call ended');
    },
  });
  const registrar = new RegistrarService({
    domains,
    auth,
    location,
    policy: () => ({
      minExpires: vars.sip.register_min_expires,
      defaultExpires: vars.sip.register_default_expires,
      maxExpires: vars.sip.register_max_expires,
    }),
    now: () => clock.now(),
    logger,
    onNewBindings: (domain, number, bindings) => mwi.phoneRegistered(domain, number, bindings),
  });
  const mailboxes = opts.mailboxes ?? services.voicemail;
  const mwi = new MwiService({ stack, auth, domains, location, counts: (domain, mailbox) => mailboxes.counts(domain, mailbox), clock, logger });
  mailboxes.onChange((domain, mailbox) => mwi.mailboxChanged(domain, mailbox));
  cleanups.push(() => mwi.close());
  stack.setUser(new RequestRouter(registrar, calls, mwi));

  cleanups.push(watchEventLoop(logger));

  const startedAt = Date.now();
  const runtime: ApiRuntime = {
    version: VERSION,
    startedAt,
    listeners: () => stack.listeners(),
    activeCalls: () => calls.list(),
    hangupCall: (id) => calls.hangup(id),
    startRecording: (id, mode) => calls.startRecording(id, mode),
    stopRecording: (id) => calls.stopRecording(id),
    defaultDomain: () => domains.defaultDomain,
    onExtensionDeleted: (domain, number) => location.removeAll(domain, number),
    onDomainsChanged: () => domains.reload(),
    services: () => services.status(),
    serviceExists: (name) => services.exists(name),
  };
  // One HTTP listener: '::' takes IPv4 too (dual stack) when every interface is wanted.
  const apiHost = bind.includes('::') ? '::' : bind[0];
  const api =
    opts.httpsPort > 0 && tls
      ? await startApiServers({
          store,
          runtime,
          bind: apiHost,
          httpsPort: opts.httpsPort,
          httpPort: opts.httpPort,
          tls: { key: tls.key, cert: tls.cert },
          logger: false,
        })
      : undefined;
  if (api) cleanups.push(() => api.close());

  const banner = [
    `Switchboard ${VERSION}`,
    ...stack.listeners().map((l) => `  SIP ${l.transport.padEnd(3)} ${hostPort(l.address, l.port)}`),
    ...(stun ? stun.listeners().map((l) => `  STUN    ${hostPort(l.address, l.port)}`) : []),
    ...(api ? [`  HTTPS   ${hostPort(apiHost, api.httpsPort)}`] : []),
    ...(api && api.httpPort > 0 ? [`  HTTP    ${hostPort(apiHost, api.httpPort)} (redirects to HTTPS)`] : []),
    `  data    ${dataDir}`,
    `  domain  ${domainName}`,
    ...(api ? [`  console https://${consoleHost(apiHost)}:${api.httpsPort}/api/docs`] : []),
  ];

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      const active = calls.count();
      calls.shutdown();
      // give the BYEs and CANCELs a moment on the wire before the sockets close
      await new Promise((r) => setTimeout(r, active > 0 ? 500 : 50));
      await runCleanups(cleanups, logger);
    })());
  return { logger, banner, generatedAdminPassword: generatedPassword, activeCalls: () => calls.list(), stop };
}

function prepareDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.R_OK | constants.W_OK);
    mkdirSync(join(dir, 'cdr'), { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    throw new Error(`data directory ${dir} is not usable${code ? ` (${code})` : ''}: check that it exists and is readable and writable`);
  }
}

/** Kept once chosen: the digest realm is the domain name, so renaming it would void every password. */
function chooseDefaultDomain(store: Store, vars: Variables, bind: string[]): string {
  if (vars.domain.default_name) return vars.domain.default_name.toLowerCase();
  const existing = store.domains.list().find((d) => d.isDefault);
  if (existing) return existing.name;
  const specific = bind.find((b) => b !== '0.0.0.0' && b !== '::');
  return (specific ?? hostname()).toLowerCase();
}

/** Nonces stay valid across a restart, so phones do not all re-register at once. */
function persistentSecret(store: Store): Buffer {
  const saved = store.settings.get('digest.nonce_secret');
  if (saved) return Buffer.from(saved, 'hex');
  const secret = randomBytes(32);
  store.settings.set('digest.nonce_secret', secret.toString('hex'));
  return secret;
}

function consoleHost(bind: string): string {
  if (bind === '0.0.0.0' || bind === '::') return hostname();
  return bind.includes(':') ? `[${bind}]` : bind;
}
