import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { ServiceCatalog } from '../../src/services/engine/service-catalog.js';

interface Dirs {
  root: string;
  builtin: string;
  override: string;
}

function tempDirs(): Dirs {
  const root = mkdtempSync(join(tmpdir(), 'service-catalog-'));
  const builtin = join(root, 'lua', 'services');
  mkdirSync(builtin, { recursive: true });
  return { root, builtin, override: join(root, 'data', 'lua', 'services') };
}

function catalogFor(dirs: Dirs, debounceMs?: number) {
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line).msg) });
  return { catalog: new ServiceCatalog({ builtinDir: dirs.builtin, overrideDir: dirs.override, logger, debounceMs }), warnings };
}

const sha12 = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12);
const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `ok()` holds, or fails after `ms`. */
async function until(ok: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await tick(10);
  }
}

test('built-ins are listed by name with their file, chunk name, source and version', (t) => {
  const dirs = tempDirs();
  t.after(() => rmSync(dirs.root, { recursive: true, force: true }));
  writeFileSync(join(dirs.builtin, 'voicemail.lua'), 'return function() end\n');
  writeFileSync(join(dirs.builtin, 'ivr-main.lua'), 'return 1\n');
  const { catalog } = catalogFor(dirs);

  assert.deepEqual(catalog.list().map((s) => s.name), ['ivr-main', 'voicemail']);
  assert.deepEqual(catalog.get('voicemail'), {
    name: 'voicemail',
    origin: 'builtin',
    file: join(dirs.builtin, 'voicemail.lua'),
    chunkName: 'lua/services/voicemail.lua',
    source: 'return function() end\n',
    version: sha12('return function() end\n'),
  });
});

test('a data-dir file overrides the built-in of the same name and a new name adds a service', (t) => {
  const dirs = tempDirs();
  t.after(() => rmSync(dirs.root, { recursive: true, force: true }));
  mkdirSync(dirs.override, { recursive: true });
  writeFileSync(join(dirs.builtin, 'voicemail.lua'), 'builtin');
  writeFileSync(join(dirs.builtin, 'echo.lua'), 'echo');
  writeFileSync(join(dirs.override, 'voicemail.lua'), 'mine');
  writeFileSync(join(dirs.override, 'night_mode.lua'), 'night');
  const { catalog } = catalogFor(dirs);

  const byName = new Map(catalog.list().map((s) => [s.name, s]));
  assert.deepEqual([...byName.keys()], ['echo', 'night_mode', 'voicemail']);
  const voicemail = byName.get('voicemail');
  assert.equal(voicemail?.origin, 'data-dir');
  assert.equal(voicemail?.source, 'mine');
  assert.equal(voicemail?.file, join(dirs.override, 'voicemail.lua'));
  assert.equal(voicemail?.chunkName, '<data-dir>/lua/services/voicemail.lua');
  assert.equal(byName.get('echo')?.origin, 'builtin');
  assert.equal(byName.get('night_mode')?.origin, 'data-dir');
});

test('files that are not services are ignored, and a mis-named .lua file is reported', (t) => {
  const dirs = tempDirs();
  t.after(() => rmSync(dirs.root, { recursive: true, force: true }));
  writeFileSync(join(dirs.builtin, 'good.lua'), 'x');
  writeFileSync(join(dirs.builtin, 'Bad Name.lua'), 'x');
  writeFileSync(join(dirs.builtin, 'README.md'), 'x');
  writeFileSync(join(dirs.builtin, 'good.lua~'), 'x');
  mkdirSync(join(dirs.builtin, 'dir.lua'));
  const { catalog, warnings } = catalogFor(dirs);

  assert.deepEqual(catalog.list().map((s) => s.name), ['good']);
  assert.equal(catalog.get('Bad Name'), undefined);
  assert.equal(catalog.get('../good'), undefined);
  assert.equal(catalog.get('missing'), undefined);
  assert.equal(warnings.length, 1);
});

test('a missing override directory is no services; watch() creates it', (t) => {
  const dirs = tempDirs();
  t.after(() => rmSync(dirs.root, { recursive: true, force: true }));
  writeFileSync(join(dirs.builtin, 'a.lua'), 'a');
  const { catalog, warnings } = catalogFor(dirs);

  assert.deepEqual(catalog.list().map((s) => s.name), ['a']);
  const stop = catalog.watch(() => {});
  stop();
  assert.ok(existsSync(dirs.override));
  assert.deepEqual(warnings, []);
});

test('watch reports each effective change once: edit, add, override, override deleted, service deleted', async (t) => {
  const dirs = tempDirs();
  t.after(() => rmSync(dirs.root, { recursive: true, force: true }));
  writeFileSync(join(dirs.builtin, 'a.lua'), 'a1');
  const { catalog } = catalogFor(dirs, 50);
  const changes: string[] = [];
  const stop = catalog.watch((name) => changes.push(`${name}:${catalog.get(name)?.source ?? 'gone'}`));
  t.after(stop);

  const step = async (act: () => void, expected: string[]) => {
    changes.length = 0;
    act();
    await until(() => changes.length >= expected.length, 2000, expected.join(','));
    await tick(120);
    assert.deepEqual(changes, expected);
  };

  await step(() => writeFileSync(join(dirs.builtin, 'a.lua'), 'a2'), ['a:a2']);
  await step(() => writeFileSync(join(dirs.override, 'b.lua'), 'b1'), ['b:b1']);
  await step(() => writeFileSync(join(dirs.override, 'a.lua'), 'mine'), ['a:mine']);
  await step(() => rmSync(join(dirs.override, 'a.lua')), ['a:a2']);
  await step(() => rmSync(join(dirs.override, 'b.lua')), ['b:gone']);
});

test('an editor saving in several steps is one change; rewriting the same text is none', async (t) => {
  const dirs = tempDirs();
  t.after(() => rmSync(dirs.root, { recursive: true, force: true }));
  writeFileSync(join(dirs.builtin, 'a.lua'), 'old');
  const { catalog } = catalogFor(dirs, 100);
  const changes: string[] = [];
  const stop = catalog.watch((name) => changes.push(name));
  t.after(stop);

  // Like vim: write a temporary file, move the original away, rename the new one into place.
  const file = join(dirs.builtin, 'a.lua');
  writeFileSync(join(dirs.builtin, '4913'), '');
  rmSync(join(dirs.builtin, '4913'));
  writeFileSync(`${file}.tmp`, 'new');
  renameSync(file, `${file}~`);
  await tick(20);
  renameSync(`${file}.tmp`, file);
  rmSync(`${file}~`);
  await until(() => changes.length > 0, 2000, 'the change');
  await tick(200);
  assert.deepEqual(changes, ['a']);
  assert.equal(catalog.get('a')?.source, 'new');

  changes.length = 0;
  writeFileSync(file, 'new');
  await tick(300);
  assert.deepEqual(changes, []);
});

test('after stop, nothing is reported', async (t) => {
  const dirs = tempDirs();
  t.after(() => rmSync(dirs.root, { recursive: true, force: true }));
  const { catalog } = catalogFor(dirs, 20);
  const changes: string[] = [];
  const stop = catalog.watch((name) => changes.push(name));
  writeFileSync(join(dirs.builtin, 'a.lua'), 'a');
  stop();
  await tick(150);
  assert.deepEqual(changes, []);
});
