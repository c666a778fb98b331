// better-sqlite3 reports constraint failures as SqliteError with an extended result code.

export function isSqliteError(err: unknown, code: string): boolean {
  return err instanceof Error && (err as Error & { code?: unknown }).code === code;
}
