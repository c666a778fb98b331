import type { Clock } from '../../transaction/clock.js';
import { MediaLeg } from './media-leg.js';
import { PortPool } from './port-pool.js';
import type { HandlerErrorReporter, RelayEngine, RelayLeg, SocketFamily } from './relay-leg.js';

/** Relay legs on Node's own UDP sockets: one receive callback and one send per packet. */
export class NodeRelayEngine implements RelayEngine {
  private readonly pool: PortPool;
  private readonly legs = new Set<MediaLeg>();

  constructor(
    firstPort: number,
    lastPort: number,
    private readonly clock: Clock,
    private readonly relatchQuietMs: number,
    private readonly reportHandlerError?: HandlerErrorReporter,
  ) {
    this.pool = new PortPool(firstPort, lastPort);
  }

  get used(): number {
    return this.pool.used;
  }

  get capacity(): number {
    return this.pool.capacity;
  }

  async openLeg(family: SocketFamily): Promise<RelayLeg | undefined> {
    const pair = await this.pool.allocate(family);
    if (!pair) return undefined;
    const leg = new MediaLeg(pair, () => this.clock.now(), this.relatchQuietMs, this.reportHandlerError);
    this.legs.add(leg);
    return leg;
  }

  closeLeg(leg: RelayLeg): void {
    const own = leg as MediaLeg;
    if (!this.legs.delete(own)) return;
    own.forwardRtpTo(undefined);
    own.forwardRtcpTo(undefined);
    own.onRtp = undefined;
    this.pool.release(own.portPair);
  }

  async close(): Promise<void> {
    for (const leg of [...this.legs]) this.closeLeg(leg);
  }
}
