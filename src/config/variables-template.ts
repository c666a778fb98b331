// The commented mss_var_param.ini written on first start, so admins see every switch, its
// default and its meaning without opening the manual.

import { SECTION_NAMES, VARIABLE_DEFINITIONS, type VariableDefinition } from './variable-definitions.js';
import { formatVariableValue } from './variable-values.js';

export const VARIABLES_FILE_NAME = 'mss_var_param.ini';

const HEADER = [
  `; ${VARIABLES_FILE_NAME} - Switchboard system variables`,
  ';',
  '; Each variable is a "name = value" line under its [section]. Lines starting with ; or # are',
  '; comments. Every variable is listed below, commented out, with its default value. To change',
  '; one, remove the leading ";" (or add the line yourself under the right section), edit the',
  '; value and restart Switchboard. Booleans accept true/false, yes/no, on/off, 1/0.',
  '; An unknown name or a bad value is reported as a warning at start-up and the default is used.',
];

export function renderTemplate(): string {
  const lines = [...HEADER];
  for (const section of SECTION_NAMES) {
    lines.push('', `[${section}]`);
    for (const definition of VARIABLE_DEFINITIONS.filter((d) => d.section === section)) {
      lines.push(`; ${definition.description} (${describeType(definition)})`);
      lines.push(`;${definition.name} = ${formatVariableValue(definition.default)}`.trimEnd());
    }
  }
  return lines.join('\n') + '\n';
}

/** "integer, milliseconds, 50..10000, default 500" */
export function describeType(definition: VariableDefinition): string {
  const parts: string[] = [definition.type];
  if (definition.unit) parts.push(definition.unit);
  if (definition.type === 'integer') parts.push(`${definition.min}..${definition.max}`);
  if (definition.type === 'enum') parts.push(`one of ${definition.values.join(', ')}`);
  if (definition.type === 'list') parts.push(`comma-separated, from ${definition.values.join(', ')}`);
  const shown = formatVariableValue(definition.default);
  parts.push(`default ${shown === '' ? 'empty' : shown}`);
  return parts.join(', ');
}
