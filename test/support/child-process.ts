import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';

/** Keeps the tail of a chatty child's output without letting memory grow without bound. */
const MAX_CAPTURED_CHARS = 2_000_000;
const DEFAULT_GRACE_MS = 5_000;

export interface ManagedProcess {
  readonly pid: number | undefined;
  /** Resolves with the exit code, or 128 + signal number when a signal ended the process. */
  readonly exited: Promise<number>;
  hasExited(): boolean;
  stdout(): string;
  stderr(): string;
  /** stdout and stderr interleaved in arrival order. */
  output(): string;
  write(data: string): void;
  /** Sends `signal`, then SIGKILL if the process is still alive after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number>;
}

export interface SpawnOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  stdin?: 'pipe' | 'ignore';
  /**
   * Start the child in a process group of its own and signal the whole group, for programs that
   * fork workers (Kamailio): a SIGKILL to the parent alone would leave the workers running.
   */
  processGroup?: boolean;
}

const running = new Map<ChildProcess, (signal: NodeJS.Signals) => void>();

// A test that throws before its cleanup runs must not leave servers and phones behind.
process.once('exit', () => {
  for (const kill of running.values()) kill('SIGKILL');
});

class Capture {
  private text = '';

  append(chunk: string): void {
    this.text += chunk;
    if (this.text.length > MAX_CAPTURED_CHARS) this.text = this.text.slice(-MAX_CAPTURED_CHARS);
  }

  toString(): string {
    return this.text;
  }
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? os.constants.signals[signal] : 0);
}

export function spawnManaged(command: string, args: readonly string[], options: SpawnOptions = {}): ManagedProcess {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
    detached: options.processGroup ?? false,
  });
  const kill = (signal: NodeJS.Signals) => {
    if (options.processGroup && child.pid !== undefined) {
      try {
        process.kill(-child.pid, signal);
      } catch {
        // The group is already gone.
      }
    } else {
      child.kill(signal);
    }
  };
  running.set(child, kill);
  const out = new Capture();
  const err = new Capture();
  const all = new Capture();
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { out.append(chunk); all.append(chunk); });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { err.append(chunk); all.append(chunk); });

  let done = false;
  const exited = new Promise<number>((resolve) => {
    child.once('error', (error) => {
      const message = `${command}: ${error.message}\n`;
      err.append(message);
      all.append(message);
      if (child.pid === undefined) {
        done = true;
        running.delete(child);
        resolve(127);
      }
    });
    child.once('close', (code, signal) => {
      done = true;
      running.delete(child);
      resolve(exitCodeOf(code, signal));
    });
  });

  async function stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = DEFAULT_GRACE_MS): Promise<number> {
    if (done) return exited;
    kill(signal);
    const timer = setTimeout(() => kill('SIGKILL'), graceMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    pid: child.pid,
    exited,
    hasExited: () => done,
    stdout: () => out.toString(),
    stderr: () => err.toString(),
    output: () => all.toString(),
    write: (data) => { child.stdin?.write(data); },
    stop,
  };
}
