// A stand-in for lua-worker.js speaking the same protocol, so the supervisor's bookkeeping (restarts,
// reloads, replies, memory) is tested deterministically. Its "script" is JSON; each call's args say
// what the call does.
import { isMainThread, workerData } from 'node:worker_threads';
import type { FromWorker, HostValue, ToWorker } from '../../src/services/engine/protocol.js';
import { ChannelEnd, LoopClock, serve, type ChannelSetup } from '../../src/services/engine/thread-channel.js';

export interface FakeScript {
  /** returned by the 'whoami' action, to tell workers apart */
  tag?: string;
}

export type FakeAction =
  | { do: 'finish'; result: HostValue }
  | { do: 'whoami' }
  /** calls a host function and finishes with { value } or { error }, and callEnded: true when the reply said so */
  | { do: 'host'; name: string; args: HostValue[] }
  | { do: 'fail'; kind: 'error' | 'timeout' | 'memory'; error: string }
  | { do: 'wait' }
  | { do: 'crash' }
  | { do: 'hang' }
  /** from now on the VM reports this many bytes held */
  | { do: 'hold'; bytes: number }
  /** finishes with the types of the messages this worker received so far, e.g. "start:c1" */
  | { do: 'received' };

// node --test runs every file under dist/test, this one too: outside a worker it does nothing
const channel = isMainThread ? undefined : ChannelEnd.forWorker<FromWorker, ToWorker>(workerData as ChannelSetup);
const post = (message: FromWorker) => channel?.write(message);

let script: FakeScript = {};
let held = 0;
const received: string[] = [];
const waitingForReply = new Map<string, number>();


function receive(message: ToWorker): void {
  if (message.type !== 'ping') received.push(message.type === 'load' ? 'load' : `${message.type}:${'call' in message ? message.call.id : message.callId}`);
  switch (message.type) {
    case 'load':
      try {
        script = JSON.parse(message.source) as FakeScript;
        post({ type: 'loaded' });
      } catch {
        post({ type: 'load-failed', error: `${message.chunkName}:1: not JSON` });
      }
      return;
    case 'ping':
      post({ type: 'pong', seq: message.seq, memoryBytes: held });
      return;
    case 'drop':
      waitingForReply.delete(message.callId);
      return;
    case 'reply': {
      if (waitingForReply.get(message.callId) !== message.requestId) return;
      waitingForReply.delete(message.callId);
      const result: { [key: string]: HostValue } = message.ok ? { value: message.value } : { error: message.error };
      if (message.callEnded === true) result.callEnded = true;
      post({ type: 'finished', callId: message.callId, result });
      return;
    }
    case 'start':
      act(message.call.id, message.args as FakeAction);
  }
}

let requestIds = 0;

function act(callId: string, action: FakeAction): void {
  switch (action.do) {
    case 'finish':
      post({ type: 'finished', callId, result: action.result });
      return;
    case 'whoami':
      post({ type: 'finished', callId, result: script.tag ?? null });
      return;
    case 'host': {
      const requestId = ++requestIds;
      waitingForReply.set(callId, requestId);
      post({ type: 'request', callId, requestId, name: action.name, args: action.args });
      return;
    }
    case 'fail':
      post({ type: 'failed', callId, kind: action.kind, error: action.error });
      return;
    case 'wait':
      return;
    case 'crash':
      throw new Error('fake worker crashed');
    case 'hang':
      for (;;);
    case 'hold':
      held = action.bytes;
      post({ type: 'finished', callId, result: null });
      return;
    case 'received':
      post({ type: 'finished', callId, result: [...received] });
      return;
  }
}

if (channel !== undefined) serve(channel, new LoopClock(), receive);
