import assert from 'node:assert/strict';
import { request as httpRequest, createServer } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { generate } from 'selfsigned';
import { startApiServers } from '../../src/api/server.js';
import { createApiFixture, type ApiFixture } from './api-fixture.js';

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: string }

let fixture: ApiFixture;
let servers: Awaited<ReturnType<typeof startApiServers>>;
let tls: { key: string; cert: string };

/** httpPort 0 means "off", so the test asks the OS for a free port first. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

function fetchOver(secure: boolean, port: number, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const options = { host: '127.0.0.1', port, path, headers: { host: `localhost:${port}` }, rejectUnauthorized: false };
    const request = (secure ? httpsRequest : httpRequest)(options, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

before(async () => {
  fixture = await createApiFixture();
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], { keySize: 2048 });
  tls = { key: pems.private, cert: pems.cert };
  servers = await startApiServers({
    store: fixture.store, runtime: fixture.runtime, bind: '127.0.0.1', httpsPort: 0, httpPort: await freePort(), tls, logger: false,
  });
});
after(async () => {
  await servers.close();
  await fixture.close();
});

test('serves the API over HTTPS', async () => {
  const answer = await fetchOver(true, servers.httpsPort, '/api/v1/health');
  assert.equal(answer.status, 200);
  assert.equal(JSON.parse(answer.body).status, 'ok');
});

test('plain HTTP only redirects to the same path over HTTPS', async () => {
  const answer = await fetchOver(false, servers.httpPort, '/api/v1/extensions?domain=example.com');
  assert.equal(answer.status, 301);
  assert.equal(answer.headers.location, `https://localhost:${servers.httpsPort}/api/v1/extensions?domain=example.com`);
});

test('/api/docs serves the Swagger UI page', async () => {
  const answer = await fetchOver(true, servers.httpsPort, '/api/docs');
  assert.equal(answer.status, 200);
  assert.match(String(answer.headers['content-type']), /text\/html/);
  assert.match(answer.body, /swagger-ui/i);
});

test('a port already in use is a clear error', async () => {
  await assert.rejects(
    startApiServers({ store: fixture.store, runtime: fixture.runtime, bind: '127.0.0.1', httpsPort: servers.httpsPort, httpPort: 0, tls, logger: false }),
    { message: `cannot listen on HTTPS 127.0.0.1:${servers.httpsPort}: address already in use` },
  );
  await assert.rejects(
    startApiServers({ store: fixture.store, runtime: fixture.runtime, bind: '127.0.0.1', httpsPort: 0, httpPort: servers.httpPort, tls, logger: false }),
    { message: `cannot listen on HTTP 127.0.0.1:${servers.httpPort}: address already in use` },
  );
});
