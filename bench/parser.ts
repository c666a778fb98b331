// Parsing throughput: parse a typical INVITE and read what transaction matching needs
// (Call-ID, CSeq, top Via). Run: node dist/bench/parser.js

import { parseMessage } from '../src/sip/parser.js';

const SDP =
  'v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n' +
  'm=audio 49170 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n' +
  'a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n';

const INVITE = Buffer.from(
  'INVITE sip:201@pbx.example.com SIP/2.0\r\n' +
    'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---7ac1b0b7a1f3c2d4;rport\r\n' +
    'Max-Forwards: 70\r\n' +
    'Contact: <sip:200@192.0.2.10:5060;transport=udp>\r\n' +
    'To: <sip:201@pbx.example.com>\r\n' +
    'From: "Alice" <sip:200@pbx.example.com>;tag=4f1c2a9e\r\n' +
    'Call-ID: 8f2a6c1e-3b7d-4e0a-9c55-1d2e3f4a5b6c@192.0.2.10\r\n' +
    'CSeq: 1 INVITE\r\n' +
    'Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n' +
    'Content-Type: application/sdp\r\n' +
    'Supported: replaces, norefersub, timer\r\n' +
    'User-Agent: Example Softphone 5.1\r\n' +
    'Allow-Events: presence, kpml, talk\r\n' +
    `Content-Length: ${Buffer.byteLength(SDP)}\r\n` +
    '\r\n' +
    SDP,
);

const WARMUP = 50_000;
const ROUNDS = 500_000;

function parseAndRead(): number {
  const r = parseMessage(INVITE);
  if (!r.ok) throw new Error(r.error);
  const m = r.message;
  return m.callId.length + (m.cseq()?.seq ?? 0) + (m.topVia()?.params.branch?.length ?? 0);
}

let sink = 0;
for (let i = 0; i < WARMUP; i++) sink += parseAndRead();
const started = process.hrtime.bigint();
for (let i = 0; i < ROUNDS; i++) sink += parseAndRead();
const seconds = Number(process.hrtime.bigint() - started) / 1e9;

console.log(
  `parse INVITE (${INVITE.length} bytes) + callId/cseq/topVia: ${Math.round(ROUNDS / seconds).toLocaleString('en-US')} messages/s` +
    ` (${((seconds / ROUNDS) * 1e6).toFixed(2)} µs each; checksum ${sink % 997})`,
);
