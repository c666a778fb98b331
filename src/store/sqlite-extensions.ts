import type { Database, Statement } from 'better-sqlite3';
import { ConflictError, type Extension, type ExtensionPatch, type ExtensionRepository, type NewExtension } from './types.js';
import { UnknownDomainError } from './errors.js';
import { isSqliteError } from './sqlite-errors.js';
import { normalizeDomainName } from './sqlite-domains.js';
import { ReadCache } from './read-cache.js';

interface ExtensionRow {
  id: number;
  domain: string;
  number: string;
  display_name: string;
  ha1_md5: string;
  ha1_sha256: string;
  settings: string;
  direct_media: number;
  created_at: number;
  updated_at: number;
}

interface PatchParams {
  id: number;
  displayName: string | null;
  ha1Md5: string | null;
  ha1Sha256: string | null;
  settings: string | null;
  directMedia: number | null;
  now: number;
}

const COLUMNS = 'id, domain, number, display_name, ha1_md5, ha1_sha256, settings, direct_media, created_at, updated_at';

/**
 * Extensions kept in memory, by domain and number: every call and every authenticated request looks its
 * extensions up, a call through the extension service four times, and each query cost ~10 us. Room for a
 * small business's every extension; the oldest entry goes first.
 */
const CACHED_EXTENSIONS = 4096;

export class SqliteExtensionRepository implements ExtensionRepository {
  private readonly insert: Statement<[string, string, string, string, string, string, number, number, number]>;
  private readonly byId: Statement<[number], ExtensionRow>;
  private readonly byNumber: Statement<[string, string], ExtensionRow>;
  private readonly listAll: Statement<[], ExtensionRow>;
  private readonly listDomain: Statement<[string], ExtensionRow>;
  private readonly patch: Statement<[PatchParams]>;
  private readonly deleteById: Statement<[number]>;
  private readonly deleteBindings: Statement<[number]>;
  private readonly deleteWithBindings: (id: number) => boolean;
  private readonly cached = new ReadCache<Extension>(CACHED_EXTENSIONS);

  constructor(db: Database) {
    this.insert = db.prepare(`INSERT INTO extensions
      (domain, number, display_name, ha1_md5, ha1_sha256, settings, direct_media, created_at, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.byId = db.prepare(`SELECT ${COLUMNS} FROM extensions WHERE id = ?`);
    this.byNumber = db.prepare(`SELECT ${COLUMNS} FROM extensions WHERE domain = ? AND number = ?`);
    this.listAll = db.prepare(`SELECT ${COLUMNS} FROM extensions ORDER BY domain, number`);
    this.listDomain = db.prepare(`SELECT ${COLUMNS} FROM extensions WHERE domain = ? ORDER BY number`);
    // One statement for every patch shape: absent fields are bound as NULL and keep their value.
    this.patch = db.prepare(`UPDATE extensions SET
      display_name = COALESCE(@displayName, display_name),
      ha1_md5 = COALESCE(@ha1Md5, ha1_md5),
      ha1_sha256 = COALESCE(@ha1Sha256, ha1_sha256),
      settings = COALESCE(@settings, settings),
      direct_media = COALESCE(@directMedia, direct_media),
      updated_at = MAX(@now, created_at)
      WHERE id = @id`);
    this.deleteById = db.prepare('DELETE FROM extensions WHERE id = ?');
    this.deleteBindings = db.prepare(`DELETE FROM bindings WHERE (domain, number) =
      (SELECT domain, number FROM extensions WHERE id = ?)`);
    this.deleteWithBindings = db.transaction((id: number) => {
      this.deleteBindings.run(id);
      return this.deleteById.run(id).changes > 0;
    });
  }

  create(input: NewExtension): Extension {
    this.cached.clear();
    const domain = normalizeDomainName(input.domain);
    const now = Date.now();
    let id: number | bigint;
    try {
      id = this.insert.run(domain, input.number, input.displayName ?? '', input.ha1Md5, input.ha1Sha256,
        JSON.stringify(input.settings ?? {}), sqliteFlag(input.directMedia ?? false), now, now).lastInsertRowid;
    } catch (err) {
      if (isSqliteError(err, 'SQLITE_CONSTRAINT_UNIQUE')) throw new ConflictError(`extension ${input.number}@${domain} already exists`);
      if (isSqliteError(err, 'SQLITE_CONSTRAINT_FOREIGNKEY')) throw new UnknownDomainError(`domain ${domain} does not exist`);
      throw err;
    }
    return toExtension(this.byId.get(Number(id))!);
  }

  get(id: number): Extension | undefined {
    const row = this.byId.get(id);
    return row && toExtension(row);
  }

  find(domain: string, number: string): Extension | undefined {
    const normalized = normalizeDomainName(domain);
    const key = `${normalized}\n${number}`;
    const hit = this.cached.get(key);
    if (hit !== undefined) return hit;
    const row = this.byNumber.get(normalized, number);
    if (row === undefined) return undefined;
    const extension = frozen(toExtension(row));
    this.cached.set(key, extension);
    return extension;
  }

  /** Forgets what find() kept: after every write, and after a transaction that may have rolled one back. */
  forgetCached(): void {
    this.cached.clear();
  }

  list(domain?: string): Extension[] {
    const rows = domain === undefined ? this.listAll.all() : this.listDomain.all(normalizeDomainName(domain));
    return rows.map(toExtension);
  }

  update(id: number, patch: ExtensionPatch): Extension | undefined {
    this.cached.clear();
    const changes = this.patch.run({
      id,
      displayName: patch.displayName ?? null,
      ha1Md5: patch.ha1Md5 ?? null,
      ha1Sha256: patch.ha1Sha256 ?? null,
      settings: patch.settings === undefined ? null : JSON.stringify(patch.settings),
      directMedia: patch.directMedia === undefined ? null : sqliteFlag(patch.directMedia),
      now: Date.now(),
    }).changes;
    return changes > 0 ? this.get(id) : undefined;
  }

  delete(id: number): boolean {
    this.cached.clear();
    return this.deleteWithBindings(id);
  }
}

function toExtension(row: ExtensionRow): Extension {
  return {
    id: row.id,
    domain: row.domain,
    number: row.number,
    displayName: row.display_name,
    ha1Md5: row.ha1_md5,
    ha1Sha256: row.ha1_sha256,
    settings: JSON.parse(row.settings) as Record<string, unknown>,
    directMedia: row.direct_media === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** A cached extension is shared by every caller of find(): none may change it. */
function frozen(extension: Extension): Extension {
  Object.freeze(extension.settings);
  return Object.freeze(extension);
}

// SQLite has no boolean type, and better-sqlite3 refuses to bind one.
function sqliteFlag(value: boolean): number {
  return value ? 1 : 0;
}
