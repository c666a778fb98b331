// The server calling phones itself, with its own SDP: a service's call:dial from a call it already
// answered (menus, queues). Every registered device of the targets gets an INVITE; the first 2xx wins,
// the other branches are cancelled, a late second answer is acknowledged and released at once.
import type { Logger } from 'pino';
import { Dialog } from '../dialog/dialog.js';
import { newCallId, newTag } from '../sip/builders.js';
import { splitHeaderValues } from '../sip/headers.js';
import { SipRequest, type Endpoint, type SipResponse } from '../sip/message.js';
import type { SipStack } from '../stack/sip-stack.js';
import type { Binding } from '../store/types.js';
import type { Clock } from '../transaction/clock.js';
import type { ClientTransaction, ClientTransactionUser } from '../transaction/layer.js';

export interface OutboundForkDeps {
  stack: Pick<SipStack, 'sendRequest' | 'sendAck' | 'sendCancel' | 'contactUri'>;
  clock: Clock;
  logger: Logger;
  allowedMethods: string;
}

export interface ForkTarget {
  number: string;
  bindings: readonly Binding[];
}

export type ForkResult =
  | { answered: true; dialog: Dialog; answer: SipResponse; target: string }
  /** the status the fork ended with: 486 busy, 408 no answer, 480 unavailable, or a device's own */
  | { answered: false; status: number };

interface ForkBranch {
  invite: SipRequest;
  dest: Endpoint;
  target: string;
  tx: ClientTransaction | undefined;
  state: 'calling' | 'early' | 'answered' | 'failed' | 'cancelled';
  provisionalSeen: boolean;
  cancelWanted: boolean;
  status: number;
}

/** RFC 3261 Timer C is over three minutes; a phone that ignores our CANCEL keeps its transaction 64*T1 at the default T1. */
const CANCELLED_BRANCH_GIVE_UP_MS = 32_000;
const IGNORE_RESPONSES: ClientTransactionUser = { onResponse() {}, onTimeout() {}, onTransportError() {} };

export class OutboundFork {
  private readonly branches: ForkBranch[] = [];
  private winner: { branch: ForkBranch; dialog: Dialog } | undefined;
  private settle!: (result: ForkResult) => void;
  private settled = false;
  private timer: unknown;
  readonly result: Promise<ForkResult>;

  constructor(
    private readonly deps: OutboundForkDeps,
    private readonly from: { domain: string; number: string; displayName: string },
    targets: readonly ForkTarget[],
    offer: string,
    timeoutMs: number,
    /** a device rings (180/183): the caller should hear ringback */
    private readonly onRinging: () => void = () => {},
  ) {
    this.result = new Promise((resolve) => (this.settle = resolve));
    this.timer = deps.clock.setTimer(timeoutMs, () => this.finish({ answered: false, status: 408 }));
    for (const target of targets) for (const binding of target.bindings) this.send(target.number, binding, offer);
    this.finishIfAllFailed();
  }

  /** Stops ringing (the caller hung up); resolves the result as cancelled (487) unless it already settled. */
  cancel(): void {
    this.finish({ answered: false, status: 487 });
  }

