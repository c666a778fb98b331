import type { Endpoint, SipRequest, TransportName } from '../sip/message.js';

const DEFAULT_SIP_PORT = 5060;
const DEFAULT_SIPS_PORT = 5061;

/**
 * Where responses to `req` go: RFC 3261 §18.2.2 as amended by RFC 3581 (rport).
 * Reliable transports answer on the connection the request came on and, should it have closed, on a
 * new one to the source address and the Via sent-by port (`fallbackPort`, default 5060, TLS 5061).
 * Unreliable ones answer to the packet's source address (what `received` would say), and to its
 * source port only when the client asked with `rport`, because otherwise it listens on the Via
 * sent-by port. maddr is ignored.
 */
export function responseDestination(req: SipRequest): Endpoint {
  const via = req.topVia();
  const source = req.source;
  if (source && source.transport !== 'UDP') {
    return { ...source, fallbackPort: via?.port ?? defaultPort(source.transport) };
  }
  const viaPort = via?.port ?? DEFAULT_SIP_PORT;
  if (source) {
    const port = via !== undefined && 'rport' in via.params ? source.port : viaPort;
    return { transport: source.transport, address: source.address, port };
  }
  // Without a source (a message built locally), the Via is all we know.
  const host = via?.params.received ?? via?.host ?? '';
  const transport = transportOf(via?.transport);
  return { transport, address: stripBrackets(host), port: via?.port ?? defaultPort(transport) };
}

function defaultPort(transport: TransportName): number {
  return transport === 'TLS' ? DEFAULT_SIPS_PORT : DEFAULT_SIP_PORT;
}

function transportOf(viaTransport: string | undefined): TransportName {
  return viaTransport === 'TCP' || viaTransport === 'TLS' ? viaTransport : 'UDP';
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
