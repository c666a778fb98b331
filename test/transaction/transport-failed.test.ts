import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Endpoint } from '../../src/sip/message.js';
import { harness, recordingUser, request, response } from './harness.js';

const PEER: Endpoint = { transport: 'TCP', address: '198.51.100.5', port: 5060 };

describe('TransactionLayer.transportFailed (a TCP/TLS connection failed after send returned)', () => {
  it('ends a Calling INVITE with onTransportError at once instead of waiting for Timer B', () => {
    const h = harness();
    const user = recordingUser();
    const tx = h.layer.sendRequest(request({ transport: 'TCP' }), PEER, user);
    h.clock.advance(20);
    const failure = new Error('cannot connect to TCP 198.51.100.5:5060: connection refused');
    // the transport names the connection it opened: same address and port, an id of its own
    assert.equal(h.layer.transportFailed({ ...PEER, connectionId: 41 }, failure), 1);
    assert.equal(tx.state, 'Terminated');
    assert.deepEqual(user.errors, [failure]);
    assert.equal(user.timeouts, 0);
    assert.deepEqual(h.layer.count(), { client: 0, server: 0 });
    assert.equal(h.clock.pending(), 0);
    h.clock.advance(64_000);
    assert.equal(user.timeouts, 0);
    assert.equal(user.errors.length, 1);
  });

  it('matches by connectionId whatever the address, and leaves other destinations alone', () => {
    const h = harness();
    const onConnection = recordingUser();
    const elsewhere = recordingUser();
    const otherPort = recordingUser();
    const udp = recordingUser();
    const byId = h.layer.sendRequest(
      request({ method: 'OPTIONS', transport: 'TCP', branch: 'z9hG4bK-a' }),
      { transport: 'TCP', address: '192.0.2.10', port: 40000, connectionId: 7 },
      onConnection,
    );
    const other = h.layer.sendRequest(
      request({ method: 'OPTIONS', transport: 'TCP', branch: 'z9hG4bK-b' }),
      { transport: 'TCP', address: '192.0.2.99', port: 5060 },
      elsewhere,
    );
    const port = h.layer.sendRequest(request({ method: 'OPTIONS', transport: 'TCP', branch: 'z9hG4bK-c' }), { ...PEER, port: 5070 }, otherPort);
    const overUdp = h.layer.sendRequest(request({ method: 'OPTIONS', branch: 'z9hG4bK-d' }), { ...PEER, transport: 'UDP' }, udp);
    const ended = h.layer.transportFailed({ transport: 'TCP', address: '192.0.2.10', port: 51000, connectionId: 7 }, new Error('reset'));
    assert.equal(ended, 1);
    assert.equal(byId.state, 'Terminated');
    assert.equal(onConnection.errors.length, 1);
    for (const tx of [other, port, overUdp]) assert.equal(tx.state, 'Trying');
    for (const user of [elsewhere, otherPort, udp]) assert.equal(user.errors.length, 0);
    assert.deepEqual(h.layer.count(), { client: 3, server: 0 });
  });

  it('ends Proceeding transactions but not those that already have their final response', () => {
    const h = harness();
    const ringing = recordingUser();
    const answered = recordingUser();
    const trying = recordingUser();
    const inviteRinging = request({ transport: 'TCP', branch: 'z9hG4bK-r' });
    const inviteAnswered = request({ transport: 'TCP', branch: 'z9hG4bK-s', callId: 'call-2' });
    const txRinging = h.layer.sendRequest(inviteRinging, PEER, ringing);
    const txAnswered = h.layer.sendRequest(inviteAnswered, PEER, answered);
    const txOptions = h.layer.sendRequest(request({ method: 'OPTIONS', transport: 'TCP', branch: 'z9hG4bK-t' }), PEER, trying);
    h.layer.receive(response(inviteRinging, 180, 'x'));
    h.layer.receive(response(inviteAnswered, 200, 'y'));
    assert.equal(txRinging.state, 'Proceeding');
    assert.equal(txAnswered.state, 'Accepted');
    assert.equal(h.layer.transportFailed(PEER, new Error('reset')), 2);
    assert.equal(txRinging.state, 'Terminated');
    assert.equal(txOptions.state, 'Terminated');
    assert.equal(txAnswered.state, 'Accepted', 'a 2xx already arrived: the loss does not concern it');
    assert.deepEqual([ringing.errors.length, trying.errors.length, answered.errors.length], [1, 1, 0]);
  });

  it('ends only the transactions live when called, even if a user starts a new one to the same place', () => {
    const h = harness();
    const retried: string[] = [];
    const user = {
      ...recordingUser(),
      onTransportError: () => {
        retried.push('retry');
        h.layer.sendRequest(request({ method: 'OPTIONS', transport: 'TCP', branch: 'z9hG4bK-retry' }), PEER, recordingUser());
      },
    };
    h.layer.sendRequest(request({ method: 'OPTIONS', transport: 'TCP', branch: 'z9hG4bK-first' }), PEER, user);
    assert.equal(h.layer.transportFailed(PEER, new Error('refused')), 1);
    assert.deepEqual(retried, ['retry']);
    assert.deepEqual(h.layer.count(), { client: 1, server: 0 });
  });

  it('ends nothing when no transaction went there', () => {
    const h = harness();
    h.layer.receive(request({ method: 'OPTIONS', transport: 'TCP' }));
    assert.equal(h.layer.transportFailed({ transport: 'TCP', address: '192.0.2.10', port: 40000, connectionId: 7 }, new Error('x')), 0);
    assert.deepEqual(h.layer.count(), { client: 0, server: 1 });
  });
});
