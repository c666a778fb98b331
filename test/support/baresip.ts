import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawnManaged } from './child-process.js';
import { freeConsecutivePorts, freePort } from './ports.js';

const HOST = '127.0.0.1';
const CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_WAIT_MS = 10_000;
const POLL_MS = 100;
const ANSI_ESCAPE = /\u001b\[[0-9;]*m/g;

export interface BaresipOptions {
  user: string;
  password: string;
  /** SIP domain of the account; default 127.0.0.1. */
  domain?: string;
  serverPort: number;
  transport?: 'udp' | 'tcp';
  /** Runs baresip where the test process has no TCP reach, e.g. inside a network namespace. */
  namespace?: BaresipNamespace;
  /** Address baresip listens on and puts in its Contact and SDP; default 127.0.0.1. */
  host?: string;
  /** A WAV file (mono, 16-bit, 8000 Hz) sent as the microphone, looping, in every call (aufile module). */
  audioSource?: string;
  /** Directory where each call's sent and received audio are written as dump-*-enc.wav / dump-*-dec.wav (sndfile module). */
  recordDir?: string;
  /** The only codec the phone offers; default PCMU and PCMA. G722 wants a 16 kHz audioSource. */
  codec?: 'G722';
}

export interface BaresipNamespace {
  /** argv that runs a program in the namespace, e.g. ['ip', 'netns', 'exec', name]. */
  commandPrefix: readonly string[];
  /** A Unix socket reaching `port` in the namespace (netns.ts bridgeTcpToUnix); closed when baresip stops. */
  openControlSocket(port: number): Promise<{ socketPath: string; close(): Promise<void> }>;
}

/** An event from baresip's ctrl_tcp module, e.g. `{ type: 'CALL_INCOMING', peeruri: 'sip:1001@…', id: '…' }`. */
export interface BaresipEvent {
  type: string;
  class?: string;
  accountaor?: string;
  direction?: string;
  peeruri?: string;
  id?: string;
  param?: string;
  [field: string]: unknown;
}

export interface BaresipResponse {
  ok: boolean;
  data: string;
}

export interface Baresip {
  readonly sipPort: number;
  readonly aor: string;
  waitRegistered(timeoutMs?: number): Promise<void>;
  dial(uri: string): Promise<BaresipResponse>;
  /** Answers the current incoming call. */
  accept(): Promise<BaresipResponse>;
  /** Ends the current call (hangs up, cancels or rejects). */
  hangup(): Promise<BaresipResponse>;
  /** Any command the loaded modules register (menu: dial, accept, hangup, reginfo, ...). */
  command(name: string, params?: string): Promise<BaresipResponse>;
  /**
   * The next event of `type` not yet returned by an earlier waitEvent(type), waiting for it if
   * needed: types are CALL_INCOMING, CALL_RINGING, CALL_PROGRESS, CALL_ESTABLISHED, CALL_CLOSED,
   * REGISTER_OK, REGISTER_FAIL, ...
   */
  waitEvent(type: string, timeoutMs?: number): Promise<BaresipEvent>;
  events(): readonly BaresipEvent[];
  output(): string;
  stop(): Promise<void>;
}

interface ConfigPorts {
  sip: number;
  control: number;
  rtp: number;
}

/** baresip 1.0 config: no sound card (aubridge, or a file as microphone), control over TCP netstrings. */
function configText(ports: ConfigPorts, options: BaresipOptions): string {
  const host = options.host ?? HOST;
  return [
    'poll_method epoll',
    `sip_listen ${host}:${ports.sip}`,
    `net_interface ${host}`,
    'call_local_timeout 120',
    'call_max_calls 4',
    'audio_player aubridge,nil',
    options.audioSource ? `audio_source aufile,${options.audioSource}` : 'audio_source aubridge,nil',
    'audio_alert aubridge,nil',
    `rtp_ports ${ports.rtp}-${ports.rtp + 3}`,
    'module_path /usr/lib/baresip/modules',
    'module g711.so',
    ...(options.codec === 'G722' ? ['module g722.so'] : []),
    'module aubridge.so',
    ...(options.audioSource ? ['module aufile.so'] : []),
    ...(options.recordDir ? ['module sndfile.so', `snd_path ${options.recordDir}`] : []),
    'module ctrl_tcp.so',
    `ctrl_tcp_listen ${HOST}:${ports.control}`,
    'module_tmp account.so',
    'module_app menu.so',
    '',
  ].join('\n');
}

/** Reads netstrings (`<length>:<payload>,`) off a byte stream. */
class NetstringReader {
  private buffer = Buffer.alloc(0);

  push(chunk: Buffer): string[] {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    const messages: string[] = [];
    for (;;) {
      const colon = this.buffer.indexOf(':');
      if (colon < 0) break;
      const length = Number(this.buffer.subarray(0, colon).toString('latin1'));
      if (!Number.isInteger(length)) throw new Error(`bad netstring from baresip: ${this.buffer.toString()}`);
      const end = colon + 1 + length;
      if (this.buffer.length < end + 1) break;
      messages.push(this.buffer.subarray(colon + 1, end).toString('utf8'));
      this.buffer = this.buffer.subarray(end + 1);
    }
    return messages;
  }
}

function connectWithRetry(target: net.NetConnectOpts, isDead: () => boolean): Promise<net.Socket> {
  const deadline = Date.now() + CONNECT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = net.connect(target);
      socket.once('connect', () => resolve(socket));
      socket.once('error', (error) => {
        socket.destroy();
        if (isDead() || Date.now() >= deadline) reject(error);
        else setTimeout(attempt, POLL_MS);
      });
    };
    attempt();
  });
}

