import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cseqOf, formatSipMessage, headerOf, headersOf, paramOf, parseSipMessage, uriOf, userOf } from './sip-message.js';

describe('bench SIP messages', () => {
  it('reads a response with compact and folded headers and a body cut at Content-Length', () => {
    const text = [
      'SIP/2.0 200 OK', 'v: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1', 'Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-2',
      'f: <sip:500@127.0.0.1>;tag=a1', 't: <sip:600@127.0.0.1>', ' ;tag=b2', 'i: call-1', 'CSeq: 2 INVITE', 'l: 4', '', 'v=0\r\nextra',
    ].join('\r\n');
    const message = parseSipMessage(Buffer.from(text))!;
    assert.equal(message.status, 200);
    assert.equal(message.reason, 'OK');
    assert.equal(message.method, undefined);
    assert.deepEqual(headersOf(message, 'via'), ['SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1', 'SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-2']);
    assert.equal(paramOf(headerOf(message, 'to'), 'tag'), 'b2');
    assert.equal(headerOf(message, 'call-id'), 'call-1');
    assert.deepEqual(cseqOf(message), { seq: 2, method: 'INVITE' });
    assert.equal(message.body, 'v=0\r');
  });

  it('reads a request line', () => {
    const message = parseSipMessage(Buffer.from('BYE sip:600@127.0.0.1:5070 SIP/2.0\r\nCall-ID: x\r\n\r\n'))!;
    assert.equal(message.method, 'BYE');
    assert.equal(message.uri, 'sip:600@127.0.0.1:5070');
    assert.equal(message.status, 0);
  });

  it('refuses what is not SIP', () => {
    const parse = (text: string) => parseSipMessage(Buffer.from(text, 'latin1'));
    assert.equal(parse('\x80\x00 RTP bytes'), undefined);
    assert.equal(parse('HTTP/1.1 200 OK\r\n\r\n'), undefined);
    assert.equal(parse('SIP/2.0 99 Low\r\n\r\n'), undefined);
    assert.equal(parse('SIP/2.0 200 OK\r\nno colon here\r\n\r\n'), undefined);
  });

  it('takes URIs, users and parameters out of name-addrs', () => {
    assert.equal(uriOf('"Desk" <sip:600@127.0.0.1:5070;transport=udp>;tag=x'), 'sip:600@127.0.0.1:5070;transport=udp');
    assert.equal(uriOf('sip:600@127.0.0.1;tag=x'), 'sip:600@127.0.0.1');
    assert.equal(userOf('<sip:600@127.0.0.1>'), '600');
    assert.equal(userOf('sip:127.0.0.1'), undefined);
    assert.equal(paramOf('SIP/2.0/UDP 127.0.0.1:5070;rport;branch=z9hG4bK-7', 'branch'), 'z9hG4bK-7');
    assert.equal(paramOf('<sip:600@127.0.0.1>', 'tag'), undefined);
  });

  it('counts Content-Length in bytes, writing and reading', () => {
    const body = 's=Ünïcode\r\n';
    const text = formatSipMessage('OPTIONS sip:127.0.0.1 SIP/2.0', [['Call-ID', 'c'], ['CSeq', '1 OPTIONS']], body);
    assert.match(text, /\r\nContent-Length: 13\r\n\r\ns=Ünïcode\r\n$/);
    // Bytes after the declared length (padding, a second message) are not body.
    const message = parseSipMessage(Buffer.from(`${text}trailing`))!;
    assert.equal(message.body, body);
    assert.deepEqual(cseqOf(message), { seq: 1, method: 'OPTIONS' });
  });
});
