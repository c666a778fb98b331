import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { responseDestination } from '../../src/transaction/response-destination.js';
import { request } from './harness.js';

describe('responseDestination (RFC 3261 §18.2.2, RFC 3581)', () => {
  it('answers UDP to the source address and the Via port without rport', () => {
    assert.deepEqual(responseDestination(request({ viaPort: 5062 })), { transport: 'UDP', address: '192.0.2.10', port: 5062 });
  });

  it('defaults the Via port to 5060', () => {
    assert.deepEqual(responseDestination(request({ viaPort: 0 })), { transport: 'UDP', address: '192.0.2.10', port: 5060 });
  });

  it('answers UDP to the source port with rport', () => {
    assert.deepEqual(responseDestination(request({ rport: true })), { transport: 'UDP', address: '192.0.2.10', port: 40000 });
  });

  it('reuses the connection on reliable transports, falling back to the Via sent-by port (§18.2.2)', () => {
    assert.deepEqual(responseDestination(request({ transport: 'TLS' })), {
      transport: 'TLS',
      address: '192.0.2.10',
      port: 40000,
      connectionId: 7,
      fallbackPort: 5062,
    });
  });

  it('falls back to 5060 for TCP and 5061 for TLS when the Via has no port, even with rport', () => {
    assert.equal(responseDestination(request({ transport: 'TCP', viaPort: 0 })).fallbackPort, 5060);
    assert.equal(responseDestination(request({ transport: 'TLS', viaPort: 0, rport: true })).fallbackPort, 5061);
  });

  it('gives UDP responses no fallback port', () => {
    assert.equal(responseDestination(request({ transport: 'UDP' })).fallbackPort, undefined);
  });

  it('falls back to the Via when the message has no source', () => {
    const req = request({ viaHost: '[2001:db8::1]', viaPort: 5070, transport: 'TCP' });
    req.source = undefined;
    assert.deepEqual(responseDestination(req), { transport: 'TCP', address: '2001:db8::1', port: 5070 });
  });

  it('defaults the Via port of a locally built TLS message to 5061', () => {
    const req = request({ viaHost: '198.51.100.7', viaPort: 0, transport: 'TLS' });
    req.source = undefined;
    assert.deepEqual(responseDestination(req), { transport: 'TLS', address: '198.51.100.7', port: 5061 });
  });
});
