// Whether this process may use real-time scheduling, and which threads use it: for the relay thread's
// [media] relay_realtime, which works as root or with CAP_SYS_NICE and is refused otherwise.
import { readdirSync, readFileSync } from 'node:fs';

const SCHED_RR = 2;
const CAP_SYS_NICE = 23n;

/** Threads of process `pid` ('self' for this one) named `name` whose policy (stat field 41) is SCHED_RR. */
export function realtimeThreads(pid: number | 'self', name: string): number {
  return readdirSync(`/proc/${pid}/task`).filter((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return comm === name && Number(fields[41 - 3]) === SCHED_RR;
  }).length;
}

/** CAP_SYS_NICE in the effective set (root has it) or a real-time rlimit: what sched_setscheduler asks. */
export function mayUseRealtime(): boolean {
  const capEff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0'}`);
  const rtprio = /^Max realtime priority\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? '0';
  return ((capEff >> CAP_SYS_NICE) & 1n) === 1n || rtprio === 'unlimited' || Number(rtprio) >= 1;
}
