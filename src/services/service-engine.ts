// Everything behind the Lua services, put together for the server: the scripts (lua/services and
// <data-dir>/lua/services), one worker per service, the host functions they call, voicemail with its
// e-mail, and the directory of service numbers the call layer asks.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Application, ApplicationDirectory } from '../call/local-call.js';
import { mayDial } from './data/accessors.js';
import type { Variables } from '../config/variables.js';
import { Mailer } from '../mail/mailer.js';
import type { Store } from '../store/types.js';
import type { Clock } from '../transaction/clock.js';
import { VoicemailBox } from '../voicemail/voicemail-store.js';
import { emailNewMessage } from '../voicemail/voicemail-email.js';
import { serviceNumbersWithDefaults } from './default-service-numbers.js';
import { ServiceCatalog } from './engine/service-catalog.js';
import type { ServiceStatus } from './engine/service-status.js';
import { ServiceSupervisor } from './engine/service-supervisor.js';
import { callFunctions } from './host/call-functions.js';
import { extensionSettings, pbxFunctions } from './host/pbx-functions.js';
import { LuaServices } from './lua-services.js';

/** What the services learn of the calls in progress; set once the call layer exists. */
export interface LineState {
  isBusy(domain: string, number: string): boolean;
}

export interface ServiceEngineDeps {
  /** read at each use: the call layer is built after the engine */
  lines: () => LineState | undefined;
  store: Store;
  vars: Variables;
  dataDir: string;
  clock: Clock;
  logger: Logger;
}

export interface ServiceEngine {
  /** numbers that run Lua services, for the call layer */
  directory: ApplicationDirectory;
  /** the extension service for calls to extensions */
  extensions: ApplicationDirectory;
  /** call restriction: what a caller gets who may not dial the number, else undefined */
  restriction(domain: string, caller: string, dialled: string): Application | undefined;
  voicemail: VoicemailBox;
  status(): ServiceStatus[];
  exists(name: string): boolean;
  close(): Promise<void>;
}

const MB = 1024 * 1024;

/** The shipped scripts: this module runs from dist/src/services/. */
export function builtinServicesDir(): string {
  return fileURLToPath(new URL('../../../lua/services', import.meta.url));
}

export async function startServiceEngine(deps: ServiceEngineDeps): Promise<ServiceEngine> {
  const { store, vars, dataDir, clock, logger } = deps;
  const voicemail = new VoicemailBox({ repository: store.voicemail, dataDir, log: logger, clock });
  const mailer = new Mailer({ outbox: store.mailOutbox, smtp: vars.smtp, dataDir, log: logger, clock });
  mailer.start();

  let services: LuaServices | undefined;
  const lookup = (callId: string) => services?.lookup(callId);
  const host = new Map([
    ...callFunctions(lookup),
    ...pbxFunctions({
      store,
      voicemail,
      logger,
      lookup,
      isBusy: (domain, number) => deps.lines()?.isBusy(domain, number) ?? false,
      emailNewMessage: (message, mailbox) => emailNewMessage(mailer, message, mailbox, { language: vars.media.language }),
    }),
  ]);
  const supervisor = new ServiceSupervisor({
    catalog: new ServiceCatalog({ builtinDir: builtinServicesDir(), overrideDir: join(dataDir, 'lua', 'services'), logger }),
    host,
    hostFunctions: [...host.keys()].map((name) => ({ name })),
    limits: () => ({ memoryBytes: vars.services.memory_limit_mb * MB, eventBudgetMs: vars.services.event_budget_ms }),
    clock,
    logger,
    watchdogIntervalMs: Math.max(50, Math.floor(vars.services.watchdog_ms / 4)),
    unresponsiveMs: vars.services.watchdog_ms,
  });
  try {
    await supervisor.start();
  } catch (err) {
    await mailer.close();
    throw err;
  }
  services = new LuaServices(serviceNumbersWithDefaults(store.serviceNumbers), supervisor, clock, logger, (domain, number) =>
    extensionSettings(store, domain, number));
  return {
    directory: services,
    extensions: { find: (domain, number) => (vars.services.extension_service ? services!.extensions.find(domain, number) : undefined) },
    restriction: (domain, caller, dialled) => (mayDial(store, domain, caller, dialled) ? undefined : services!.restricted()),
    voicemail,
    status: () => supervisor.status(),
    exists: (name) => supervisor.has(name),
    close: async () => {
      await supervisor.close();
      await mailer.close();
    },
  };
}
