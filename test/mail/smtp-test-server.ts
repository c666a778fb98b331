// A real SMTP server (the smtp-server package) on 127.0.0.1 for the mail tests: AUTH checked
// against one user, STARTTLS or implicit TLS with a self-signed certificate, or no TLS at all.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { ensureCertificate, type TlsIdentity } from '../../src/transport/certificate.js';

export type TestServerSecurity = 'starttls' | 'tls' | 'none';

export interface ReceivedMail {
  from: string;
  recipients: string[];
  /** the user that logged in */
  user: string | undefined;
  /** whether the connection was encrypted when the mail came */
  secure: boolean;
  raw: Buffer;
}

export interface TestServerOptions {
  port: number;
  security: TestServerSecurity;
  user: string;
  password: string;
  identity: TlsIdentity;
}

export class SmtpTestServer {
  readonly received: ReceivedMail[] = [];
  /** when set, every mail is refused with this reply (e.g. 554) once its data arrived */
  rejectWith: number | undefined;
  private readonly server: SMTPServer;

  private constructor(options: TestServerOptions) {
    const settings: SMTPServerOptions = {
      secure: options.security === 'tls',
      key: options.identity.key,
      cert: options.identity.cert,
      authMethods: ['PLAIN', 'LOGIN'],
      allowInsecureAuth: options.security === 'none',
      disabledCommands: options.security === 'none' ? ['STARTTLS'] : [],
      logger: false,
      onAuth: (auth, _session, callback) => {
        if (auth.username === options.user && auth.password === options.password) callback(null, { user: auth.username });
        else callback(new Error('Invalid username or password'));
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          if (this.rejectWith !== undefined) {
            callback(Object.assign(new Error('Message refused by the test'), { responseCode: this.rejectWith }));
            return;
          }
          this.received.push({
            from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
            recipients: session.envelope.rcptTo.map((r) => r.address),
            user: session.user as string | undefined,
            secure: session.secure,
            raw: Buffer.concat(chunks),
          });
          callback();
        });
      },
    };
    this.server = new SMTPServer(settings);
  }

  static async start(options: TestServerOptions): Promise<SmtpTestServer> {
    const self = new SmtpTestServer(options);
    await new Promise<void>((resolve, reject) => {
      self.server.once('error', reject);
      self.server.listen(options.port, '127.0.0.1', () => {
        self.server.off('error', reject);
        resolve();
      });
    });
    return self;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A self-signed certificate for localhost, made by the server's own helper, in a temp directory. */
export async function testIdentity(): Promise<TlsIdentity> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-smtp-tls-'));
  try {
    return await ensureCertificate(dir, ['localhost', '127.0.0.1']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
