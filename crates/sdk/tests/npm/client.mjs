// Drives the npm package's IntegrationClient against a support endpoint for tests/npm_compat.rs.
//   node client.mjs <base url> [--all]
// Runs every call of calls.json (skipping "rustHandlerOnly" ones unless --all) against
// <base url><call.target> with fixtures.secrets[call.secret], and prints one JSON line per call:
//   {"id": ..., "ok": true, "value": <result>}  or  {"id": ..., "ok": false, "error": <message>}
// The Rust test asserts on these lines; this script only reports.
import { readFileSync } from 'node:fs';
import { IntegrationClient } from '@skillrecordings/sdk/client';

const read = (name) => JSON.parse(readFileSync(new URL(name, import.meta.url), 'utf8'));
const fixtures = read('./fixtures.json');
const calls = read('./calls.json');
const [baseUrl, ...flags] = process.argv.slice(2);
if (!baseUrl) {
  console.error('usage: node client.mjs <base url> [--all]');
  process.exit(2);
}
const all = flags.includes('--all');

for (const call of calls) {
  if (call.rustHandlerOnly && !all) continue;
  const client = new IntegrationClient({
    baseUrl: `${baseUrl}${call.target}`,
    webhookSecret: fixtures.secrets[call.secret],
  });
  let line;
  try {
    const value = await client[call.method](...call.args);
    line = { id: call.id, ok: true, value: value === undefined ? '<undefined>' : value };
  } catch (err) {
    line = { id: call.id, ok: false, error: err instanceof Error ? err.message : String(err) };
  }
  process.stdout.write(`${JSON.stringify(line)}\n`);
}
