const REASONS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'address not available on this host',
};

/** "cannot listen on HTTPS 0.0.0.0:8443: address already in use" instead of a bare errno. */
export function listenError(protocol: string, address: string, port: number, cause: unknown): Error {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const reason = (code && REASONS[code]) ?? (cause instanceof Error ? cause.message : String(cause));
  const host = address.includes(':') ? `[${address}]` : address;
  return new Error(`cannot listen on ${protocol} ${host}:${port}: ${reason}`, { cause });
}
