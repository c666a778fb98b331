// Loads mss_var_param.ini into typed Variables. A bad line never stops the server: it becomes a
// warning naming the file line and the default is used, as admins of miniSIPServer expect.

import fs from 'node:fs';
import path from 'node:path';
import { parseIni } from './ini-file.js';
import {
  ORDERED_PAIRS,
  SECTION_NAMES,
  VARIABLE_DEFINITIONS,
  findDefinition,
  type VariableValue,
  type Variables,
} from './variable-definitions.js';
import { parseVariableValue } from './variable-values.js';
import { renderTemplate } from './variables-template.js';

export type { Variables, VariableDefinition } from './variable-definitions.js';
export { VARIABLE_DEFINITIONS } from './variable-definitions.js';
export { renderTemplate, VARIABLES_FILE_NAME } from './variables-template.js';

export interface LoadedVariables {
  vars: Variables;
  warnings: string[];
  createdTemplate: boolean;
}

type ValueTable = Record<string, Record<string, VariableValue>>;

export function defaultVariables(): Variables {
  const table: ValueTable = {};
  for (const section of SECTION_NAMES) table[section] = {};
  for (const d of VARIABLE_DEFINITIONS) table[d.section][d.name] = copy(d.default);
  // The definitions list is checked against the Variables interface by the tests.
  return table as unknown as Variables;
}

/** Reads the file, writing the commented template first when it does not exist. */
export function loadVariables(filePath: string): LoadedVariables {
  let text: string;
  try {
    text = fs.readFileSync(filePath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read ${filePath}: ${reason(err)}`);
    writeTemplate(filePath);
    return { vars: defaultVariables(), warnings: [], createdTemplate: true };
  }
  const { vars, warnings } = parseVariables(text, filePath);
  return { vars, warnings, createdTemplate: false };
}

/** `source` names the file in warnings: "<source>:<line>: <problem>". */
export function parseVariables(text: string, source: string): { vars: Variables; warnings: string[] } {
  const warnings: string[] = [];
  const warn = (line: number, problem: string) => warnings.push(`${source}:${line}: ${problem}`);
  const vars = defaultVariables();
  const table = vars as unknown as ValueTable;
  const setOnLine = new Map<string, number>();
  const ini = parseIni(text);

  for (const error of ini.errors) warn(error.line, `${error.problem}; line ignored`);
  for (const section of ini.sections) {
    if (!isKnownSection(section.name)) {
      warn(section.line, `unknown section [${section.name}] (known: ${SECTION_NAMES.join(', ')}); its lines are ignored`);
    }
  }
  for (const entry of ini.entries) {
    if (entry.section === undefined) {
      warn(entry.line, `"${entry.name}" is outside any [section]; line ignored`);
      continue;
    }
    if (!isKnownSection(entry.section)) continue;
    const definition = findDefinition(entry.section, entry.name);
    if (!definition) {
      warn(entry.line, `unknown variable "${entry.name}" in [${entry.section}]; line ignored`);
      continue;
    }
    const key = `${definition.section}.${definition.name}`;
    const parsed = parseVariableValue(definition, entry.value);
    if (!parsed.ok) {
      warn(entry.line, `[${definition.section}] ${definition.name}: ${parsed.problem}; using the default ${show(definition.default)}`);
      continue;
    }
    const earlier = setOnLine.get(key);
    if (earlier !== undefined) warn(entry.line, `[${definition.section}] ${definition.name} was already set on line ${earlier}; this line wins`);
    table[definition.section][definition.name] = parsed.value;
    setOnLine.set(key, entry.line);
  }

  enforceOrderedPairs(table, setOnLine, warn);
  return { vars, warnings };
}

/**
 * Reverting both members of a violated pair always converges, because the defaults satisfy every
 * pair; repeat because reverting one pair can break a neighbouring one (min <= default <= max).
 */
function enforceOrderedPairs(
  table: ValueTable,
  setOnLine: Map<string, number>,
  warn: (line: number, problem: string) => void,
): void {
  let changed = true;
  while (changed) {
    changed = false;
    for (const { section, lower, upper } of ORDERED_PAIRS) {
      const low = table[section][lower] as number;
      const high = table[section][upper] as number;
      if (low <= high) continue;
      const lowDefault = findDefinition(section, lower)?.default as number;
      const highDefault = findDefinition(section, upper)?.default as number;
      const line = Math.max(setOnLine.get(`${section}.${lower}`) ?? 0, setOnLine.get(`${section}.${upper}`) ?? 0);
      warn(line, `[${section}] ${upper} (${high}) must not be less than ${lower} (${low}); using the defaults ${lower} = ${lowDefault}, ${upper} = ${highDefault}`);
      table[section][lower] = lowDefault;
      table[section][upper] = highDefault;
      setOnLine.delete(`${section}.${lower}`);
      setOnLine.delete(`${section}.${upper}`);
      changed = true;
    }
  }
}

function writeTemplate(filePath: string): void {
  try {
    fs.mkdirSync(path.dirname(filePath), { recursive: true });
    // 'wx': if another process created the file meanwhile, keep theirs.
    fs.writeFileSync(filePath, renderTemplate(), { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw new Error(`cannot write ${filePath}: ${reason(err)}`);
  }
}

function isKnownSection(name: string): boolean {
  return (SECTION_NAMES as readonly string[]).includes(name);
}

function copy(value: VariableValue | readonly string[]): VariableValue {
  return Array.isArray(value) ? [...value] : (value as VariableValue);
}

function show(value: VariableValue | readonly string[]): string {
  const text = Array.isArray(value) ? value.join(',') : String(value);
  return text === '' ? '(empty)' : text;
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
