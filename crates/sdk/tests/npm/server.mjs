// Serves the npm package's createSupportHandler over HTTP for tests/npm_compat.rs.
//   node server.mjs
// Listens on 127.0.0.1:0 and prints {"port":<n>} on stdout once ready. Routes:
//   POST /full     every method implemented
//   POST /minimal  only the five required methods
// Both use fixtures.secrets.primary. Exits when stdin closes (the parent test went away).
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { createSupportHandler } from '@skillrecordings/sdk/handler';
import { createIntegration } from './app.mjs';

const fixtures = JSON.parse(readFileSync(new URL('./fixtures.json', import.meta.url), 'utf8'));
const webhookSecret = fixtures.secrets.primary;
const handlers = {
  '/full': createSupportHandler({ integration: createIntegration(fixtures), webhookSecret }),
  '/minimal': createSupportHandler({
    integration: createIntegration(fixtures, { minimal: true }),
    webhookSecret,
  }),
};

const server = http.createServer(async (req, res) => {
  try {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const url = new URL(req.url, `http://${req.headers.host}`);
    const handler = handlers[url.pathname];
    if (!handler || req.method !== 'POST') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'Not found' }));
      return;
    }
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
    }
    const request = new Request(url, { method: 'POST', headers, body: Buffer.concat(chunks) });
    const response = await handler(request);
    const body = Buffer.from(await response.arrayBuffer());
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(body);
  } catch (err) {
    res.writeHead(599, { 'content-type': 'text/plain' });
    res.end(`test server failure: ${err?.stack ?? err}`);
  }
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
