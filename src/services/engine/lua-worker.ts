// The worker thread of one Lua service: one wasmoon LuaEngine (one Lua 5.4 VM) running every call of
// the service as a coroutine, driven by the messages of protocol.ts.
//
// Why a thread per service: inside the VM, the instruction-count hook stops runaway Lua code (a call
// that overruns its event budget fails with 'timeout') and the allocator limit stops runaway memory,
// but nothing inside the VM can stop a loop in a C function, such as string.find on a huge string with
// a backtracking pattern: the hook never runs there. Worker.terminate() is the one thing that ends such
// a loop (measured: ~3 ms), so the supervisor's watchdog pings each worker and terminates the silent
// ones; with one service per thread, that costs one service's calls, and no other service's.
//
// When the VM is left unusable (an exception that is no Lua error: a trap in the WebAssembly), the worker
// exits with a non-zero code and the supervisor starts a new one.
//
// The thread does not run an event loop once the VM is ready: it sleeps on the channel's doorbell
// (thread-channel.ts), which wakes it for less than postMessage would.
import { readFileSync } from 'node:fs';
import { isMainThread, workerData } from 'node:worker_threads';
import { loadLuaWasm } from './lua/lua-api.js';
import { LuaVm, type CallMessage } from './lua-vm.js';
import { Outbox } from './outbox.js';
import type { FromWorker, ToWorker } from './protocol.js';
import { ChannelEnd, LoopClock, serve, type ChannelSetup } from './thread-channel.js';

const EXIT_VM_BROKEN = 70;
/** How long a message about a call whose caller hung up may wait for company (outbox.ts). */
const LATER_MAX_MS = 20;

if (isMainThread) throw new Error('lua-worker.js runs as a worker thread');
const channel = ChannelEnd.forWorker<FromWorker, ToWorker>(workerData as ChannelSetup);
const clock = new LoopClock();

const prelude = readFileSync(new URL('../../../../lua/prelude.lua', import.meta.url), 'utf8');
// compiling the WebAssembly is the slow part of starting: it overlaps the main thread reading the script
const wasm = await loadLuaWasm();

// serve() rings the main thread once for all that one wake-up wrote
const outbox = new Outbox<FromWorker>((posted) => channel.write(posted), clock, LATER_MAX_MS);
const send = (message: FromWorker): void => outbox.send(message);
/** Calls whose caller has hung up, as the host said in a reply: what their scripts send may wait. */
const endedCalls = new Set<string>();
const sendForCall = (message: CallMessage): void => {
  if (!endedCalls.has(message.callId)) {
    outbox.send(message);
    return;
  }
  if (message.type !== 'request') endedCalls.delete(message.callId);
  outbox.sendLater(message);
};
let vm: LuaVm | undefined;

function handle(message: ToWorker): void {
  switch (message.type) {
    case 'load': {
      if (vm !== undefined) {
        send({ type: 'load-failed', error: `${message.chunkName}: this worker has already loaded its script` });
        return;
      }
      const script = { chunkName: message.chunkName, source: message.source, limits: message.limits, hostNames: message.host.map((h) => h.name) };
      const outcome = LuaVm.load(wasm, prelude, script, sendForCall);
      if (outcome.ok) {
        vm = outcome.vm;
        send({ type: 'loaded' });
      } else {
        send({ type: 'load-failed', error: outcome.error });
      }
      return;
    }
    case 'start':
      if (vm === undefined) send({ type: 'failed', callId: message.call.id, kind: 'error', error: 'no script is loaded in this worker' });
      else vm.start(message.call, message.args);
      return;
    case 'reply':
      if (message.callEnded === true) endedCalls.add(message.callId);
      vm?.reply(message.callId, message.requestId, message.ok ? { ok: true, value: message.value } : { ok: false, error: message.error });
      return;
    case 'drop':
      endedCalls.delete(message.callId);
      vm?.drop(message.callId);
      return;
    case 'ping':
      send({ type: 'pong', seq: message.seq, memoryBytes: vm?.memoryBytes ?? 0 });
      return;
  }
}

serve(channel, clock, (message) => {
  try {
    handle(message);
  } catch (err) {
    // what the calls handled before the failure sent still crosses: their outcomes stand
    channel.ring();
    process.stderr.write(`lua worker: the VM is unusable: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(EXIT_VM_BROKEN);
  }
});
