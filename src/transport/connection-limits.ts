// Caps on concurrent inbound TCP/TLS connections, in total and per source IP, shared by the TCP and
// TLS transports so one host cannot hold every file descriptor of the process.
import type { TransportLog } from './types.js';

export interface ConnectionLimits {
  /** inbound connections at once, TCP and TLS together */
  maxConnections: number;
  /** inbound connections at once from one source IP address, TCP and TLS together */
  maxConnectionsPerIp: number;
}

/** One warning per interval at most; the next one says how many refusals went unlogged. */
const WARN_INTERVAL_MS = 10_000;

export class ConnectionLimiter {
  private total = 0;
  private readonly perIp = new Map<string, number>();
  private lastWarnAt = -Infinity;
  private unlogged = 0;

  constructor(
    private readonly limits: ConnectionLimits,
    private readonly log: TransportLog,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts the connection and returns true, or logs (rate-limited) and returns false when a cap is reached. */
  admit(address: string, transport: string): boolean {
    const fromIp = this.perIp.get(address) ?? 0;
    const reason =
      this.total >= this.limits.maxConnections
        ? `${this.limits.maxConnections} inbound connections are open`
        : fromIp >= this.limits.maxConnectionsPerIp
          ? `${this.limits.maxConnectionsPerIp} inbound connections from ${address} are open`
          : undefined;
    if (reason !== undefined) {
      this.refused(`refused ${transport} connection from ${address}: ${reason}`, address);
      return false;
    }
    this.total++;
    this.perIp.set(address, fromIp + 1);
    return true;
  }

  /** Once per admitted connection, when it closes. */
  release(address: string): void {
    this.total = Math.max(0, this.total - 1);
    const fromIp = this.perIp.get(address) ?? 0;
    if (fromIp <= 1) this.perIp.delete(address);
    else this.perIp.set(address, fromIp - 1);
  }

  /** For tests and diagnostics. */
  counts(): { total: number; addresses: number } {
    return { total: this.total, addresses: this.perIp.size };
  }

  private refused(msg: string, address: string): void {
    const t = this.now();
    if (t - this.lastWarnAt < WARN_INTERVAL_MS) {
      this.unlogged++;
      return;
    }
    const fields: Record<string, unknown> = { address };
    if (this.unlogged > 0) fields.suppressed = this.unlogged;
    this.lastWarnAt = t;
    this.unlogged = 0;
    this.log('warn', msg, fields);
  }
}
