import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { ensureAdminCredential } from '../../src/api/admin-credential.js';
import type { ActiveCallInfo, ApiRuntime } from '../../src/api/runtime.js';
import { RecordingRefusedError } from '../../src/call/call-manager.js';
import type { ServiceStatus } from '../../src/services/engine/service-status.js';
import { buildApi } from '../../src/api/server.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import type { Store } from '../../src/store/types.js';

export const DEFAULT_DOMAIN = 'example.com';
export const ADMIN_PASSWORD = 'correct horse battery staple';

/** An ApiRuntime that remembers what the API asked of it. */
export class FakeRuntime implements ApiRuntime {
  readonly version = '9.8.7';
  readonly startedAt = Date.now() - 42_000;
  calls: ActiveCallInfo[] = [];
  readonly deletedExtensions: string[] = [];
  readonly hungUp: string[] = [];
  /** call id -> mode of the recordings started through the API */
  readonly recordings = new Map<string, string>();
  /** when set, startRecording refuses with this reason */
  refuseRecording: string | undefined;
  domainChanges = 0;
  /** what services() reports; serviceExists answers from it too */
  serviceStatuses: ServiceStatus[] = [];

  listeners() {
    return [{ transport: 'UDP', address: '127.0.0.1', port: 5060 }];
  }
  activeCalls() {
    return this.calls;
  }
  hangupCall(id: string) {
    const known = this.calls.some((call) => call.id === id);
    if (known) this.hungUp.push(id);
    return known;
  }
  async startRecording(id: string, mode: 'both' | 'caller' | 'callee') {
    if (!this.calls.some((call) => call.id === id)) return undefined;
    if (this.refuseRecording) throw new RecordingRefusedError(this.refuseRecording);
    this.recordings.set(id, mode);
    return { file: `recordings/2024-05-01/${id}.wav` };
  }
  async stopRecording(id: string) {
    if (!this.recordings.delete(id)) return undefined;
    return { file: `recordings/2024-05-01/${id}.wav`, seconds: 12.5 };
  }
  defaultDomain() {
    return DEFAULT_DOMAIN;
  }
  onExtensionDeleted(domain: string, number: string) {
    this.deletedExtensions.push(`${number}@${domain}`);
  }
  onDomainsChanged() {
    this.domainChanges++;
  }
  services() {
    return this.serviceStatuses;
  }
  serviceExists(name: string) {
    return this.serviceStatuses.some((status) => status.name === name);
  }
}

export interface ApiFixture {
  app: FastifyInstance;
  store: Store;
  runtime: FakeRuntime;
  /** Authorization header value for the admin */
  adminAuth: string;
  close(): Promise<void>;
}

export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

export async function createApiFixture(): Promise<ApiFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-api-'));
  const store = openSqliteStore(join(dir, 'switchboard.db'));
  store.domains.ensureDefault(DEFAULT_DOMAIN);
  ensureAdminCredential(store.settings, ADMIN_PASSWORD);
  const runtime = new FakeRuntime();
  const app = await buildApi({ store, runtime });
  return {
    app,
    store,
    runtime,
    adminAuth: basicAuth('admin', ADMIN_PASSWORD),
    close: async () => {
      await app.close();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
