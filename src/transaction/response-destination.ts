import type { Endpoint, SipRequest, TransportName } from '../sip/message.js';

const DEFAULT_SIP_PORT = 5060;

/**
 * Where responses to `req` go: RFC 3261 §18.2.2 as amended by RFC 3581 (rport).
 * Reliable transports answer on the connection the request came on. Unreliable ones answer to the
 * packet's source address (what `received` would say), and to its source port only when the client
 * asked with `rport`, because otherwise it listens on the Via sent-by port. maddr is ignored.
 */
export function responseDestination(req: SipRequest): Endpoint {
  const via = req.topVia();
  const source = req.source;
  if (source && source.transport !== 'UDP') return { ...source };
  const viaPort = via?.port ?? DEFAULT_SIP_PORT;
  if (source) {
    const port = via !== undefined && 'rport' in via.params ? source.port : viaPort;
    return { transport: source.transport, address: source.address, port };
  }
  // Without a source (a message built locally), the Via is all we know.
  const host = via?.params.received ?? via?.host ?? '';
  return { transport: transportOf(via?.transport), address: stripBrackets(host), port: viaPort };
}

function transportOf(viaTransport: string | undefined): TransportName {
  return viaTransport === 'TCP' || viaTransport === 'TLS' ? viaTransport : 'UDP';
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
