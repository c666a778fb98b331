/** RFC 3261 §17.1.1.1 base values, in milliseconds: T1 RTT estimate, T2 cap, T4 network lifetime. */
export interface TimerValues {
  T1: number;
  T2: number;
  T4: number;
}

/** Timer D must cover every retransmission the server may still send (its Timer H: 64*T1), and RFC 3261 asks for at least 32 s. */
export function timerD(t: TimerValues): number {
  return Math.max(32_000, 64 * t.T1);
}
