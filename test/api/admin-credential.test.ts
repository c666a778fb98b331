import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ADMIN_PASSWORD_SETTING, ensureAdminCredential, verifyAdminPassword } from '../../src/api/admin-credential.js';
import type { SettingsRepository } from '../../src/store/types.js';

function memorySettings(): SettingsRepository & { values: Map<string, string> } {
  const values = new Map<string, string>();
  return { values, get: (key) => values.get(key), set: (key, value) => void values.set(key, value) };
}

test('without an environment password a strong password is generated once and only its hash is stored', async () => {
  const settings = memorySettings();
  const { generatedPassword } = ensureAdminCredential(settings, undefined);
  assert.ok(generatedPassword && generatedPassword.length >= 20);
  const stored = [...settings.values.values()].join('\n');
  assert.ok(!stored.includes(generatedPassword), 'the password itself is not stored');
  assert.match(stored, /^scrypt\$\d+\$\d+\$\d+\$/);
  assert.equal(await verifyAdminPassword(settings, generatedPassword), true);
  assert.equal(await verifyAdminPassword(settings, `${generatedPassword}x`), false);
  assert.deepEqual(ensureAdminCredential(settings, undefined), {}, 'no second password once one is stored');
  assert.equal(await verifyAdminPassword(settings, generatedPassword), true);
});

test('an environment password replaces the stored hash', async () => {
  const settings = memorySettings();
  ensureAdminCredential(settings, undefined);
  assert.deepEqual(ensureAdminCredential(settings, 'from-the-environment'), {});
  assert.equal(await verifyAdminPassword(settings, 'from-the-environment'), true);
  assert.deepEqual(ensureAdminCredential(settings, 'changed-later'), {});
  assert.equal(await verifyAdminPassword(settings, 'from-the-environment'), false);
  assert.equal(await verifyAdminPassword(settings, 'changed-later'), true);
});

test('the same password hashes differently each time (random salt)', async () => {
  const first = memorySettings();
  const second = memorySettings();
  ensureAdminCredential(first, 'same password');
  ensureAdminCredential(second, 'same password');
  assert.notEqual([...first.values.values()][0], [...second.values.values()][0]);
});

test('nothing stored or a malformed hash never verifies', async () => {
  const settings = memorySettings();
  assert.equal(await verifyAdminPassword(settings, ''), false);
  settings.set(ADMIN_PASSWORD_SETTING, 'plain-text');
  assert.equal(await verifyAdminPassword(settings, 'plain-text'), false);
});
