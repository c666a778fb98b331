import { isIP } from 'node:net';
import { formatNameAddr, parseNameAddr } from '../sip/headers.js';
import { formatHeaderParams } from '../sip/params.js';
import { parseUri } from '../sip/uri.js';
import { SipRequest, type Endpoint, type SipResponse, type TransportName } from '../sip/message.js';

export type DialogState = 'early' | 'confirmed' | 'terminated';

/**
 * One SIP dialog (RFC 3261 §12): identifiers, CSeq spaces, route set and remote target.
 * `flow` is where the peer's messages really come from; with no route set, requests go there,
 * which keeps phones behind NAT reachable without trusting the address in their Contact.
 */
export class Dialog {
  state: DialogState;
  localSeq: number;
  remoteSeq: number | undefined;
  remoteTarget: string;
  routeSet: string[];
  flow: Endpoint | undefined;

  private constructor(
    readonly callId: string,
    readonly localTag: string,
    public remoteTag: string,
    /** local party as written in From/To, without the tag */
    readonly localParty: string,
    readonly remoteParty: string,
    init: { localSeq: number; remoteSeq?: number; remoteTarget: string; routeSet: string[]; state: DialogState; flow?: Endpoint },
  ) {
    this.localSeq = init.localSeq;
    this.remoteSeq = init.remoteSeq;
    this.remoteTarget = init.remoteTarget;
    this.routeSet = init.routeSet;
    this.state = init.state;
    this.flow = init.flow;
  }

  /** The dialog a UAS creates when it answers `req` with a response carrying localTag (§12.1.1). */
  static asUas(req: SipRequest, localTag: string, state: DialogState): Dialog {
    const contacts = req.contacts();
    const target = Array.isArray(contacts) && contacts.length > 0 ? contacts[0].uriText : req.from()?.uriText ?? '';
    return new Dialog(req.callId, localTag, req.fromTag() ?? '', stripTag(req.get('to') ?? ''), stripTag(req.get('from') ?? ''), {
      localSeq: Math.floor(Math.random() * 10_000) + 1,
      remoteSeq: req.cseq()?.seq,
      remoteTarget: target,
      routeSet: (req.routeSet('record-route') ?? []).map((r) => formatRoute(r.uriText, r.params)),
      state,
      flow: req.source,
    });
  }

  /** The dialog a UAC learns from a response to its request (§12.1.2); route set is reversed. */
  static asUac(req: SipRequest, res: SipResponse, flow: Endpoint): Dialog {
    const contacts = res.contacts();
    const target = Array.isArray(contacts) && contacts.length > 0 ? contacts[0].uriText : req.uri;
    const routes = (res.routeSet('record-route') ?? []).map((r) => formatRoute(r.uriText, r.params)).reverse();
    return new Dialog(req.callId, req.fromTag() ?? '', res.toTag() ?? '', stripTag(req.get('from') ?? ''), stripTag(req.get('to') ?? ''), {
      localSeq: req.cseq()?.seq ?? 1,
      remoteTarget: target,
      routeSet: routes,
      state: res.status >= 200 ? 'confirmed' : 'early',
      flow: routes.length === 0 ? flow : undefined,
    });
  }

  get id(): string {
    return dialogId(this.callId, this.localTag, this.remoteTag);
  }

  /** A new request within the dialog, CSeq incremented (ACK and CANCEL are built elsewhere). */
  createRequest(method: string, cseq = ++this.localSeq): SipRequest {
    const req = new SipRequest(method, this.remoteTarget);
    const first = this.routeSet[0] === undefined ? undefined : parseNameAddr(this.routeSet[0]);
    if (first && !('lr' in first.uri.params)) {
      // strict routing (RFC 3261 §12.2.1.1): the first route becomes the Request-URI
      req.setUri(first.uriText);
      for (const r of this.routeSet.slice(1)) req.add('Route', r);
      req.add('Route', `<${this.remoteTarget}>`);
    } else {
      for (const r of this.routeSet) req.add('Route', r);
    }
    req.add('Max-Forwards', '70');
    req.add('From', `${this.localParty};tag=${this.localTag}`);
    req.add('To', this.remoteTag ? `${this.remoteParty};tag=${this.remoteTag}` : this.remoteParty);
    req.add('Call-ID', this.callId);
    req.add('CSeq', `${cseq} ${method}`);
    return req;
  }

  /** §12.2.2: a request with a lower CSeq than the last one is out of order (answer 500). */
  acceptRemoteRequest(req: SipRequest): boolean {
    const seq = req.cseq()?.seq ?? 0;
    if (req.method !== 'ACK' && req.method !== 'CANCEL') {
      if (this.remoteSeq !== undefined && seq <= this.remoteSeq) return false;
      this.remoteSeq = seq;
    }
    if (req.method === 'INVITE' || req.method === 'UPDATE') this.refreshTarget(req);
    if (req.source && this.routeSet.length === 0) this.flow = req.source;
    return true;
  }

  /** Target refresh from a 2xx to our re-INVITE / UPDATE, or from a reliable provisional. */
  refreshTarget(msg: SipRequest | SipResponse): void {
    const contacts = msg.contacts();
    if (Array.isArray(contacts) && contacts.length > 0) this.remoteTarget = contacts[0].uriText;
  }

  /** Where the next request in this dialog is sent. */
  nextHop(): Endpoint | undefined {
    const first = this.routeSet[0];
    if (first) {
      const route = parseNameAddr(first);
      return route ? uriToEndpoint(route.uriText) : undefined;
    }
    return this.flow ?? uriToEndpoint(this.remoteTarget);
  }
}

export function dialogId(callId: string, localTag: string, remoteTag: string): string {
  return `${callId}\n${localTag}\n${remoteTag}`;
}

/** From or To without its tag; the tag is added back as each request is built. */
function stripTag(party: string): string {
  const na = parseNameAddr(party);
  if (!na || na.params.tag === undefined) return party;
  const { tag: _tag, ...params } = na.params;
  return formatNameAddr({ ...na, params });
}

function formatRoute(uriText: string, params: Record<string, string | null>): string {
  return `<${uriText}>${formatHeaderParams(params)}`;
}

/** Resolves a SIP URI with an IP-literal host to the endpoint to send to (RFC 3263 without DNS). */
export function uriToEndpoint(uriText: string): Endpoint | undefined {
  const uri = parseUri(uriText);
  if (!uri || (uri.scheme !== 'sip' && uri.scheme !== 'sips')) return undefined;
  const host = uri.host.startsWith('[') ? uri.host.slice(1, -1) : uri.host;
  const maddr = uri.params.maddr;
  const address = maddr && isIP(maddr) ? maddr : host;
  if (!isIP(address)) return undefined;
  const transportParam = (uri.params.transport ?? '').toUpperCase();
  const transport: TransportName = uri.scheme === 'sips' ? 'TLS' : transportParam === 'TCP' ? 'TCP' : transportParam === 'TLS' ? 'TLS' : 'UDP';
  return { transport, address, port: uri.port ?? (transport === 'TLS' ? 5061 : 5060) };
}