export async function startBaresip(options: BaresipOptions): Promise<Baresip> {
  const domain = options.domain ?? HOST;
  const transport = options.transport ?? 'udp';
  // baresip also listens for SIP over TLS on its SIP port + 1.
  const sipPort = await freeConsecutivePorts(2);
  const controlPort = await freePort();
  const rtpPort = await freeConsecutivePorts(4);
  const dir = await mkdtemp(path.join(os.tmpdir(), `baresip-${options.user}-`));
  const transportParam = transport === 'tcp' ? ';transport=tcp' : '';
  const aor = `sip:${options.user}@${domain}:${options.serverPort}`;
  await writeFile(path.join(dir, 'config'), configText({ sip: sipPort, control: controlPort, rtp: rtpPort }, options));
  // baresip names a codec by its PCM rate, not its RTP clock (G.722 samples at 16 kHz, RFC 3551 clocks it at 8000)
  const codecs = options.codec ? `;audio_codecs=${options.codec}/16000/1` : '';
  await writeFile(path.join(dir, 'accounts'), `<${aor}${transportParam}>;auth_pass=${options.password};regint=60${codecs}\n`);
  await writeFile(path.join(dir, 'contacts'), '');

  const [program, ...args] = [...(options.namespace?.commandPrefix ?? []), 'baresip', '-f', dir];
  const baresip = spawnManaged(program!, args, { cwd: dir });
  let controlBridge: { close(): Promise<void> } | undefined;
  const stopProcess = async () => {
    await controlBridge?.close();
    await baresip.stop('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  };
  const connectControl = async () => {
    const isDead = () => baresip.hasExited();
    if (!options.namespace) return connectWithRetry({ port: controlPort, host: HOST }, isDead);
    const bridge = await options.namespace.openControlSocket(controlPort);
    controlBridge = bridge;
    return connectWithRetry({ path: bridge.socketPath }, isDead);
  };

  let socket: net.Socket;
  try {
    socket = await connectControl();
  } catch (error) {
    await stopProcess();
    throw new Error(`baresip control port ${controlPort} unreachable (${String(error)}):\n${baresip.output()}`);
  }

  const events: BaresipEvent[] = [];
  const consumed = new Map<string, number>();
  const eventListeners = new Set<() => void>();
  const pending = new Map<string, (response: BaresipResponse) => void>();
  let nextToken = 1;
  const reader = new NetstringReader();

  socket.on('data', (chunk: Buffer) => {
    for (const text of reader.push(chunk)) {
      const message = JSON.parse(text) as Record<string, unknown>;
      if (message.event === true) {
        events.push(message as BaresipEvent);
        for (const listener of eventListeners) listener();
      } else if (message.response === true && typeof message.token === 'string') {
        pending.get(message.token)?.({ ok: message.ok === true, data: String(message.data ?? '') });
        pending.delete(message.token);
      }
    }
  });
  socket.on('error', () => socket.destroy());

  function command(name: string, params?: string): Promise<BaresipResponse> {
    const token = String(nextToken++);
    const json = JSON.stringify(params === undefined ? { command: name, token } : { command: name, params, token });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(token);
        reject(new Error(`baresip did not answer "${name}" within ${DEFAULT_WAIT_MS} ms`));
      }, DEFAULT_WAIT_MS);
      pending.set(token, (response) => {
        clearTimeout(timer);
        resolve(response);
      });
      socket.write(`${Buffer.byteLength(json)}:${json},`);
    });
  }

  function takeEvent(type: string): BaresipEvent | undefined {
    const seen = consumed.get(type) ?? 0;
    const matching = events.filter((event) => event.type === type);
    if (matching.length <= seen) return undefined;
    consumed.set(type, seen + 1);
    return matching[seen];
  }

  function waitEvent(type: string, timeoutMs = DEFAULT_WAIT_MS): Promise<BaresipEvent> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const event = takeEvent(type);
        if (!event) return;
        finish();
        resolve(event);
      };
      const timer = setTimeout(() => {
        finish();
        const seen = events.map((event) => event.type).join(', ');
        reject(new Error(`baresip ${options.user}: no ${type} within ${timeoutMs} ms (events: ${seen})`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        eventListeners.delete(check);
      };
      eventListeners.add(check);
      check();
    });
  }

  // The first REGISTER may finish before the control connection exists, so ask for the state.
  async function waitRegistered(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (events.some((event) => event.type === 'REGISTER_OK')) return;
      const failure = events.find((event) => event.type === 'REGISTER_FAIL');
      if (failure) throw new Error(`baresip ${options.user}: registration failed: ${failure.param ?? ''}`);
      const info = await command('reginfo');
      if (/\sOK\s/.test(info.data.replace(ANSI_ESCAPE, ''))) return;
      if (Date.now() >= deadline) {
        throw new Error(`baresip ${options.user} not registered within ${timeoutMs} ms:\n${info.data}\n${baresip.output()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  return {
    sipPort,
    aor,
    waitRegistered,
    dial: (uri) => command('dial', uri),
    accept: () => command('accept'),
    hangup: () => command('hangup'),
    command,
    waitEvent,
    events: () => events,
    output: () => baresip.output(),
    async stop() {
      socket.destroy();
      await stopProcess();
    },
  };
}
