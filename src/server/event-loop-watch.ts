import { RateLimitedLog, type Logger } from '../log/logger.js';

/**
 * Warns when the event loop was blocked: every SIP message, timer and API request of the server waits
 * on it, so a stall shows up as late responses and retransmissions everywhere at once.
 */
export function watchEventLoop(logger: Logger, thresholdMs = 100, intervalMs = 50): () => void {
  const log = new RateLimitedLog((msg, fields) => logger.warn(fields, msg), 5, 60_000);
  let expected = performance.now() + intervalMs;
  const timer = setInterval(() => {
    const now = performance.now();
    const late = now - expected;
    if (late >= thresholdMs) log.write('event loop stalled', { stalledMs: Math.round(late) });
    expected = now + intervalMs;
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
