// Binding upserts per second on a real SQLite file: every REGISTER costs one upsert, and the
// target is 3,000 registrations per second. Run: node dist/bench/store.js [aors] [upserts]

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { openSqliteStore } from '../src/store/sqlite-store.js';
import type { Binding } from '../src/store/types.js';

export interface BindingUpsertResult {
  aors: number;
  upserts: number;
  upsertsPerSecond: number;
  microsecondsPerUpsert: number;
}

/** Each upsert is its own autocommit transaction, as it is when REGISTERs arrive one by one. */
export function measureBindingUpserts(aors = 2000, upserts = 30000): BindingUpsertResult {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-bench-store-'));
  const store = openSqliteStore(path.join(dir, 'bench.db'));
  try {
    const bindings: Binding[] = [];
    for (let i = 0; i < aors; i++) {
      const number = String(1000 + i);
      const contactUri = `sip:${number}@10.0.${i >> 8}.${i & 255}:5060`;
      bindings.push({
        domain: 'bench.local', number, contact: `<${contactUri}>;expires=3600`, contactUri, q: 1,
        expiresAt: 0, callId: `call-${i}`, cseq: 1, transport: 'UDP', sourceAddress: `10.0.${i >> 8}.${i & 255}`,
        sourcePort: 5060, userAgent: 'bench', registeredAt: 0,
      });
    }
    const run = (count: number) => {
      for (let n = 0; n < count; n++) {
        const b = bindings[n % aors];
        const now = Date.now();
        b.cseq++;
        b.registeredAt = now;
        b.expiresAt = now + 3_600_000;
        store.bindings.upsert(b);
      }
    };
    run(aors);
    const start = process.hrtime.bigint();
    run(upserts);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    return {
      aors,
      upserts,
      upsertsPerSecond: Math.round(upserts / seconds),
      microsecondsPerUpsert: Math.round((seconds * 1e6) / upserts * 10) / 10,
    };
  } finally {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [aors, upserts] = process.argv.slice(2).map(Number);
  const result = measureBindingUpserts(aors || undefined, upserts || undefined);
  console.log(`binding upserts: ${result.upsertsPerSecond}/s (${result.microsecondsPerUpsert} µs each, ${result.upserts} upserts over ${result.aors} AORs, WAL, synchronous=NORMAL)`);
}
