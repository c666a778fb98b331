// Turns the text written after "name =" into a typed value, or says in words why it cannot.

import type { VariableDefinition, VariableValue } from './variable-definitions.js';

export type ParsedValue = { ok: true; value: VariableValue } | { ok: false; problem: string };

const TRUE_WORDS = new Set(['true', 'yes', 'on', '1']);
const FALSE_WORDS = new Set(['false', 'no', 'off', '0']);

export function parseVariableValue(definition: VariableDefinition, text: string): ParsedValue {
  switch (definition.type) {
    case 'integer': {
      if (!/^[+-]?\d+$/.test(text)) return { ok: false, problem: `"${text}" is not a whole number` };
      const n = Number(text);
      if (n < definition.min || n > definition.max) {
        return { ok: false, problem: `${n} is outside ${definition.min}..${definition.max}` };
      }
      return { ok: true, value: n };
    }
    case 'boolean': {
      const word = text.toLowerCase();
      if (TRUE_WORDS.has(word)) return { ok: true, value: true };
      if (FALSE_WORDS.has(word)) return { ok: true, value: false };
      return { ok: false, problem: `"${text}" is not a boolean (use true/false, yes/no, on/off or 1/0)` };
    }
    case 'string': {
      if (definition.pattern && !definition.pattern.test(text)) {
        return { ok: false, problem: `"${text}" is not valid: expected ${definition.patternHint ?? 'another value'}` };
      }
      return { ok: true, value: text };
    }
    case 'enum': {
      const value = canonical(definition.values, text);
      if (value === undefined) return { ok: false, problem: `"${text}" is not one of ${definition.values.join(', ')}` };
      return { ok: true, value };
    }
    case 'list': {
      const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
      if (items.length === 0) return { ok: false, problem: `the list is empty (use items from ${definition.values.join(', ')})` };
      const values: string[] = [];
      for (const item of items) {
        const value = canonical(definition.values, item);
        if (value === undefined) return { ok: false, problem: `"${item}" is not one of ${definition.values.join(', ')}` };
        if (values.includes(value)) return { ok: false, problem: `"${value}" is listed twice` };
        values.push(value);
      }
      return { ok: true, value: values };
    }
  }
}

/** How a value is written in the ini file; parseVariableValue(d, formatVariableValue(v)) gives v back. */
export function formatVariableValue(value: VariableValue | readonly string[]): string {
  if (Array.isArray(value)) return value.join(',');
  return String(value);
}

/** Admins type "sha-256" or "INFO"; the program uses one spelling. */
function canonical(allowed: readonly string[], text: string): string | undefined {
  const lower = text.toLowerCase();
  return allowed.find((v) => v.toLowerCase() === lower);
}
