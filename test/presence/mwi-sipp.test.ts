// Message waiting indication end to end: SIPp phones against the server on loopback, with the test
// standing in for the voicemail store (it sets the counts and reports the change).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MailboxSource } from '../../src/presence/mailbox-source.js';
import type { MessageCounts } from '../../src/presence/message-summary.js';
import { startInProcess, type InProcessServer } from '../support/in-process-server.js';
import { repoRoot } from '../support/repo-root.js';
import { sippInjection, startSipp, type SippResult } from '../support/sipp.js';

const HOST = '127.0.0.1';
const SUBSCRIBER = { number: '1001', password: 'Mwi-Pass-1001' };
const NEVER_SUBSCRIBES = { number: '1002', password: 'Mwi-Pass-1002' };
const STARTS_LATER = { number: '1003', password: 'Mwi-Pass-1003' };

function scenario(name: string): string {
  return path.join(repoRoot, 'test', 'presence', `${name}.xml`);
}

function explain(result: SippResult): string {
  return `exit ${result.code}\n--- errors\n${result.errors}\n--- log\n${result.log}\n--- screen\n${result.stdout.slice(-2500)}`;
}

/** The voicemail store as MWI sees it: counts per mailbox, and word when they change. */
class TestMailboxes implements MailboxSource {
  private readonly stored = new Map<string, MessageCounts>();
  private readonly listeners: ((domain: string, mailbox: string) => void)[] = [];

  counts(domain: string, mailbox: string): MessageCounts {
    return this.stored.get(`${mailbox}@${domain}`) ?? { newCount: 0, savedCount: 0 };
  }

  onChange(listener: (domain: string, mailbox: string) => void): void {
    this.listeners.push(listener);
  }

  set(domain: string, mailbox: string, counts: MessageCounts): void {
    this.stored.set(`${mailbox}@${domain}`, counts);
    for (const listener of this.listeners) listener(domain, mailbox);
  }
}

describe('message waiting indication with SIPp phones', { timeout: 60_000 }, () => {
  const mailboxes = new TestMailboxes();
  let server: InProcessServer;
  let target: string;

  before(async () => {
    server = await startInProcess({ applications: new Map(), extensions: [SUBSCRIBER, NEVER_SUBSCRIBES, STARTS_LATER], mailboxes });
    target = `${HOST}:${server.sipPort}`;
  });

  after(async () => {
    await server?.stop();
  });

  it('subscribes with digest authentication, is notified at once and on change, and unsubscribes', async () => {
    const phone = await startSipp({
      scenario: scenario('subscribe-mwi'),
      target,
      injection: sippInjection([SUBSCRIBER]),
      // more than the server grants: the 200 says how long it really is
      keys: { expires: '7200' },
      timeoutMs: 20_000,
    });
    try {
      await phone.waitForLog('notified', 10_000);
      mailboxes.set(HOST, SUBSCRIBER.number, { newCount: 2, savedCount: 1 });
      const result = await phone.done;
      assert.equal(result.code, 0, explain(result));
      assert.match(result.log, /subscribed expires 3600\b/, result.log);
      assert.match(result.log, /notified no 0\/0 \(0\/0\)/, result.log);
      assert.match(result.log, /changed yes 2\/1 \(0\/0\)/, result.log);
      assert.match(result.log, /ended terminated;reason=timeout/, result.log);
    } finally {
      await phone.kill();
    }
  });

  it('sends an unsolicited NOTIFY to a registered phone that never subscribed', async () => {
    const phone = await startSipp({
      scenario: scenario('uas-mwi-notify'),
      register: true,
      target,
      injection: sippInjection([NEVER_SUBSCRIBES]),
      keys: { expires: '60', wait_ms: '10000' },
      timeoutMs: 20_000,
    });
    try {
      await phone.waitForLog(`registered ${NEVER_SUBSCRIBES.number}`, 10_000);
      mailboxes.set(HOST, NEVER_SUBSCRIBES.number, { newCount: 1, savedCount: 4 });
      const result = await phone.done;
      assert.equal(result.code, 0, explain(result));
      assert.match(result.log, new RegExp(`unsolicited yes 1/4 \\(0/0\\) sip:${NEVER_SUBSCRIBES.number}@${HOST.replaceAll('.', '\\.')}`), result.log);
    } finally {
      await phone.kill();
    }
  });

  it('tells a phone that registers while new messages wait at once, unsolicited', async () => {
    mailboxes.set(HOST, STARTS_LATER.number, { newCount: 3, savedCount: 0 });
    const phone = await startSipp({
      scenario: scenario('uas-mwi-notify'),
      register: true,
      target,
      injection: sippInjection([STARTS_LATER]),
      keys: { expires: '60', wait_ms: '10000' },
      timeoutMs: 20_000,
    });
    try {
      const result = await phone.done;
      assert.equal(result.code, 0, explain(result));
      assert.match(result.log, new RegExp(`unsolicited yes 3/0 \\(0/0\\) sip:${STARTS_LATER.number}@${HOST.replaceAll('.', '\\.')}`), result.log);
    } finally {
      await phone.kill();
    }
  });
});
