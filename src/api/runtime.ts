import type { ActiveCall } from '../call/call-manager.js';
import type { ServiceStatus } from '../services/engine/service-status.js';

// What the API needs from the running server besides the store. The server implements it, so the
// API reaches live calls and registrations only through this interface, borrowing just their types.

/** A call in progress as the call layer reports it. */
export type ActiveCallInfo = ActiveCall;

export interface ListenerInfo {
  transport: string;
  address: string;
  port: number;
}

export interface ApiRuntime {
  version: string;
  startedAt: number;
  listeners(): ListenerInfo[];
  activeCalls(): ActiveCallInfo[];
  /** false when no such call */
  hangupCall(id: string): boolean;
  /** undefined when no such call; rejects with RecordingRefusedError when it cannot be recorded */
  startRecording(id: string, mode: 'both' | 'caller' | 'callee'): Promise<{ file: string } | undefined>;
  /** undefined when no such call or it is not being recorded */
  stopRecording(id: string): Promise<{ file: string; seconds: number } | undefined>;
  /** used when a request body omits domain */
  defaultDomain(): string;
  /** lets the registrar drop cached bindings */
  onExtensionDeleted(domain: string, number: string): void;
  /** lets the SIP side pick up added or removed domains */
  onDomainsChanged?(): void;
  /** every Lua service the engine knows, loaded or not */
  services(): ServiceStatus[];
  /** whether a service number may name this service */
  serviceExists(name: string): boolean;
}
