// The feature codes every Switchboard has from its first start (docs/lua-api.md). A service number
// stored through the API with the same number takes precedence over the default.
import type { ServiceNumberRepository } from '../store/types.js';
import type { HostValue } from './engine/protocol.js';
import type { ServiceNumber, ServiceNumberLookup } from './lua-services.js';

const forward = (type: string, code: string): ServiceNumber => ({ service: 'call-forward', args: { type, code }, fallback: null });

export const DEFAULT_SERVICE_NUMBERS: ReadonlyMap<string, ServiceNumber> = new Map([
  ['*90*', forward('always', '*90*')],
  ['*90#', forward('always', '*90*')],
  ['*91*', forward('busy', '*91*')],
  ['*91#', forward('busy', '*91*')],
  ['*92*', forward('noAnswer', '*92*')],
  ['*92#', forward('noAnswer', '*92*')],
  ['*93*', forward('unreachable', '*93*')],
  ['*93#', forward('unreachable', '*93*')],
  ['*78', { service: 'dnd', args: { on: true }, fallback: null }],
  ['*79', { service: 'dnd', args: { on: false }, fallback: null }],
  ['*96*', { service: 'voicemail', args: { code: '*96*' }, fallback: null }],
  ['*97', { service: 'voicemail-main', args: { own: true }, fallback: null }],
  ['*98', { service: 'voicemail-main', args: { own: false }, fallback: null }],
  ['*6*', { service: 'conference', args: { code: '*6*' }, fallback: null }],
  ['*40*', { service: 'pickup', args: { mode: 'directed', code: '*40*' }, fallback: null }],
  ['*50*', { service: 'pickup', args: { mode: 'group' }, fallback: null }],
  ['*70*', { service: 'park', args: { code: '*70*' }, fallback: null }],
]);

/** The stored service numbers, then the defaults. */
export function serviceNumbersWithDefaults(stored: Pick<ServiceNumberRepository, 'find'>): ServiceNumberLookup {
  return {
    find(domain, number) {
      const entry = stored.find(domain, number);
      if (entry) return { service: entry.service, args: entry.args as HostValue, fallback: entry.fallback };
      return DEFAULT_SERVICE_NUMBERS.get(number);
    },
  };
}
