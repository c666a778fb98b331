// Field schemas shared by the data kinds and the service-number routes. A format description reads after
// "must be" in a 400 message ("members.2: must be an extension number, ..."), so it starts with the format.
import { Type } from 'typebox';
import { PIN_PATTERN } from './pin.js';

/** Kept the same as the extensions' own rule, so every extension can be a member. */
const EXTENSION_NUMBER_PATTERN = '^[A-Za-z0-9._+-]{1,32}$';
/** Extension numbers plus * and #, as in feature codes such as *97. */
const DIAL_NUMBER_PATTERN = '^[A-Za-z0-9.*#_+-]{1,32}$';

const EXTENSION_NUMBER_FORMAT = 'an extension number, 1-32 characters of digits, letters, . _ - +';
const DIAL_NUMBER_FORMAT = '1-32 characters of digits, letters, * # . _ - +';

export const ExtensionNumber = (meaning?: string) =>
  Type.String({ pattern: EXTENSION_NUMBER_PATTERN, description: meaning ? `${EXTENSION_NUMBER_FORMAT} (${meaning})` : EXTENSION_NUMBER_FORMAT });

export const DialNumber = (meaning: string) => Type.String({ pattern: DIAL_NUMBER_PATTERN, description: `${DIAL_NUMBER_FORMAT} (${meaning})` });

/** A number to dial, or null; absent is null. */
export const Destination = (meaning: string) =>
  Type.Optional(Type.Union([Type.String({ pattern: DIAL_NUMBER_PATTERN, description: DIAL_NUMBER_FORMAT }), Type.Null()], { default: null, description: meaning }));

/** Names the sound library can resolve: the file sounds/<language>/<name>.wav (or the data directory's). */
export const SoundName = (meaning: string, fallback?: string) =>
  Type.String({
    pattern: '^[a-z0-9]+(?:-[a-z0-9]+)*$',
    maxLength: 64,
    description: `a sound name in kebab-case, at most 64 characters (${meaning})`,
    ...(fallback === undefined ? {} : { default: fallback }),
  });

/** Names of menus and groups: they appear in URLs and service arguments. */
export const ItemName = (meaning: string) =>
  Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$', description: `1-64 characters of digits, letters, . _ - (${meaning})` });

export const Label = (meaning: string) => Type.Optional(Type.String({ maxLength: 100, default: '', description: `at most 100 characters (${meaning})` }));

/** Write-only: stored as a hash, shown as pinSet; omitted on PUT and PATCH keeps the PIN, null removes it. */
export const Pin = (meaning: string) =>
  Type.Optional(Type.Union([Type.String({ pattern: PIN_PATTERN, description: '4-12 digits' }), Type.Null()], {
    writeOnly: true,
    description: `${meaning}; write only: reads show pinSet instead, omitted on PUT and PATCH keeps the PIN, null removes it`,
  }));

export const Seconds = (meaning: string, minimum: number, maximum: number, fallback: number) =>
  Type.Optional(Type.Integer({ minimum, maximum, default: fallback, description: `${meaning}: ${minimum}-${maximum} seconds, default ${fallback}` }));

export const Count = (meaning: string, minimum: number, maximum: number, fallback: number) =>
  Type.Optional(Type.Integer({ minimum, maximum, default: fallback, description: `${meaning}: ${minimum}-${maximum}, default ${fallback}` }));

export const Flag = (meaning: string, fallback: boolean) =>
  Type.Optional(Type.Boolean({ default: fallback, description: `${meaning} (default ${fallback})` }));

export const Domain = Type.String({ pattern: '^[A-Za-z0-9.:\\[\\]-]{1,253}$', description: 'a host name or IP address' });

/** Every field is set once stored: the defaults fill what a write left out. */
export type WithDefaults<T> = T extends readonly unknown[]
  ? { [I in keyof T]: WithDefaults<T[I]> }
  : T extends object ? { [K in keyof T]-?: WithDefaults<Exclude<T[K], undefined>> } : T;
