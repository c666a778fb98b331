// Where service scripts come from: the built-ins shipped in lua/services, and <data-dir>/lua/services
// where an administrator adds services or overrides a built-in by writing a file of the same name.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, watch, type FSWatcher } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from '../../log/logger.js';

export type ServiceOrigin = 'builtin' | 'data-dir';

export interface ServiceScript {
  name: string;
  origin: ServiceOrigin;
  /** absolute path of the file */
  file: string;
  /** how Lua names the chunk in error messages: "lua/services/ivr.lua" */
  chunkName: string;
  source: string;
  /** sha256 of the source, first 12 hex digits */
  version: string;
}

export interface ServiceCatalogOptions {
  builtinDir: string;
  /** <data-dir>/lua/services; created by watch() when missing */
  overrideDir: string;
  logger: Logger;
  /** editors save in several steps (temporary file, rename, chmod): changes are reported once quiet */
  debounceMs?: number;
}

const SERVICE_FILE = /^([a-z0-9][a-z0-9_-]*)\.lua$/;
const DEFAULT_DEBOUNCE_MS = 150;

export class ServiceCatalog {
  private readonly builtinDir: string;
  private readonly overrideDir: string;
  private readonly logger: Logger;
  private readonly debounceMs: number;

  constructor(options: ServiceCatalogOptions) {
    this.builtinDir = resolve(options.builtinDir);
    this.overrideDir = resolve(options.overrideDir);
    this.logger = options.logger;
    this.debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
  }

  /** Every service, overrides in place of the built-ins they replace, sorted by name. */
  list(): ServiceScript[] {
    const names = new Set([...this.namesIn(this.builtinDir), ...this.namesIn(this.overrideDir)]);
    return [...names]
      .sort()
      .map((name) => this.get(name))
      .filter((script): script is ServiceScript => script !== undefined);
  }

  get(name: string): ServiceScript | undefined {
    if (!SERVICE_FILE.test(`${name}.lua`)) return undefined;
    return this.read(name, 'data-dir') ?? this.read(name, 'builtin');
  }

  /**
   * Calls `onChange(name)` when the script a service would run changed: edited, added, an override
   * written or deleted (back to the built-in), or the service deleted altogether (get() is then
   * undefined). Returns the function that stops watching.
   */
  watch(onChange: (name: string) => void): () => void {
    mkdirSync(this.overrideDir, { recursive: true });
    const known = new Map(this.list().map((script) => [script.name, identity(script)]));
    const touched = new Set<string>();
    let rescanAll = false;
    let timer: NodeJS.Timeout | undefined;

    const report = (): void => {
      timer = undefined;
      const names = rescanAll ? new Set([...known.keys(), ...this.list().map((s) => s.name)]) : new Set(touched);
      touched.clear();
      rescanAll = false;
      for (const name of names) {
        const script = this.get(name);
        const now = script === undefined ? undefined : identity(script);
        if (now === known.get(name)) continue;
        if (now === undefined) known.delete(name);
        else known.set(name, now);
        onChange(name);
      }
    };

    const onEvent = (_event: string, filename: string | Buffer | null): void => {
      if (filename === null) {
        rescanAll = true;
      } else {
        const match = SERVICE_FILE.exec(filename.toString());
        if (match === null) return;
        touched.add(match[1]);
      }
      if (timer !== undefined) clearTimeout(timer);
      timer = setTimeout(report, this.debounceMs);
    };

    const watchers: FSWatcher[] = [];
    for (const dir of [this.builtinDir, this.overrideDir]) {
      try {
        const watcher = watch(dir, { persistent: false }, onEvent);
        watcher.on('error', (err) => this.logger.warn({ dir, err: err.message }, 'service directory watch failed'));
        watchers.push(watcher);
      } catch (err) {
        this.logger.warn({ dir, err: (err as Error).message }, 'service directory cannot be watched');
      }
    }
    return () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      for (const watcher of watchers) watcher.close();
    };
  }

  private read(name: string, origin: ServiceOrigin): ServiceScript | undefined {
    const file = join(origin === 'builtin' ? this.builtinDir : this.overrideDir, `${name}.lua`);
    let source: string;
    try {
      source = readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A directory of that name, or a file deleted between listing and reading, is simply no script.
      if (code !== 'ENOENT' && code !== 'EISDIR') this.logger.warn({ file, err: (err as Error).message }, 'service script unreadable');
      return undefined;
    }
    const chunkName = origin === 'builtin' ? `lua/services/${name}.lua` : `<data-dir>/lua/services/${name}.lua`;
    const version = createHash('sha256').update(source).digest('hex').slice(0, 12);
    return { name, origin, file, chunkName, source, version };
  }

  private namesIn(dir: string): string[] {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.logger.warn({ dir, err: (err as Error).message }, 'service directory unreadable');
      return [];
    }
    const names: string[] = [];
    for (const entry of entries) {
      const match = SERVICE_FILE.exec(entry);
      if (match !== null) names.push(match[1]);
      else if (entry.toLowerCase().endsWith('.lua')) this.logger.warn({ dir, file: entry }, 'ignored: a service file name is lower-case letters, digits, - and _');
    }
    return names;
  }
}

/** What makes a service's effective script different: where it comes from and what it says. */
function identity(script: ServiceScript): string {
  return `${script.origin}:${script.version}`;
}
