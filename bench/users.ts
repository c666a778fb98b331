import { passwordOf } from './server-under-test.js';
import { credentials, writeInjection } from './sipp.js';

/** `count` consecutive extension numbers from `first`. */
export const userRange = (first: number, count: number) => Array.from({ length: count }, (_, i) => String(first + i));

/** Injection file for register-auth.xml: user;domain;credentials. */
export const registrationFile = (name: string, users: readonly string[]) =>
  writeInjection(name, users.map((user) => `${user};127.0.0.1;${credentials(user, passwordOf(user))}`));

/** Injection file for call-uac.xml: caller;callee;credentials, callees taken round robin. */
export const callFile = (name: string, callers: readonly string[], callees: readonly string[]) =>
  writeInjection(name, callers.map((caller, i) => `${caller};${callees[i % callees.length]};${credentials(caller, passwordOf(caller))}`));
