// What the supervisor reports about each service (GET /api/v1/services, the log).
import type { FailureKind, HostValue } from './protocol.js';

/** Why a service stopped serving a call without finishing it. */
export type ServiceFailureKind =
  | FailureKind
  /** the worker died (a trap in the VM, out of JS heap) */
  | 'crashed'
  /** the worker did not answer the watchdog in time (a loop inside a C function): terminated */
  | 'unresponsive'
  /** no such service, or its script has never loaded */
  | 'unavailable';

export type ServiceOutcome = { ok: true; result: HostValue } | { ok: false; kind: ServiceFailureKind; error: string };

export interface ServiceFailure {
  at: number;
  kind: ServiceFailureKind;
  message: string;
}

export interface ServiceStatus {
  name: string;
  /** where the running version came from: shipped in lua/services, or <data-dir>/lua/services */
  origin: 'builtin' | 'data-dir';
  file: string;
  /** sha256 of the running source, first 12 hex digits */
  version: string;
  loadedAt: number;
  state: 'running' | 'restarting' | 'failed';
  activeCalls: number;
  /** workers replaced after a crash, a watchdog kill or a memory failure */
  restarts: number;
  /** what the Lua allocator held at the last watchdog answer */
  memoryBytes: number;
  lastFailure: ServiceFailure | null;
  /** the last edit of the file that did not load ("file.lua:12: ..."); the previous version keeps serving */
  loadError: string | null;
}
