import { mkdtempSync, readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts, runChild, startChild, type Child } from './processes.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// Compiled to dist/bench/; the XML stays in the source tree.
const scenarioDir = path.resolve(here, '..', '..', 'bench', 'scenarios');
export const scenario = (name: string) => path.join(scenarioDir, name);

/** Every file a bench run writes (injection files, SIPp logs) goes under one temporary directory. */
export const workDir = mkdtempSync(path.join(os.tmpdir(), 'switchboard-bench-'));
let runCount = 0;

function freshDir(label: string): string {
  return mkdtempSync(path.join(workDir, `${String(++runCount).padStart(3, '0')}-${label}-`));
}

export function writeInjection(name: string, lines: readonly string[]): string {
  const file = path.join(workDir, name);
  writeFileSync(file, ['SEQUENTIAL', ...lines, ''].join('\n'));
  return file;
}

export const credentials = (user: string, password: string) => `[authentication username=${user} password=${password}]`;

export interface SippStats {
  created: number;
  successful: number;
  failed: number;
  retransmissions: number;
  /** Wall time from SIPp's start to its last statistics dump, in seconds. */
  elapsedSec: number;
  /** Call creation rate of each full statistics period in which calls were created. */
  periodRates: number[];
}

export interface SippResult extends SippStats {
  code: number;
  timedOut: boolean;
  /** Response times (rtd 1) of every call, in ms (SIPp rounds to whole ms). */
  rttMs: number[];
  /** Where the run's files are, and a summary of its error log, for reports of failures. */
  dir: string;
  errors: string;
}

/** "2026-11-26\t18:29:48.780701\t1795717788.780701" -> epoch seconds. */
const epochOf = (field: string) => Number(field.split('\t')[2]);

export function parseStatFile(file: string): SippStats {
  const lines = readFileSync(file, 'utf8').split('\n').filter((line) => line.trim() !== '');
  if (lines.length < 2) throw new Error(`SIPp wrote no statistics to ${file}`);
  const header = lines[0]!.split(';');
  const rows = lines.slice(1).map((line) => line.split(';'));
  const col = (row: string[], name: string) => {
    const index = header.indexOf(name);
    if (index < 0) throw new Error(`no column ${name} in ${file}`);
    return row[index]!;
  };
  const last = rows[rows.length - 1]!;
  const creating = rows.filter((row) => Number(col(row, 'OutgoingCall(P)')) > 0 || Number(col(row, 'IncomingCall(P)')) > 0);
  // The first and last creating periods are partial; drop them when there are enough.
  const full = creating.length > 2 ? creating.slice(1, -1) : creating;
  return {
    created: Number(col(last, 'TotalCallCreated')),
    successful: Number(col(last, 'SuccessfulCall(C)')),
    failed: Number(col(last, 'FailedCall(C)')),
    retransmissions: Number(col(last, 'Retransmissions(C)')),
    elapsedSec: epochOf(col(last, 'CurrentTime')) - epochOf(col(last, 'StartTime')),
    periodRates: full.map((row) => Number(col(row, 'CallRate(P)'))),
  };
}

function readRtt(dir: string): number[] {
  const file = readdirSync(dir).find((name) => name.endsWith('_rtt.csv'));
  if (!file) return [];
  return readFileSync(path.join(dir, file), 'utf8')
    .split('\n')
    .slice(1)
    .filter((line) => line.includes(';'))
    .map((line) => Number(line.split(';')[1]));
}

/**
 * SIPp's error log as counts of distinct events ("12x while expecting '180' (index 6), received
 * 'SIP/2.0 408 Request Timeout'"): the full messages are in the file.
 */
function summarizeErrors(file: string): string {
  if (!existsSync(file)) return '';
  const counts = new Map<string, number>();
  // Events follow each other on the same line when a quoted message ends it.
  const event = /\d{4}-\d\d-\d\d\t[\d:.]+\t[\d.]+: (.*)$/gm;
  for (const match of readFileSync(file, 'utf8').matchAll(event)) {
    const text = match[1]!
      .replace(/for Call-I[Dd] '[^']*'/, '')
      .replace(/^Dead call \S+/, 'Dead call')
      .replace(/ (sip:)[^@ ]*@/g, ' $1N@')
      .replace(/[\r]/g, '');
    counts.set(text, (counts.get(text) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([text, n]) => `      ${n}x ${text}`).join('\n');
}

const commonArgs = (dir: string) => [
  '-i', '127.0.0.1',
  '-nostdin',
  '-trace_stat', '-stf', path.join(dir, 'stat.csv'), '-fd', '1',
  '-trace_err', '-error_file', path.join(dir, 'errors.log'),
];

/** Runs a SIPp client to completion (bounded by `timeoutMs`) and reads its statistics. */
export async function runSipp(label: string, args: readonly string[], timeoutMs: number): Promise<SippResult> {
  const dir = freshDir(label);
  // SIPp's default local port 5060 may belong to someone else on this machine.
  const port = args.includes('-p') ? [] : ['-p', String((await freePorts(1))[0])];
  const all = [...args, ...port, ...commonArgs(dir)];
  const { code, output, timedOut } = await runChild('sipp', all, timeoutMs, dir);
  const statFile = path.join(dir, 'stat.csv');
  if (!existsSync(statFile)) throw new Error(`sipp ${all.join(' ')} exited with ${code} and no statistics:\n${output.slice(-2000)}`);
  return { ...parseStatFile(statFile), code, timedOut, rttMs: readRtt(dir), dir, errors: summarizeErrors(path.join(dir, 'errors.log')) };
}

export interface SippServer {
  readonly child: Child;
  readonly dir: string;
  stats(): SippStats;
  errors(): string;
}

/** A SIPp UAS left running (`-p port`) until stopped. */
export function startSippServer(label: string, args: readonly string[]): SippServer {
  const dir = freshDir(label);
  const child = startChild('sipp', [...args, ...commonArgs(dir)], { cwd: dir });
  return {
    child,
    dir,
    stats: () => parseStatFile(path.join(dir, 'stat.csv')),
    errors: () => summarizeErrors(path.join(dir, 'errors.log')),
  };
}
