import type { LocalCallHandle, ServiceContext } from '../call/local-call.js';

/**
 * The echo test (FreePBX's *43): a beep, then the caller hears itself, delayed by the round trip.
 * Admins use it to check that audio flows both ways and how much delay the network adds.
 */
export async function echoTest(call: LocalCallHandle, services: ServiceContext): Promise<void> {
  const endpoint = await call.answer();
  await endpoint.playTone(services.tonePlan().beep);
  if (call.isEnded) return;
  endpoint.echo(true);
  await call.ended;
}
