// SipRequest/SipResponse -> bytes. Header lines are written exactly as stored; Content-Length is
// always recomputed from the body so a forwarded or edited message can never announce a wrong size.

import type { AnyMessage } from './message.js';

export function serialize(msg: AnyMessage): Buffer {
  let head = msg.isRequest ? `${msg.method} ${msg.uri} ${msg.version}\r\n` : `${msg.version} ${msg.status} ${msg.reason}\r\n`;
  let lengthWritten = false;
  for (const h of msg.headers) {
    if (h.key === 'content-length') {
      if (lengthWritten) continue;
      head += `${h.name}: ${msg.body.length}\r\n`;
      lengthWritten = true;
    } else {
      head += `${h.name}: ${h.value}\r\n`;
    }
  }
  if (!lengthWritten) head += `Content-Length: ${msg.body.length}\r\n`;
  head += '\r\n';
  if (msg.body.length === 0) return Buffer.from(head, 'utf8');
  const headLength = Buffer.byteLength(head, 'utf8');
  const out = Buffer.allocUnsafe(headLength + msg.body.length);
  out.write(head, 0, 'utf8');
  msg.body.copy(out, headLength);
  return out;
}
