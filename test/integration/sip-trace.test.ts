// [log] sip_trace = true writes every SIP message in and out to <data-dir>/log/sip-trace.log, with the
// digest response hidden; the JSON log never carries it either.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startSwitchboard, type Switchboard } from '../support/server.js';
import { runSipp, sippInjection, sippScenario } from '../support/sipp.js';

/** The trace is written asynchronously: wait (bounded) until it holds what the exchange produced. */
async function traceWith(pattern: RegExp): Promise<string> {
  let text = '';
  for (let i = 0; i < 40; i++) {
    text = readFileSync(join(dataDir, 'log', 'sip-trace.log'), 'latin1');
    if (pattern.test(text)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return text;
}

let dataDir: string;

describe('SIP trace', { timeout: 30_000 }, () => {
  let server: Switchboard;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sb-trace-'));
    writeFileSync(join(dataDir, 'mss_var_param.ini'), '[log]\nsip_trace = true\nlevel = debug\n');
    server = await startSwitchboard({ dataDir });
    await server.createExtension('4101', 'Pw-4101-Zx9');
  });

  after(async () => {
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('records the REGISTER exchange both ways and hides digest responses', async () => {
    const result = await runSipp({
      scenario: sippScenario('register'),
      target: `127.0.0.1:${server.sipPort}`,
      injection: sippInjection([{ number: '4101', password: 'Pw-4101-Zx9' }]),
      timeoutMs: 10_000,
    });
    assert.equal(result.code, 0, result.errors);
    const trace = await traceWith(/SIP\/2\.0 200 /);
    assert.equal(trace.match(/received from UDP 127\.0\.0\.1:\d+ \(\d+ bytes\)\nREGISTER sip:/g)?.length, 2);
    assert.match(trace, /sent to UDP 127\.0\.0\.1:\d+ \(\d+ bytes\)\nSIP\/2\.0 401 /);
    assert.match(trace, /sent to UDP 127\.0\.0\.1:\d+ \(\d+ bytes\)\nSIP\/2\.0 200 /);
    assert.match(trace, /Authorization: Digest [^\n]*response="<hidden>"/);
    assert.doesNotMatch(trace, /response="[0-9a-f]{32,}"/);
    assert.doesNotMatch(server.output(), /response="[0-9a-f]{32,}"|Pw-4101-Zx9/);
  });
});
