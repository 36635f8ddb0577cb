/** SQL text shared by the PostgreSQL store and the parquet reader (DuckDB): both quote names alike. */

/** A name as a double-quoted SQL identifier: any character, `"` doubled. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
