import { readFileSync } from 'node:fs';

// Read once from package.json so the banner, the API and the User-Agent agree on one number.
export const VERSION: string = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
