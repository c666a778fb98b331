// The TLS identity shared by SIP over TLS and the HTTPS API. A fresh install gets a self-signed
// certificate so TLS works out of the box; an admin replaces the two PEM files to use a real one.
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { describeError } from './address.js';

const VALIDITY_YEARS = 10;
const ALWAYS_VALID_FOR = ['localhost', '127.0.0.1', '::1'];

export interface TlsIdentity {
  key: string;
  cert: string;
  /** true when this call generated and wrote the files */
  created: boolean;
}

export async function ensureCertificate(dir: string, hostnames: string[]): Promise<TlsIdentity> {
  const tlsDir = join(dir, 'tls');
  const keyPath = join(tlsDir, 'key.pem');
  const certPath = join(tlsDir, 'cert.pem');
  const key = await readIfPresent(keyPath);
  const cert = await readIfPresent(certPath);
  if (key !== undefined && cert !== undefined) return { key, cert, created: false };

  const names = [...new Set([...hostnames, ...ALWAYS_VALID_FOR].filter((n) => n.length > 0))];
  const notBeforeDate = new Date();
  const notAfterDate = new Date(notBeforeDate);
  notAfterDate.setFullYear(notAfterDate.getFullYear() + VALIDITY_YEARS);
  const pems = await generate([{ name: 'commonName', value: names[0] }], {
    keyType: 'rsa',
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      {
        name: 'subjectAltName',
        altNames: names.map((n) => (isIP(n) !== 0 ? { type: 7 as const, ip: n } : { type: 2 as const, value: n })),
      },
    ],
  });

  try {
    await mkdir(tlsDir, { recursive: true, mode: 0o700 });
    await writeFile(keyPath, pems.private, { mode: 0o600 });
    // writeFile keeps the mode of a file that already existed.
    await chmod(keyPath, 0o600);
    await writeFile(certPath, pems.cert, { mode: 0o644 });
  } catch (err) {
    throw new Error(`cannot write TLS certificate to ${tlsDir}: ${describeError(err)}`);
  }
  return { key: pems.private, cert: pems.cert, created: true };
}

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${path}: ${describeError(err)}`);
  }
}
