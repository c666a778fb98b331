import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createApiFixture, type ApiFixture } from './api-fixture.js';

let fixture: ApiFixture;
before(async () => {
  fixture = await createApiFixture();
  fixture.runtime.calls = [
    { id: 'call-1', domain: 'example.com', caller: '201', callee: '202', state: 'answered', startedAt: Date.UTC(2024, 4, 1, 8), answeredAt: Date.UTC(2024, 4, 1, 8, 0, 5),
      media: [{
        type: 'audio',
        caller: { relayPort: 20000, sendsTo: { address: '192.0.2.10', port: 4000, latched: true }, packetsReceived: 50, packetsDropped: 0 },
        callee: { relayPort: 20002, sendsTo: null, packetsReceived: 0, packetsDropped: 3 },
        heldBy: null,
      }],
      recording: { file: 'recordings/2024-05-01/call-1.wav', mode: 'both' } },
    { id: 'call-2', domain: 'example.com', caller: '203', callee: '0800123', state: 'ringing', startedAt: Date.UTC(2024, 4, 1, 9), answeredAt: null, media: [], recording: null },
  ];
});
after(() => fixture.close());

function request(method: 'GET' | 'DELETE' | 'POST', url: string) {
  return fixture.app.inject({ method, url, headers: { authorization: fixture.adminAuth } });
}

test('lists active calls with ISO 8601 times', async () => {
  const response = await request('GET', '/api/v1/calls');
  assert.equal(response.statusCode, 200);
  assert.deepEqual(response.json(), [
    { id: 'call-1', domain: 'example.com', caller: '201', callee: '202', state: 'answered', startedAt: '2024-05-01T08:00:00.000Z', answeredAt: '2024-05-01T08:00:05.000Z',
      recording: { file: 'recordings/2024-05-01/call-1.wav', mode: 'both' },
      media: [{
        type: 'audio',
        caller: { relayPort: 20000, sendsTo: { address: '192.0.2.10', port: 4000, latched: true }, packetsReceived: 50, packetsDropped: 0 },
        callee: { relayPort: 20002, sendsTo: null, packetsReceived: 0, packetsDropped: 3 },
        heldBy: null,
      }] },
    { id: 'call-2', domain: 'example.com', caller: '203', callee: '0800123', state: 'ringing', startedAt: '2024-05-01T09:00:00.000Z', answeredAt: null, media: [], recording: null },
  ]);
});

test('starts and stops a call recording; 404 for an unknown call, 409 with the reason when it cannot be recorded', async () => {
  const started = await request('POST', '/api/v1/calls/call-1/recording?mode=caller');
  assert.equal(started.statusCode, 201);
  assert.deepEqual(started.json(), { file: 'recordings/2024-05-01/call-1.wav' });
  assert.equal(fixture.runtime.recordings.get('call-1'), 'caller');
  const stopped = await request('DELETE', '/api/v1/calls/call-1/recording');
  assert.equal(stopped.statusCode, 200);
  assert.deepEqual(stopped.json(), { file: 'recordings/2024-05-01/call-1.wav', seconds: 12.5 });
  assert.equal((await request('DELETE', '/api/v1/calls/call-1/recording')).statusCode, 404, 'nothing left to stop');

  assert.equal((await request('POST', '/api/v1/calls/call-1/recording')).statusCode, 201, 'mode defaults');
  assert.equal(fixture.runtime.recordings.get('call-1'), 'both');
  assert.equal((await request('POST', '/api/v1/calls/nope/recording')).statusCode, 404);
  const badMode = await request('POST', '/api/v1/calls/call-1/recording?mode=everyone');
  assert.equal(badMode.statusCode, 400);
  fixture.runtime.refuseRecording = 'the call is not answered yet';
  const refused = await request('POST', '/api/v1/calls/call-2/recording');
  assert.equal(refused.statusCode, 409);
  assert.deepEqual(refused.json(), { error: 'the call is not answered yet' });
  fixture.runtime.refuseRecording = undefined;
});

test('hangs up a known call and answers 404 for an unknown one', async () => {
  const hungUp = await request('DELETE', '/api/v1/calls/call-2');
  assert.equal(hungUp.statusCode, 204);
  assert.deepEqual(fixture.runtime.hungUp, ['call-2']);
  const unknown = await request('DELETE', '/api/v1/calls/no-such-call');
  assert.equal(unknown.statusCode, 404);
  assert.deepEqual(unknown.json(), { error: 'no active call with id no-such-call' });
});

test('an unexpected failure is a 500 "internal error" without details', async () => {
  const activeCalls = fixture.runtime.activeCalls;
  fixture.runtime.activeCalls = () => {
    throw new Error('SECRET internal detail');
  };
  try {
    const response = await request('GET', '/api/v1/calls');
    assert.equal(response.statusCode, 500);
    assert.deepEqual(response.json(), { error: 'internal error' });
  } finally {
    fixture.runtime.activeCalls = activeCalls;
  }
});
