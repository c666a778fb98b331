// The registrar of a real Switchboard process, driven by SIPp (register.xml, unregister.xml) and by
// a tiny raw SIP client (node:dgram / node:net) where the exact response matters: 401 challenges,
// 423 Min-Expires, OPTIONS capabilities.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startSwitchboard, type Switchboard } from '../support/server.js';
import { runSipp, sippInjection, sippScenario, type SippResult } from '../support/sipp.js';
import { parseSipReply, type SipReply } from '../support/sip-reply.js';

const HOST = '127.0.0.1';
const REALM = HOST;
const RAW_TIMEOUT_MS = 3_000;

interface Registration {
  domain: string;
  number: string;
  contact: string;
  expiresInSeconds: number;
  source: { transport: string; address: string; port: number };
  userAgent: string;
}


function explain(result: SippResult): string {
  return `exit ${result.code}\n${result.errors}\n${result.stdout.slice(-3000)}`;
}


/** The first final (>= 200) response to one request sent over UDP from a fresh socket. */
async function udpRequest(port: number, build: (localPort: number) => string): Promise<SipReply> {
  const socket = dgram.createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, HOST, () => resolve());
    });
    const message = build(socket.address().port);
    return await new Promise<SipReply>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no final response over UDP within ${RAW_TIMEOUT_MS} ms to:\n${message}`)), RAW_TIMEOUT_MS);
      socket.on('message', (data) => {
        try {
          const reply = parseSipReply(data.toString('utf8'));
          if (reply.status < 200) return;
          clearTimeout(timer);
          resolve(reply);
        } catch (error) {
          clearTimeout(timer);
          reject(error as Error);
        }
      });
      socket.send(message, port, HOST);
    });
  } finally {
    socket.close();
  }
}

/** The first final response to one request sent over a fresh TCP connection. */
async function tcpRequest(port: number, build: (localPort: number) => string): Promise<SipReply> {
  const socket = net.connect({ host: HOST, port });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.once('connect', () => resolve());
    });
    const message = build(socket.localPort ?? 0);
    return await new Promise<SipReply>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no final response over TCP within ${RAW_TIMEOUT_MS} ms to:\n${message}`)), RAW_TIMEOUT_MS);
      let buffer = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        buffer += chunk;
        // a stream carries one message after another: take each complete one
        for (let guard = 0; guard < 100; guard++) {
          const end = buffer.indexOf('\r\n\r\n');
          if (end < 0) return;
          const length = Number(/\r\n(?:content-length|l)\s*:\s*(\d+)/i.exec(buffer.slice(0, end + 2))?.[1] ?? 0);
          if (buffer.length < end + 4 + length) return;
          const text = buffer.slice(0, end + 4 + length);
          buffer = buffer.slice(end + 4 + length);
          try {
            const reply = parseSipReply(text);
            if (reply.status < 200) continue;
            clearTimeout(timer);
            resolve(reply);
            return;
          } catch (error) {
            clearTimeout(timer);
            reject(error as Error);
            return;
          }
        }
      });
      socket.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      socket.write(message);
    });
  } finally {
    socket.destroy();
  }
}

const token = () => randomBytes(6).toString('hex');

interface RegisterOptions {
  user: string;
  serverPort: number;
  transport?: 'UDP' | 'TCP';
  expires?: number;
  authorization?: string;
  callId?: string;
  cseq?: number;
  /** false: no Contact header (a query) */
  contact?: boolean;
}

function registerMessage(localPort: number, o: RegisterOptions): string {
  const transport = o.transport ?? 'UDP';
  const lines = [
    `REGISTER sip:${HOST}:${o.serverPort} SIP/2.0`,
    `Via: SIP/2.0/${transport} ${HOST}:${localPort};branch=z9hG4bK${token()};rport`,
    `Max-Forwards: 70`,
    `From: <sip:${o.user}@${HOST}>;tag=${token()}`,
    `To: <sip:${o.user}@${HOST}>`,
    `Call-ID: ${o.callId ?? `${token()}@raw-test`}`,
    `CSeq: ${o.cseq ?? 1} REGISTER`,
  ];
  if (o.contact !== false) {
    lines.push(`Contact: <sip:${o.user}@${HOST}:${localPort};transport=${transport.toLowerCase()}>`, `Expires: ${o.expires ?? 300}`);
  }
  if (o.authorization) lines.push(`Authorization: ${o.authorization}`);
  lines.push('User-Agent: switchboard-raw-test', 'Content-Length: 0', '', '');
  return lines.join('\r\n');
}

