// A minimal STUN client for tests: one Binding request over UDP, retransmitted, and the
// XOR-MAPPED-ADDRESS of the answer.
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import {
  ATTR_XOR_MAPPED_ADDRESS,
  decodeAddress,
  decodeStun,
  encodeStun,
  METHOD_BINDING,
  type StunMessage,
  type TransportAddress,
} from '../../src/stun/stun-message.js';

const ATTEMPTS = 10;
const RETRY_MS = 300;

export interface BindingResult {
  /** where the request left from */
  local: TransportAddress;
  /** what the server says it came from */
  mapped: TransportAddress;
  response: StunMessage;
}

/** Sends a Binding request (with FINGERPRINT) to host:port; rejects when nothing answers in ~3 s. */
export async function stunBinding(host: string, port: number): Promise<BindingResult> {
  const socket = dgram.createSocket(isIPv6(host) ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, host, () => resolve());
    });
    const transactionId = randomBytes(12);
    const request = encodeStun({ method: METHOD_BINDING, cls: 'request', transactionId, attributes: [] }, { fingerprint: true });
    const answer = new Promise<StunMessage>((resolve) => {
      socket.on('message', (data) => {
        const message = decodeStun(data);
        if (message?.cls === 'success' && message.transactionId.equals(transactionId)) resolve(message);
      });
    });
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      socket.send(request, port, host);
      const response = await Promise.race([answer, new Promise<undefined>((r) => setTimeout(r, RETRY_MS))]);
      if (response === undefined) continue;
      const attr = response.attributes.find((a) => a.type === ATTR_XOR_MAPPED_ADDRESS);
      const mapped = attr && decodeAddress(attr.value, transactionId);
      if (!mapped) throw new Error(`Binding response from ${host}:${port} without a valid XOR-MAPPED-ADDRESS`);
      return { local: { address: host, port: socket.address().port }, mapped, response };
    }
    throw new Error(`no STUN Binding response from ${host} port ${port}`);
  } finally {
    socket.close();
  }
}
