import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Dialog, uriToEndpoint } from '../../src/dialog/dialog.js';
import { parseMessage } from '../../src/sip/parser.js';
import { SipRequest, SipResponse, type Endpoint } from '../../src/sip/message.js';

const source: Endpoint = { transport: 'UDP', address: '198.51.100.7', port: 40000 };

function parse<T extends SipRequest | SipResponse>(lines: string[]): T {
  const result = parseMessage(Buffer.from(`${lines.join('\r\n')}\r\n\r\n`));
  assert.ok(result.ok, result.ok ? '' : result.error);
  return result.message as T;
}

function invite(extra: string[] = []): SipRequest {
  const req = parse<SipRequest>([
    'INVITE sip:1002@pbx.example SIP/2.0',
    'Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-1;rport',
    'From: "Alice" <sip:1001@pbx.example>;tag=alice',
    'To: <sip:1002@pbx.example>',
    'Call-ID: call-1',
    'CSeq: 10 INVITE',
    'Contact: <sip:1001@10.0.0.5:5060>',
    ...extra,
    'Content-Length: 0',
  ]);
  req.source = source;
  return req;
}

function inDialog(method: string, seq: number, extra: string[] = []): SipRequest {
  const req = parse<SipRequest>([
    `${method} sip:ours@203.0.113.1 SIP/2.0`,
    'Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-2',
    'From: <sip:1001@pbx.example>;tag=alice',
    'To: <sip:1002@pbx.example>;tag=ours',
    'Call-ID: call-1',
    `CSeq: ${seq} ${method}`,
    ...extra,
    'Content-Length: 0',
  ]);
  req.source = { ...source, port: 40001 };
  return req;
}

describe('dialog as UAS (RFC 3261 §12.1.1)', () => {
  it('takes its identifiers, remote target and route set (in order) from the request', () => {
    const d = Dialog.asUas(invite(['Record-Route: <sip:p1.example;lr>, <sip:p2.example;lr>']), 'ours', 'early');
    assert.equal(d.callId, 'call-1');
    assert.equal(d.localTag, 'ours');
    assert.equal(d.remoteTag, 'alice');
    assert.equal(d.remoteSeq, 10);
    assert.equal(d.remoteTarget, 'sip:1001@10.0.0.5:5060');
    assert.deepEqual(d.routeSet, ['<sip:p1.example;lr>', '<sip:p2.example;lr>']);
    assert.equal(d.state, 'early');
  });

  it('sends to where the peer really is when there is no route set (NAT)', () => {
    const d = Dialog.asUas(invite(), 'ours', 'confirmed');
    assert.deepEqual(d.nextHop(), source);
    const bye = d.createRequest('BYE');
    assert.equal(bye.uri, 'sip:1001@10.0.0.5:5060');
    assert.equal(bye.get('from'), '<sip:1002@pbx.example>;tag=ours');
    assert.equal(bye.get('to'), '"Alice" <sip:1001@pbx.example>;tag=alice');
    assert.equal(bye.cseq()?.method, 'BYE');
    assert.equal(bye.getAll('route').length, 0);
  });

  it('keeps a display name that contains ;tag= intact', () => {
    const req = invite();
    req.headers = req.headers.map((h) => (h.key === 'from' ? { ...h, value: '"A;tag=abc" <sip:1001@pbx.example>;tag=alice' } : h));
    req.invalidate();
    const bye = Dialog.asUas(req, 'ours', 'confirmed').createRequest('BYE');
    assert.equal(bye.get('to'), '"A;tag=abc" <sip:1001@pbx.example>;tag=alice');
  });

  it('answers an out-of-order request with false (500) and follows the flow of in-order ones', () => {
    const d = Dialog.asUas(invite(), 'ours', 'confirmed');
    assert.equal(d.acceptRemoteRequest(inDialog('INFO', 11)), true);
    assert.equal(d.remoteSeq, 11);
    assert.equal(d.acceptRemoteRequest(inDialog('INFO', 11)), false);
    assert.equal(d.acceptRemoteRequest(inDialog('INFO', 5)), false);
    assert.equal(d.remoteSeq, 11);
    assert.deepEqual(d.nextHop(), { ...source, port: 40001 });
  });

  it('refreshes the remote target on re-INVITE and UPDATE but not on INFO', () => {
    const d = Dialog.asUas(invite(), 'ours', 'confirmed');
    d.acceptRemoteRequest(inDialog('INFO', 11, ['Contact: <sip:1001@10.0.0.9:5070>']));
    assert.equal(d.remoteTarget, 'sip:1001@10.0.0.5:5060');
    d.acceptRemoteRequest(inDialog('INVITE', 12, ['Contact: <sip:1001@10.0.0.9:5070>']));
    assert.equal(d.remoteTarget, 'sip:1001@10.0.0.9:5070');
    d.acceptRemoteRequest(inDialog('UPDATE', 13, ['Contact: <sip:1001@10.0.0.8:5080>']));
    assert.equal(d.remoteTarget, 'sip:1001@10.0.0.8:5080');
  });
});

