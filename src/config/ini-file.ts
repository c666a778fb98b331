// Minimal INI reader in the dialect of miniSIPServer's mss_var_param.ini: [section] headers,
// "name = value" lines, ';' or '#' comments. It knows nothing about which variables exist.

export interface IniEntry {
  /** lowercase section name, or undefined before the first [section] */
  section: string | undefined;
  /** lowercase variable name */
  name: string;
  value: string;
  line: number;
}

export interface IniSection {
  name: string;
  line: number;
}

export interface IniSyntaxError {
  line: number;
  problem: string;
}

export interface ParsedIni {
  sections: IniSection[];
  entries: IniEntry[];
  errors: IniSyntaxError[];
}

export function parseIni(text: string): ParsedIni {
  const result: ParsedIni = { sections: [], entries: [], errors: [] };
  let section: string | undefined;
  // Notepad on Windows writes a BOM; it would otherwise glue itself to the first section name.
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith(';') || trimmed.startsWith('#')) return;
    const header = /^\[([^\]]*)\]\s*([;#].*)?$/.exec(trimmed);
    if (header) {
      section = header[1].trim().toLowerCase();
      result.sections.push({ name: section, line });
      return;
    }
    const eq = trimmed.indexOf('=');
    if (eq <= 0) {
      result.errors.push({ line, problem: `cannot read "${trimmed}": expected [section] or name = value` });
      return;
    }
    const name = trimmed.slice(0, eq).trim().toLowerCase();
    result.entries.push({ section, name, value: unquote(trimmed.slice(eq + 1).trim()), line });
  });
  return result;
}

/** A double-quoted value is taken literally; otherwise " ;..." or " #..." ends it as a comment. */
function unquote(value: string): string {
  const quoted = /^"(.*)"\s*([;#].*)?$/.exec(value);
  if (quoted) return quoted[1];
  const comment = /(^|\s)[;#]/.exec(value);
  return comment ? value.slice(0, comment.index).trim() : value;
}
