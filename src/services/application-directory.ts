import type { Application, ApplicationDirectory } from '../call/local-call.js';
import { echoTest } from './echo-test.js';

/**
 * The numbers the server answers itself: the built-in feature codes (from the system variables, read
 * at each call so a changed variable applies at once) and applications added by the embedding code.
 */
export class BuiltinApplications implements ApplicationDirectory {
  constructor(
    private readonly featureCodes: () => { echoTest: string },
    private readonly extra: ReadonlyMap<string, Application> = new Map(),
  ) {}

  find(_domain: string, number: string): Application | undefined {
    const codes = this.featureCodes();
    if (codes.echoTest !== '' && number === codes.echoTest) return echoTest;
    return this.extra.get(number);
  }
}

/** The first directory that knows the number answers it. */
export function firstOf(...directories: ApplicationDirectory[]): ApplicationDirectory {
  return { find: (domain, number) => directories.reduce<Application | undefined>((found, d) => found ?? d.find(domain, number), undefined) };
}
