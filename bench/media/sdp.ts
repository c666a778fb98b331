// The bench's session descriptions: one PCMU audio stream, and where the other side wants it sent.

export interface MediaAddress {
  address: string;
  port: number;
}

/** An offer or answer of PCMU at 20 ms on 127.0.0.1:`port`. */
export function audioDescription(port: number, sessionId: number): string {
  return [
    'v=0',
    `o=- ${sessionId} 1 IN IP4 127.0.0.1`,
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP 0`,
    'a=rtpmap:0 PCMU/8000',
    'a=ptime:20',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

/** Where the first audio stream of `sdp` is to be sent: its c= (media level first, else session level) and port. */
export function audioAddress(sdp: string): MediaAddress | undefined {
  let sessionAddress: string | undefined;
  let mediaAddress: string | undefined;
  let port: number | undefined;
  let section: 'session' | 'audio' | 'other' = 'session';
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('m=')) {
      if (port !== undefined) break;
      const [media, portText] = line.slice(2).split(' ');
      section = media === 'audio' ? 'audio' : 'other';
      if (section === 'audio') port = Number(portText);
    } else if (line.startsWith('c=')) {
      const address = line.slice(2).split(' ')[2];
      if (section === 'session') sessionAddress = address;
      else if (section === 'audio') mediaAddress = address;
    }
  }
  const address = mediaAddress ?? sessionAddress;
  if (address === undefined || port === undefined || !Number.isInteger(port) || port <= 0 || port > 65535) return undefined;
  return { address, port };
}
