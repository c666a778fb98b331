// The server re-offering media on a leg it already has (RFC 3261 §14): moving a transferred or picked
// party from the phone it talked to onto the server's own media. The 2xx is acknowledged here.
import type { Logger } from 'pino';
import type { Dialog } from '../dialog/dialog.js';
import type { Endpoint, SipRequest, SipResponse } from '../sip/message.js';
import type { SipStack } from '../stack/sip-stack.js';

/** On success, the ACK sent, to send again when the phone repeats its 2xx (our ACK was lost). */
export type ReinviteResult = { ok: true; answer: SipResponse; ack: { ack: SipRequest; dest: Endpoint } } | { ok: false; status: number };

export function reinvite(
  deps: { stack: Pick<SipStack, 'sendRequest' | 'sendAck' | 'contactUri'>; logger: Logger },
  dialog: Dialog,
  sdp: string,
  allowedMethods: string,
): Promise<ReinviteResult> {
  const dest = dialog.nextHop();
  if (!dest) return Promise.resolve({ ok: false, status: 502 });
  const invite = dialog.createRequest('INVITE');
  invite.add('Contact', `<${deps.stack.contactUri(dest)}>`);
  invite.add('Allow', allowedMethods);
  invite.add('Content-Type', 'application/sdp');
  invite.body = Buffer.from(sdp);
  const seq = invite.cseq()?.seq ?? dialog.localSeq;
  return new Promise((resolve) => {
    try {
      deps.stack.sendRequest(invite, dest, {
        onResponse: (res) => {
          if (res.status < 200) return;
          if (res.status >= 300) return resolve({ ok: false, status: res.status });
          dialog.refreshTarget(res);
          const ack = { ack: dialog.createRequest('ACK', seq), dest: dialog.nextHop() ?? dest };
          try {
            deps.stack.sendAck(ack.ack, ack.dest);
          } catch (err) {
            deps.logger.warn({ err: String(err) }, 'could not acknowledge a re-INVITE');
          }
          resolve({ ok: true, answer: res, ack });
        },
        onTimeout: () => resolve({ ok: false, status: 408 }),
        onTransportError: () => resolve({ ok: false, status: 503 }),
      });
    } catch (err) {
      deps.logger.warn({ err: String(err) }, 'could not send a re-INVITE');
      resolve({ ok: false, status: 503 });
    }
  });
}
