/**
 * Many rows as one statement parameter: the rows go as a single JSON array, and Postgres reads
 * them back with `json_to_recordset` into typed columns. One parameter whatever the row count,
 * so the statement is prepared once per connection (a VALUES list would be a new statement per
 * batch size, cached forever), and the client serialises with one native JSON.stringify
 * instead of escaping every value into a text[] literal per column (what postgres.js does in
 * JS, and for JSON values twice: once as JSON, once as array element).
 */
export type RecordsetColumns = readonly (readonly [name: string, sqlType: string, ...rest: unknown[]])[];

/**
 * `json_to_recordset($n::text::json) AS alias (name type, ...)`, for a FROM clause. The parameter
 * is declared text and given the JSON already serialised: declared json, postgres.js would
 * serialise the string once more, into a JSON string.
 */
export function jsonRecordset(columns: RecordsetColumns, parameter: number, alias: string): string {
  return `json_to_recordset($${parameter}::text::json) AS ${alias} (${columns.map(([name, type]) => `${name} ${type}`).join(", ")})`;
}