describe('dialog as UAC (RFC 3261 §12.1.2)', () => {
  const request = (): SipRequest => {
    const req = new SipRequest('INVITE', 'sip:1002@192.0.2.20:5062');
    req.add('From', '"Alice" <sip:1001@pbx.example>;tag=ours');
    req.add('To', '<sip:1002@pbx.example>');
    req.add('Call-ID', 'leg-2');
    req.add('CSeq', '1 INVITE');
    return req;
  };
  const answer = (extra: string[]): SipResponse =>
    parse<SipResponse>([
      'SIP/2.0 200 OK',
      'Via: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK-3',
      'From: "Alice" <sip:1001@pbx.example>;tag=ours',
      'To: <sip:1002@pbx.example>;tag=bob',
      'Call-ID: leg-2',
      'CSeq: 1 INVITE',
      'Contact: <sip:1002@192.0.2.20:5062>',
      ...extra,
      'Content-Length: 0',
    ]);
  const flow: Endpoint = { transport: 'TCP', address: '192.0.2.20', port: 5062, connectionId: 4 };

  it('reverses the Record-Route set and routes through its first entry (loose routing)', () => {
    const d = Dialog.asUac(request(), answer(['Record-Route: <sip:p2.example:5070;lr>, <sip:192.0.2.99:5080;lr>']), flow);
    assert.deepEqual(d.routeSet, ['<sip:192.0.2.99:5080;lr>', '<sip:p2.example:5070;lr>']);
    assert.equal(d.state, 'confirmed');
    assert.deepEqual(d.nextHop(), { transport: 'UDP', address: '192.0.2.99', port: 5080 });
    const bye = d.createRequest('BYE');
    assert.equal(bye.uri, 'sip:1002@192.0.2.20:5062');
    assert.deepEqual(bye.getAll('route'), ['<sip:192.0.2.99:5080;lr>', '<sip:p2.example:5070;lr>']);
    assert.equal(bye.cseq()?.seq, 2);
  });

  it('puts a strict router in the Request-URI and the remote target last in Route', () => {
    const d = Dialog.asUac(request(), answer(['Record-Route: <sip:192.0.2.99:5080>']), flow);
    const bye = d.createRequest('BYE');
    assert.equal(bye.uri, 'sip:192.0.2.99:5080');
    assert.deepEqual(bye.getAll('route'), ['<sip:1002@192.0.2.20:5062>']);
  });

  it('recognises ;LR in any case and keeps quoted route parameters quoted', () => {
    const d = Dialog.asUac(request(), answer(['Record-Route: <sip:192.0.2.99:5080;LR>;p="a b"']), flow);
    const bye = d.createRequest('BYE');
    assert.equal(bye.uri, 'sip:1002@192.0.2.20:5062');
    assert.deepEqual(bye.getAll('route'), ['<sip:192.0.2.99:5080;LR>;p="a b"']);
  });

  it('strips a strict route of its header parameters in the Request-URI', () => {
    const d = Dialog.asUac(request(), answer(['Record-Route: <sip:192.0.2.99:5080>;foo=bar']), flow);
    assert.equal(d.createRequest('BYE').uri, 'sip:192.0.2.99:5080');
  });

  it('reuses the flow without a route set, and an ACK keeps the INVITE CSeq', () => {
    const d = Dialog.asUac(request(), answer([]), flow);
    assert.deepEqual(d.nextHop(), flow);
    const ack = d.createRequest('ACK', 1);
    assert.equal(ack.get('cseq'), '1 ACK');
    assert.equal(d.createRequest('BYE').get('cseq'), '2 BYE');
  });
});

describe('uriToEndpoint', () => {
  it('maps transports and default ports, and refuses names and other schemes', () => {
    assert.deepEqual(uriToEndpoint('sip:a@192.0.2.1'), { transport: 'UDP', address: '192.0.2.1', port: 5060 });
    assert.deepEqual(uriToEndpoint('sip:a@192.0.2.1:5070;transport=tcp'), { transport: 'TCP', address: '192.0.2.1', port: 5070 });
    assert.deepEqual(uriToEndpoint('sips:a@[2001:db8::1]'), { transport: 'TLS', address: '2001:db8::1', port: 5061 });
    assert.equal(uriToEndpoint('sip:a@pbx.example'), undefined);
    assert.equal(uriToEndpoint('tel:+15551234'), undefined);
  });
});