  private send(target: string, binding: Binding, offer: string): void {
    const dest = { transport: binding.transport as Endpoint['transport'], address: binding.sourceAddress, port: binding.sourcePort };
    const invite = new SipRequest('INVITE', binding.contactUri);
    const name = (this.from.displayName || this.from.number).replace(/["\\]/g, '');
    invite.add('Max-Forwards', '70');
    invite.add('From', `"${name}" <sip:${this.from.number}@${this.from.domain}>;tag=${newTag()}`);
    invite.add('To', `<sip:${target}@${this.from.domain}>`);
    invite.add('Call-ID', newCallId(this.from.domain));
    invite.add('CSeq', '1 INVITE');
    invite.add('Contact', `<${this.deps.stack.contactUri(dest)}>`);
    invite.add('Allow', this.deps.allowedMethods);
    invite.add('Content-Type', 'application/sdp');
    invite.body = Buffer.from(offer);
    const branch: ForkBranch = { invite, dest, target, tx: undefined, state: 'calling', provisionalSeen: false, cancelWanted: false, status: 0 };
    this.branches.push(branch);
    try {
      branch.tx = this.deps.stack.sendRequest(invite, dest, {
        onResponse: (res) => this.onResponse(branch, res),
        onTimeout: () => this.onFailed(branch, 408),
        onTransportError: () => this.onFailed(branch, 503),
      });
    } catch (err) {
      this.deps.logger.warn({ err: String(err), contact: binding.contactUri }, 'could not send INVITE to a binding');
      branch.state = 'failed';
      branch.status = 503;
    }
  }

  private onResponse(branch: ForkBranch, res: SipResponse): void {
    if (res.status < 200) {
      branch.provisionalSeen = true;
      if (branch.cancelWanted) return this.sendCancel(branch);
      if (res.status !== 100 && branch.state === 'calling') {
        branch.state = 'early';
        if (!this.settled) this.onRinging();
      }
      return;
    }
    if (res.status < 300) return this.onAnswered(branch, res);
    this.onFailed(branch, res.status);
  }

  private onAnswered(branch: ForkBranch, res: SipResponse): void {
    const inviteSeq = branch.invite.cseq()?.seq ?? 1;
    const won = this.winner;
    if (won && won.branch === branch && won.dialog.remoteTag === res.toTag()) {
      // the 2xx again: our ACK was lost (RFC 6026 §8.4)
      this.sendAck(won.dialog, inviteSeq);
      return;
    }
    const dialog = Dialog.asUac(branch.invite, res, branch.dest);
    const ack = this.sendAck(dialog, inviteSeq);
    if (this.settled || !ack) {
      // a second device answered in the race with the first, or after we gave up: release it
      branch.state = 'cancelled';
      sendInDialog(this.deps, dialog, 'BYE');
      return;
    }
    branch.state = 'answered';
    this.winner = { branch, dialog };
    for (const other of this.branches) if (other !== branch) this.cancelBranch(other);
    this.finish({ answered: true, dialog, answer: res, target: branch.target });
  }

  private onFailed(branch: ForkBranch, status: number): void {
    if (branch.state === 'answered' || branch.state === 'failed') return;
    const wasCancelled = branch.state === 'cancelled';
    branch.state = 'failed';
    branch.status = status;
    if (wasCancelled || this.settled) return;
    // a 6xx ends the whole fork (RFC 3261 §16.7: global failure)
    if (status >= 600) return this.finish({ answered: false, status });
    this.finishIfAllFailed();
  }

  private finishIfAllFailed(): void {
    if (this.settled || this.branches.some((b) => b.state === 'calling' || b.state === 'early')) return;
    const statuses = this.branches.map((b) => b.status);
    if (statuses.length === 0) return this.finish({ answered: false, status: 480 });
    if (statuses.some((s) => s === 486 || s === 600)) return this.finish({ answered: false, status: 486 });
    const clientError = statuses.find((s) => s >= 400 && s < 500 && s !== 408);
    if (clientError !== undefined) return this.finish({ answered: false, status: clientError });
    this.finish({ answered: false, status: statuses.every((s) => s === 408) ? 408 : 480 });
  }

  private finish(result: ForkResult): void {
    if (this.settled) return;
    this.settled = true;
    this.deps.clock.clearTimer(this.timer);
    if (!result.answered) for (const branch of this.branches) this.cancelBranch(branch);
    this.settle(result);
  }

  private cancelBranch(branch: ForkBranch): void {
    if (branch.state !== 'calling' && branch.state !== 'early') return;
    branch.state = 'cancelled';
    if (branch.provisionalSeen) this.sendCancel(branch);
    else branch.cancelWanted = true;
  }

  private sendCancel(branch: ForkBranch): void {
    branch.cancelWanted = false;
    cancelBranchInvite(this.deps, branch);
  }

  private sendAck(dialog: Dialog, inviteSeq: number): SipRequest | undefined {
    const dest = dialog.nextHop();
    if (!dest) return undefined;
    const ack = dialog.createRequest('ACK', inviteSeq);
    try {
      this.deps.stack.sendAck(ack, dest);
      return ack;
    } catch (err) {
      this.deps.logger.warn({ err: String(err) }, 'could not send ACK');
      return undefined;
    }
  }
}

/** A request inside `dialog` whose answer does not matter (a BYE that ends it). */
export function sendInDialog(deps: Pick<OutboundForkDeps, 'stack' | 'logger'>, dialog: Dialog, method: string): void {
  const dest = dialog.nextHop();
  if (!dest) return;
  try {
    deps.stack.sendRequest(dialog.createRequest(method), dest, IGNORE_RESPONSES);
  } catch (err) {
    deps.logger.warn({ err: String(err), method }, 'could not send in-dialog request');
  }
}

/**
 * CANCELs a branch's INVITE (RFC 3261 §9.1: same Request-URI, Call-ID, From, To, CSeq number and top
 * Via), and gives its transaction up if the phone never answers the CANCEL: once ringing, an INVITE
 * transaction would wait for a final response for ever.
 */
export function cancelBranchInvite(
  deps: Pick<OutboundForkDeps, 'stack' | 'logger' | 'clock'>,
  branch: { invite: SipRequest; dest: Endpoint; state: string; tx: ClientTransaction | undefined },
): void {
  const inv = branch.invite;
  const cancel = new SipRequest('CANCEL', inv.uri);
  cancel.add('Via', splitHeaderValues(inv.get('via') ?? '')[0] ?? '');
  cancel.add('Max-Forwards', '70');
  cancel.add('From', inv.get('from') ?? '');
  cancel.add('To', inv.get('to') ?? '');
  cancel.add('Call-ID', inv.callId);
  cancel.add('CSeq', `${inv.cseq()?.seq ?? 1} CANCEL`);
  try {
    deps.stack.sendCancel(cancel, branch.dest);
  } catch (err) {
    deps.logger.warn({ err: String(err) }, 'could not send CANCEL');
  }
  deps.clock.setTimer(CANCELLED_BRANCH_GIVE_UP_MS, () => {
    if (branch.state !== 'cancelled') return;
    branch.state = 'failed';
    branch.tx?.terminate();
  });
}
