// Micro-benchmark: non-INVITE server transactions created, answered and terminated per second.
// Messages are built before timing, so this measures matching, state machines and timers only.
import { pathToFileURL } from 'node:url';
import { createResponse } from '../src/sip/builders.js';
import { SipRequest, type HeaderField, type TransportName } from '../src/sip/message.js';
import { TransactionLayer } from '../src/transaction/layer.js';
import { FakeClock } from '../test/support/fake-clock.js';
import { serialize } from '../src/sip/serializer.js';

export interface TransactionBenchResult {
  name: string;
  transactions: number;
  perSecond: number;
}

function options(i: number, transport: TransportName): SipRequest {
  const headers: HeaderField[] = [
    { key: 'via', name: 'Via', value: `SIP/2.0/${transport} 192.0.2.10:5060;branch=z9hG4bK-bench-${i};rport` },
    { key: 'max-forwards', name: 'Max-Forwards', value: '70' },
    { key: 'from', name: 'From', value: `<sip:bench@example.com>;tag=f${i}` },
    { key: 'to', name: 'To', value: '<sip:pbx.example.com>' },
    { key: 'call-id', name: 'Call-ID', value: `bench-${i}` },
    { key: 'cseq', name: 'CSeq', value: '1 OPTIONS' },
  ];
  const req = new SipRequest('OPTIONS', 'sip:pbx.example.com', headers);
  req.source = { transport, address: '192.0.2.10', port: 5060, connectionId: transport === 'UDP' ? undefined : 1 };
  return req;
}

/** TCP ends each transaction on its final response (Timer J = 0); UDP holds it until Timer J fires. */
function run(transport: TransportName, count: number): TransactionBenchResult {
  const clock = new FakeClock();
  const layer = new TransactionLayer({
    clock,
    timers: () => ({ T1: 500, T2: 4000, T4: 5000 }),
    encode: serialize,
    send: () => {},
    isReliable: (t) => t !== 'UDP',
    onRequest: (req, tx) => tx.respond(createResponse(req, 200)),
    onAck: () => {},
    onStrayResponse: () => {},
  });
  const requests = Array.from({ length: count }, (_, i) => options(i, transport));
  const started = process.hrtime.bigint();
  for (const req of requests) layer.receive(req);
  clock.advance(64 * 500);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (layer.count().server !== 0) throw new Error('transactions left behind');
  return { name: `NIST create+respond+terminate (${transport})`, transactions: count, perSecond: Math.round(count / seconds) };
}

export function benchTransactions(count = 200_000): TransactionBenchResult[] {
  run('TCP', 10_000); // warm-up
  return [run('TCP', count), run('UDP', Math.min(count, 50_000))];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const r of benchTransactions()) console.log(`${r.name}: ${r.perSecond.toLocaleString('en')} /s (${r.transactions} transactions)`);
}
