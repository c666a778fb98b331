import { Command, InvalidArgumentError, Option } from 'commander';
import { createLogger } from './log/logger.js';
import { startServer } from './server/server.js';
import { StunServer } from './stun/stun-server.js';
import { parsePortRange } from './media/relay/port-pool.js';
import { formatHostPort } from './transport/address.js';
import { VERSION } from './server/version.js';

/** A port option's parser; `zeroMeans` says what 0 does for that option, in the error text. */
function portParser(zeroMeans: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`"${value}" is not a port number (0-65535, 0 ${zeroMeans})`);
    return n;
  };
}

const port = portParser('disables');
// a server that runs alone cannot disable its only listener: 0 asks the kernel for a free port
const listenPort = portParser('takes any free port');

function rtpPortRange(value: string): string {
  try {
    parsePortRange(value);
  } catch (err) {
    throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
  }
  return value;
}

const ALL_INTERFACES = ['0.0.0.0', '::'];
const DEFAULT_STUN_PORT = 3478;

/** on/off for a flag that also comes from the environment, where "0" must not mean on */
function onOff(value: string): boolean {
  const v = value.trim().toLowerCase();
  if (['on', 'yes', 'true', '1'].includes(v)) return true;
  if (['off', 'no', 'false', '0'].includes(v)) return false;
  throw new InvalidArgumentError(`"${value}" is not on or off`);
}

function addressList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim().replace(/^\[|\]$/g, ''))
    .filter((s) => s.length > 0);
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('switchboard')
    .description('Switchboard: a SIP server (IP-PBX) for small businesses')
    .version(VERSION)
    .configureOutput({ outputError: (text, write) => write(`switchboard: ${text.replace(/^error: /, '')}`) });

  program
    .command('start')
    .description('start the server')
    .addOption(new Option('--data-dir <dir>', 'data directory (database, certificates, logs, CDR)').env('SWITCHBOARD_DATA_DIR').default('./data'))
    .addOption(new Option('--bind <addresses>', 'comma-separated addresses to listen on (default: all interfaces)').env('SWITCHBOARD_BIND').argParser(addressList))
    .addOption(new Option('--sip-port <port>', 'SIP port, UDP and TCP (0 disables)').env('SWITCHBOARD_SIP_PORT').argParser(port).default(5060))
    .addOption(new Option('--tls-port <port>', 'SIP over TLS port (0 disables)').env('SWITCHBOARD_TLS_PORT').argParser(port).default(5061))
    .addOption(new Option('--https-port <port>', 'web console and REST API port (0 disables)').env('SWITCHBOARD_HTTPS_PORT').argParser(port).default(8443))
    .addOption(new Option('--http-port <port>', 'plain HTTP port that redirects to HTTPS (0 disables)').env('SWITCHBOARD_HTTP_PORT').argParser(port).default(8080))
    .addOption(new Option('--stun-port <port>', 'STUN Binding server port, UDP (0 disables; default: [stun] port in mss_var_param.ini, 3478)').env('SWITCHBOARD_STUN_PORT').argParser(port))
    .addOption(new Option('--rtp-ports <first-last>', 'UDP port range of the media relay (default: [media] rtp_ports in mss_var_param.ini, 20000-29999)').env('SWITCHBOARD_RTP_PORTS').argParser(rtpPortRange))
    .addOption(new Option('--relay-engine <engine>', 'what relays RTP (default: [media] relay_engine in mss_var_param.ini, auto)').env('SWITCHBOARD_RELAY_ENGINE').choices(['auto', 'native', 'node']))
    .addOption(new Option('--relay-realtime [on|off]', 'run the native relay thread at real-time priority, needs root or CAP_SYS_NICE (default: [media] relay_realtime in mss_var_param.ini, off)').env('SWITCHBOARD_RELAY_REALTIME').preset('on').argParser(onOff))
    .action(async (o: { dataDir: string; bind?: string[]; sipPort: number; tlsPort: number; httpsPort: number; httpPort: number; stunPort?: number; rtpPorts?: string; relayEngine?: 'auto' | 'native' | 'node'; relayRealtime?: boolean }) => {
      const server = await startServer({
        dataDir: o.dataDir,
        bind: o.bind ?? [],
        sipPort: o.sipPort,
        tlsPort: o.tlsPort,
        httpsPort: o.httpsPort,
        httpPort: o.httpPort,
        stunPort: o.stunPort,
        rtpPorts: o.rtpPorts,
        relayEngine: o.relayEngine,
        relayRealtime: o.relayRealtime,
        adminPassword: process.env.SWITCHBOARD_ADMIN_PASSWORD || undefined,
      });
      process.stdout.write(`${server.banner.join('\n')}\n`);
      if (server.generatedAdminPassword) {
        process.stdout.write(
          `\nAdmin user "admin", generated password (shown only this once, stored as a hash):\n  ${server.generatedAdminPassword}\n` +
            'Set SWITCHBOARD_ADMIN_PASSWORD to choose your own.\n\n',
        );
      }
      const shutdown = (signal: string) => {
        server.logger.info({ signal }, 'shutting down');
        const force = setTimeout(() => process.exit(1), 5000);
        force.unref();
        server.stop().then(
          () => process.exit(0),
          (err: unknown) => {
            process.stderr.write(`switchboard: error during shutdown: ${err instanceof Error ? err.message : String(err)}\n`);
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      process.once('SIGINT', () => shutdown('SIGINT'));
    });

  program
    .command('stun')
    .description('run only the STUN server (RFC 8489 Binding), without SIP, database or API')
    .addOption(new Option('--bind <addresses>', 'comma-separated addresses to listen on (default: all interfaces)').env('SWITCHBOARD_BIND').argParser(addressList))
    .addOption(new Option('--port <port>', 'UDP port').env('SWITCHBOARD_STUN_PORT').argParser(listenPort).default(DEFAULT_STUN_PORT))
    .action(async (o: { bind?: string[]; port: number }) => {
      const logger = createLogger('info');
      const server = await StunServer.start({
        bind: o.bind && o.bind.length > 0 ? o.bind : ALL_INTERFACES,
        port: o.port,
        software: `Switchboard ${VERSION}`,
        onLog: (level, msg, fields) => logger[level](fields ?? {}, msg),
      });
      process.stdout.write(`Switchboard ${VERSION} STUN server on ${server.listeners().map((l) => `UDP ${formatHostPort(l.address, l.port)}`).join(', ')}\n`);
      const shutdown = (signal: string) => {
        logger.info({ signal }, 'shutting down');
        void server.close().then(() => process.exit(0));
      };
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      process.once('SIGINT', () => shutdown('SIGINT'));
    });

  await program.parseAsync(argv);
}
