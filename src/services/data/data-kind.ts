import type { TObject, TSchema } from 'typebox';
import { Value } from 'typebox/value';
import type { Store } from '../../store/types.js';

export interface DataKindContext {
  store: Store;
  domain: string;
}

/**
 * One kind of the services' data (ring groups, mailboxes, ...). The API generates its routes from this
 * description and stores each item as a JSON document in service_data, named by (domain, kind, key).
 */
export interface DataKind<Fields extends TObject = TObject> {
  /** the service_data.kind of its items */
  kind: string;
  /** under /api/v1, with ":<key>" where the key goes for one item */
  path: string;
  /** the field that names an item within its domain; also the URL parameter */
  key: string;
  keySchema: TSchema;
  /** singular, for summaries and messages: "ring group" */
  noun: string;
  /** what an item is for, shown in the OpenAPI document */
  description: string;
  /**
   * 'domain': items created with POST, listed and deleted. 'extension': one item per extension, read as
   * the defaults until the first PUT, deleted with the extension.
   */
  scope: 'domain' | 'extension';
  /** every field besides domain and key, as written; the defaults fill what a write leaves out */
  fields: Fields;
  /** write-only PIN fields: stored as "<field>Hash" (see pin.ts), read as "<field>Set" */
  secrets: readonly string[];
  /** what a schema cannot say, such as references to other items: a 400 message naming the field, or undefined */
  check?(body: Record<string, unknown>, context: DataKindContext): string | undefined;
}

export const secretHashField = (secret: string): string => `${secret}Hash`;
export const secretSetField = (secret: string): string => `${secret}Set`;

/** Fills, in place, the fields a stored document lacks (written before the field existed, or left out). */
export function withDefaults(kind: DataKind, body: Record<string, unknown>): Record<string, unknown> {
  return Value.Default(kind.fields, body) as Record<string, unknown>;
}
