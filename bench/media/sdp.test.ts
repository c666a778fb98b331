import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { audioAddress, audioDescription } from './sdp.js';

const sdp = (...lines: string[]) => `${lines.join('\r\n')}\r\n`;

describe('bench SDP', () => {
  it('offers PCMU at 20 ms on the given port, and reads it back', () => {
    const offer = audioDescription(40_002, 7);
    assert.match(offer, /^m=audio 40002 RTP\/AVP 0\r$/m);
    assert.match(offer, /^a=rtpmap:0 PCMU\/8000\r$/m);
    assert.match(offer, /^a=ptime:20\r$/m);
    assert.deepEqual(audioAddress(offer), { address: '127.0.0.1', port: 40_002 });
  });

  it('prefers the audio stream\'s own c= line to the session\'s', () => {
    const text = sdp('v=0', 'c=IN IP4 192.0.2.1', 't=0 0', 'm=audio 20000 RTP/AVP 0', 'c=IN IP4 192.0.2.9');
    assert.deepEqual(audioAddress(text), { address: '192.0.2.9', port: 20_000 });
  });

  it('skips a video stream before the audio one, and its c= line', () => {
    const text = sdp('v=0', 'c=IN IP4 192.0.2.1', 'm=video 30000 RTP/AVP 96', 'c=IN IP4 192.0.2.7', 'm=audio 20002 RTP/AVP 0');
    assert.deepEqual(audioAddress(text), { address: '192.0.2.1', port: 20_002 });
  });

  it('finds nothing without an audio stream, an address or a valid port', () => {
    assert.equal(audioAddress(sdp('v=0', 'c=IN IP4 192.0.2.1', 'm=video 30000 RTP/AVP 96')), undefined);
    assert.equal(audioAddress(sdp('v=0', 'm=audio 20000 RTP/AVP 0')), undefined);
    assert.equal(audioAddress(sdp('v=0', 'c=IN IP4 192.0.2.1', 'm=audio 0 RTP/AVP 0')), undefined);
    assert.equal(audioAddress(sdp('v=0', 'c=IN IP4 192.0.2.1', 'm=audio 70000 RTP/AVP 0')), undefined);
  });
});
