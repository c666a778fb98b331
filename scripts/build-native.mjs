// Builds the native RTP relay (native/rtp-relay) with node-gyp. It is optional: when it cannot be
// built the server relays media with Node sockets, so a failure is one warning and exit code 0.
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const addonDir = join(root, 'native', 'rtp-relay');
const logFile = join(addonDir, 'build.log');

function warn(reason) {
  process.stderr.write(`warning: native RTP relay not built (${reason}); Switchboard will relay media with Node sockets\n`);
  process.exit(0);
}

/** The project's own node-gyp if it has one, else the one npm bundles. */
function findNodeGyp() {
  const candidates = [join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')];
  if (process.env.npm_execpath) candidates.push(join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  // run outside npm: the npm installed beside this node
  const prefix = resolve(dirname(process.execPath), '..');
  candidates.push(join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(join(dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((file) => existsSync(file));
}

/** Headers installed with this node, so node-gyp need not download them. */
function localNodeDir() {
  const prefix = resolve(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) && existsSync(join(prefix, 'include', 'node', 'common.gypi')) ? prefix : undefined;
}

if (process.platform !== 'linux') warn(`it needs Linux (epoll, recvmmsg, sendmmsg), this is ${process.platform}`);
const nodeGyp = findNodeGyp();
if (!nodeGyp) warn('node-gyp not found: neither a devDependency nor bundled with npm');
const nodeDir = localNodeDir();
const args = [nodeGyp, 'rebuild', '--directory', addonDir, ...(nodeDir ? [`--nodedir=${nodeDir}`] : [])];
const result = spawnSync(process.execPath, args, { cwd: addonDir, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
writeFileSync(logFile, `${result.stdout ?? ''}${result.stderr ?? ''}`);
if (result.error) warn(`${result.error.message}; see ${logFile}`);
if (result.status !== 0) warn(`node-gyp exited with ${result.status ?? result.signal}; see ${logFile}`);
process.stdout.write(`native RTP relay built: ${join(addonDir, 'build', 'Release', 'rtp_relay.node')}\n`);
