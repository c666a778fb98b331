// What the API needs from the running server besides the store. The SIP side implements it, so the
// API layer never imports the call layer or the registrar (arrows point down only).

export interface ActiveCallInfo {
  id: string;
  domain: string;
  caller: string;
  callee: string;
  state: 'ringing' | 'answered';
  startedAt: number;
  answeredAt: number | null;
}

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
  /** used when a request body omits domain */
  defaultDomain(): string;
  /** lets the registrar drop cached bindings */
  onExtensionDeleted(domain: string, number: string): void;
  onBindingsChanged?(): void;
  /** lets the SIP side pick up added or removed domains */
  onDomainsChanged?(): void;
}