function optionsMessage(localPort: number, serverPort: number, transport: 'UDP' | 'TCP'): string {
  return [
    `OPTIONS sip:${HOST}:${serverPort} SIP/2.0`,
    `Via: SIP/2.0/${transport} ${HOST}:${localPort};branch=z9hG4bK${token()};rport`,
    `Max-Forwards: 70`,
    `From: <sip:probe@${HOST}>;tag=${token()}`,
    `To: <sip:${HOST}:${serverPort}>`,
    `Call-ID: ${token()}@raw-test`,
    `CSeq: 1 OPTIONS`,
    `Accept: application/sdp`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** Parameters of one `Digest k=v, k="v"` challenge. */
function challengeParams(challenge: string): Record<string, string> {
  assert.match(challenge, /^Digest /i);
  const params: Record<string, string> = {};
  for (const m of challenge.slice(7).matchAll(/([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|([^\s,]+))/g)) {
    params[m[1]!.toLowerCase()] = m[2] ?? m[3] ?? '';
  }
  return params;
}

function md5(text: string): string {
  return createHash('md5').update(text).digest('hex');
}

/** An MD5, qop=auth Authorization value for REGISTER. */
function md5Authorization(user: string, password: string, nonce: string, uri: string): string {
  const cnonce = token();
  const nc = '00000001';
  const ha1 = md5(`${user}:${REALM}:${password}`);
  const ha2 = md5(`REGISTER:${uri}`);
  const response = md5(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`);
  return `Digest username="${user}", realm="${REALM}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=MD5, cnonce="${cnonce}", nc=${nc}, qop=auth`;
}

/** A fresh MD5 nonce from an unauthenticated REGISTER. */
async function fetchMd5Nonce(serverPort: number, user: string): Promise<string> {
  const challenge = await udpRequest(serverPort, (p) => registerMessage(p, { user, serverPort }));
  assert.equal(challenge.status, 401, challenge.text);
  const md5Challenge = challenge.all('WWW-Authenticate').map(challengeParams).find((c) => (c.algorithm ?? 'MD5').toUpperCase() === 'MD5');
  assert.ok(md5Challenge?.nonce, `no MD5 challenge in:\n${challenge.text}`);
  return md5Challenge.nonce;
}

async function registrations(server: Switchboard, number: string): Promise<Registration[]> {
  const response = await server.api<Registration[]>('GET', `/api/v1/registrations?number=${number}`);
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body.filter((r) => r.number === number);
}

describe('Switchboard registrar', { timeout: 60_000 }, () => {
  let server: Switchboard;
  let target: string;
  const password = (number: string) => `Pw-${number}-Reg7`;

  before(async () => {
    server = await startSwitchboard();
    target = `${HOST}:${server.sipPort}`;
  });

  after(async () => {
    await server?.stop();
  });

  async function sippRegister(number: string, pw = password(number), scenario = 'register') {
    return runSipp({
      scenario: sippScenario(scenario),
      target,
      injection: sippInjection([{ number, password: pw }]),
      keys: { expires: '300' },
      timeoutMs: 8_000,
    });
  }

  it('registers with digest authentication and lists the binding with its source address and port', async () => {
    await server.createExtension('7101', password('7101'));
    assert.deepEqual(await registrations(server, '7101'), []);

    const result = await sippRegister('7101');
    assert.equal(result.code, 0, explain(result));
    assert.match(result.log, /registered 7101/);

    const bindings = await registrations(server, '7101');
    assert.equal(bindings.length, 1, JSON.stringify(bindings));
    const [binding] = bindings;
    assert.equal(binding!.source.address, HOST);
    assert.equal(binding!.source.transport.toUpperCase(), 'UDP');
    assert.match(binding!.contact, /sip:7101@127\.0\.0\.1:(\d+)/);
    const contactPort = Number(/127\.0\.0\.1:(\d+)/.exec(binding!.contact)![1]);
    // SIPp sends from the port it names in its Contact
    assert.equal(binding!.source.port, contactPort);
    assert.equal(binding!.userAgent, 'switchboard-test-sipp');
    assert.ok(binding!.expiresInSeconds > 250 && binding!.expiresInSeconds <= 300, `expires ${binding!.expiresInSeconds}`);
  });

  it('refuses a wrong password: SIPp gets a second 401 instead of 200 and nothing is bound', async () => {
    await server.createExtension('7102', password('7102'));
    const result = await sippRegister('7102', 'not-the-password');
    assert.equal(result.code, 1, explain(result));
    assert.equal(result.stats?.failed, 1, explain(result));
    assert.equal(result.stats?.successful, 0, explain(result));
    assert.doesNotMatch(result.log, /registered 7102/);
    // register.xml waits for 200 after its credentials; the server challenged again
    assert.match(result.errors, /401/, result.errors);
    assert.deepEqual(await registrations(server, '7102'), []);
  });

  it('answers an unknown user exactly like a known user with a wrong password', async () => {
    await server.createExtension('7103', password('7103'));
    const uri = `sip:${HOST}:${server.sipPort}`;
    const attempt = async (user: string) => {
      const nonce = await fetchMd5Nonce(server.sipPort, user);
      const reply = await udpRequest(server.sipPort, (p) =>
        registerMessage(p, { user, serverPort: server.sipPort, authorization: md5Authorization(user, 'Wrong-Password-1', nonce, uri) }));
      return { nonce, reply };
    };
    const unknown = await attempt('7199');
    const wrong = await attempt('7103');

    assert.equal(unknown.reply.status, 401, unknown.reply.text);
    assert.equal(wrong.reply.status, 401, wrong.reply.text);
    assert.equal(unknown.reply.reason, wrong.reply.reason);
    assert.deepEqual(unknown.reply.names, wrong.reply.names);
    for (const { nonce, reply } of [unknown, wrong]) {
      const challenges = reply.all('WWW-Authenticate').map(challengeParams);
      assert.ok(challenges.length >= 1, reply.text);
      for (const c of challenges) {
        assert.equal(c.realm, REALM);
        assert.ok(c.nonce && c.nonce !== nonce, `expected a fresh nonce, got ${c.nonce} again`);
        assert.equal(c.stale, undefined, `a wrong password is not a stale nonce: ${reply.text}`);
      }
    }
    // the challenges differ only in their nonces
    const withoutNonce = (r: SipReply) => r.all('WWW-Authenticate').map((v) => v.replace(/nonce="[^"]*"/, 'nonce=""'));
    assert.deepEqual(withoutNonce(unknown.reply), withoutNonce(wrong.reply));
    assert.deepEqual(await registrations(server, '7199'), []);
    assert.deepEqual(await registrations(server, '7103'), []);
  });

  it('removes every binding on unregister (Contact: *, Expires: 0)', async () => {
    await server.createExtension('7104', password('7104'));
    const first = await sippRegister('7104');
    assert.equal(first.code, 0, explain(first));
    const second = await sippRegister('7104');
    assert.equal(second.code, 0, explain(second));
    assert.equal((await registrations(server, '7104')).length, 2, 'two phones on two ports');

    const gone = await sippRegister('7104', password('7104'), 'unregister');
    assert.equal(gone.code, 0, explain(gone));
    assert.deepEqual(await registrations(server, '7104'), []);
  });

  it('answers an Expires below the minimum with 423 and Min-Expires (raw UDP)', async () => {
    await server.createExtension('7105', password('7105'));
    const uri = `sip:${HOST}:${server.sipPort}`;
    const nonce = await fetchMd5Nonce(server.sipPort, '7105');
    const reply = await udpRequest(server.sipPort, (p) =>
      registerMessage(p, { user: '7105', serverPort: server.sipPort, expires: 30, authorization: md5Authorization('7105', password('7105'), nonce, uri) }));
    assert.equal(reply.status, 423, reply.text);
    assert.equal(reply.get('Min-Expires'), '60', reply.text);
    assert.deepEqual(await registrations(server, '7105'), []);

    // the same credentials with an acceptable Expires do register (so the 423 was about the interval)
    const nonce2 = await fetchMd5Nonce(server.sipPort, '7105');
    const ok = await udpRequest(server.sipPort, (p) =>
      registerMessage(p, { user: '7105', serverPort: server.sipPort, expires: 60, authorization: md5Authorization('7105', password('7105'), nonce2, uri) }));
    assert.equal(ok.status, 200, ok.text);
    assert.match(ok.get('Contact') ?? '', /expires=60/);
    assert.equal((await registrations(server, '7105')).length, 1);
  });

  it('shortens an Expires above the maximum to 7200 s and lists bindings for a REGISTER without Contact (raw UDP)', async () => {
    await server.createExtension('7108', password('7108'));
    const uri = `sip:${HOST}:${server.sipPort}`;
    const auth = async () => md5Authorization('7108', password('7108'), await fetchMd5Nonce(server.sipPort, '7108'), uri);
    const authorization = await auth();
    const reply = await udpRequest(server.sipPort, (p) =>
      registerMessage(p, { user: '7108', serverPort: server.sipPort, expires: 100_000, authorization }));
    assert.equal(reply.status, 200, reply.text);
    assert.match(reply.get('Contact') ?? '', /;expires=7200\b/, reply.text);
    const [binding] = await registrations(server, '7108');
    assert.ok(binding && binding.expiresInSeconds <= 7200 && binding.expiresInSeconds > 7100, JSON.stringify(binding));

    // RFC 3261 §10.2.3: no Contact asks for the current bindings, changing nothing
    const queryAuthorization = await auth();
    const query = await udpRequest(server.sipPort, (p) =>
      registerMessage(p, { user: '7108', serverPort: server.sipPort, contact: false, authorization: queryAuthorization }));
    assert.equal(query.status, 200, query.text);
    const listed = query.all('Contact');
    assert.equal(listed.length, 1, query.text);
    assert.ok(listed[0]!.includes(binding.contact.replace(/^<|>.*$/g, '')), `${listed[0]} vs ${binding.contact}`);
    assert.equal((await registrations(server, '7108')).length, 1);
  });

  it('refuses with 403 a REGISTER whose credentials belong to another extension (raw UDP)', async () => {
    await server.createExtension('7109', password('7109'));
    await server.createExtension('7110', password('7110'));
    const uri = `sip:${HOST}:${server.sipPort}`;
    const nonce = await fetchMd5Nonce(server.sipPort, '7109');
    // To: 7109, but the (correct) credentials of 7110
    const reply = await udpRequest(server.sipPort, (p) =>
      registerMessage(p, { user: '7109', serverPort: server.sipPort, authorization: md5Authorization('7110', password('7110'), nonce, uri) }));
    assert.equal(reply.status, 403, reply.text);
    assert.deepEqual(await registrations(server, '7109'), []);
    assert.deepEqual(await registrations(server, '7110'), []);
  });

  for (const transport of ['UDP', 'TCP'] as const) {
    it(`answers OPTIONS with 200, Allow, Accept and Supported (raw ${transport})`, async () => {
      const send = transport === 'UDP' ? udpRequest : tcpRequest;
      const reply = await send(server.sipPort, (p) => optionsMessage(p, server.sipPort, transport));
      assert.equal(reply.status, 200, reply.text);
      const allow = reply.all('Allow').join(',').split(',').map((m) => m.trim());
      for (const method of ['INVITE', 'ACK', 'CANCEL', 'BYE', 'OPTIONS', 'REGISTER']) assert.ok(allow.includes(method), `Allow lacks ${method}: ${reply.text}`);
      assert.match(reply.all('Accept').join(','), /application\/sdp/, reply.text);
      assert.ok(reply.get('Supported') !== undefined, `no Supported header:\n${reply.text}`);
      assert.match(reply.get('Via') ?? '', new RegExp(`SIP/2\\.0/${transport} `), reply.text);
    });
  }

  it('drops the bindings of a deleted extension', async () => {
    const created = (await server.createExtension('7106', password('7106'))) as { id: number };
    assert.equal(typeof created.id, 'number', JSON.stringify(created));
    const result = await sippRegister('7106');
    assert.equal(result.code, 0, explain(result));
    assert.equal((await registrations(server, '7106')).length, 1);

    const deleted = await server.api('DELETE', `/api/v1/extensions/${created.id}`);
    assert.equal(deleted.status, 204, JSON.stringify(deleted.body));
    assert.deepEqual(await registrations(server, '7106'), []);
    // and the number no longer registers
    const again = await sippRegister('7106');
    assert.notEqual(again.code, 0, explain(again));
    assert.deepEqual(await registrations(server, '7106'), []);
  });

  it('challenges with two WWW-Authenticate headers, MD5 first, then SHA-256 (raw UDP)', async () => {
    await server.createExtension('7107', password('7107'));
    const reply = await udpRequest(server.sipPort, (p) => registerMessage(p, { user: '7107', serverPort: server.sipPort }));
    assert.equal(reply.status, 401, reply.text);
    const challenges = reply.all('WWW-Authenticate');
    assert.equal(challenges.length, 2, reply.text);
    assert.equal(challengeParams(challenges[0]!).algorithm?.toUpperCase(), 'MD5', reply.text);
    assert.equal(challengeParams(challenges[1]!).algorithm?.toUpperCase(), 'SHA-256', reply.text);
    for (const c of challenges.map(challengeParams)) {
      assert.equal(c.realm, REALM);
      assert.match(c.qop ?? '', /\bauth\b/);
      assert.ok(c.nonce);
    }
  });
});

describe('Switchboard registrar with its own data directory', { timeout: 60_000 }, () => {
  const dirs: string[] = [];
  const servers: Switchboard[] = [];

  after(async () => {
    await Promise.all(servers.map((s) => s.stop('SIGKILL').catch(() => 0)));
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  async function dataDir(ini?: string): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sb-registrar-'));
    dirs.push(dir);
    if (ini !== undefined) await writeFile(path.join(dir, 'mss_var_param.ini'), ini);
    return dir;
  }

  async function start(dir: string): Promise<Switchboard> {
    const server = await startSwitchboard({ dataDir: dir });
    servers.push(server);
    return server;
  }

  it('keeps the bindings across a restart on the same data directory', async () => {
    const dir = await dataDir();
    const first = await start(dir);
    await first.createExtension('7201', 'Pw-7201-Reg7');
    const result = await runSipp({
      scenario: sippScenario('register'),
      target: `${HOST}:${first.sipPort}`,
      injection: sippInjection([{ number: '7201', password: 'Pw-7201-Reg7' }]),
      keys: { expires: '600' },
      timeoutMs: 8_000,
    });
    assert.equal(result.code, 0, explain(result));
    const beforeRestart = await registrations(first, '7201');
    assert.equal(beforeRestart.length, 1);
    assert.equal(await first.stop(), 0, first.output());

    const second = await start(dir);
    const afterRestart = await registrations(second, '7201');
    assert.equal(afterRestart.length, 1, `bindings after restart: ${JSON.stringify(afterRestart)}\n${second.output()}`);
    assert.equal(afterRestart[0]!.contact, beforeRestart[0]!.contact);
    assert.deepEqual(afterRestart[0]!.source, beforeRestart[0]!.source);
    assert.ok(afterRestart[0]!.expiresInSeconds > 500, `expires ${afterRestart[0]!.expiresInSeconds}`);
  });

  it('offers only SHA-256 with digest_algorithms = SHA-256 (raw UDP)', async () => {
    const server = await start(await dataDir('[sip]\ndigest_algorithms = SHA-256\n'));
    await server.createExtension('7301', 'Pw-7301-Reg7');
    const reply = await udpRequest(server.sipPort, (p) => registerMessage(p, { user: '7301', serverPort: server.sipPort }));
    assert.equal(reply.status, 401, reply.text);
    const challenges = reply.all('WWW-Authenticate');
    assert.equal(challenges.length, 1, reply.text);
    assert.equal(challengeParams(challenges[0]!).algorithm?.toUpperCase(), 'SHA-256', reply.text);
  });
});
