import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  VARIABLE_DEFINITIONS,
  defaultVariables,
  loadVariables,
  parseVariables,
  renderTemplate,
  type Variables,
} from '../../src/config/variables.js';
import { formatVariableValue } from '../../src/config/variable-values.js';

const EXPECTED_DEFAULTS: Variables = {
  sip: {
    t1_ms: 500, t2_ms: 4000, t4_ms: 5000,
    register_min_expires: 60, register_default_expires: 3600, register_max_expires: 7200,
    no_answer_timeout: 60, digest_algorithms: ['MD5', 'SHA-256'], nonce_lifetime: 300,
    max_message_bytes: 65536, user_agent: 'Switchboard',
  },
  log: { level: 'info', sip_trace: false },
  cdr: { csv: true },
  stun: { port: 3478 },
  media: { rtp_ports: '20000-29999', timeout: 60, public_address: '', relatch_quiet_ms: 2000, relay_engine: 'auto', relay_realtime: false, tone_country: 'us', language: 'en' },
  features: { echo_test: '*43' },
  domain: { default_name: '' },
  smtp: {
    host: '', port: 587, security: 'starttls', verify_certificate: true,
    user: '', password: '', from: 'Switchboard <voicemail@localhost>', timeout_seconds: 30,
  },
  services: { memory_limit_mb: 32, event_budget_ms: 200, watchdog_ms: 1000, extension_service: true },
};

function parse(text: string) {
  return parseVariables(text, 'vars.ini');
}

describe('defaults', () => {
  test('match the documented Variables shape exactly', () => {
    assert.deepEqual(defaultVariables(), EXPECTED_DEFAULTS);
  });

  test('are fresh copies, so callers cannot corrupt them', () => {
    defaultVariables().sip.digest_algorithms.pop();
    assert.deepEqual(defaultVariables().sip.digest_algorithms, ['MD5', 'SHA-256']);
  });
});

describe('loadVariables', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-vars-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('writes the template when the file is missing and returns defaults', () => {
    const file = path.join(dir, 'nested', 'mss_var_param.ini');
    const loaded = loadVariables(file);
    assert.equal(loaded.createdTemplate, true);
    assert.deepEqual(loaded.warnings, []);
    assert.deepEqual(loaded.vars, EXPECTED_DEFAULTS);
    assert.equal(fs.readFileSync(file, 'utf8'), renderTemplate());
  });

  test('reads an existing file and does not overwrite it', () => {
    const file = path.join(dir, 'mss_var_param.ini');
    fs.writeFileSync(file, '[sip]\nt1_ms = 250\n');
    const loaded = loadVariables(file);
    assert.equal(loaded.createdTemplate, false);
    assert.equal(loaded.vars.sip.t1_ms, 250);
    assert.equal(fs.readFileSync(file, 'utf8'), '[sip]\nt1_ms = 250\n');
  });

  test('an unreadable path gives a one-line error naming the file', () => {
    assert.throws(() => loadVariables(dir), (err: Error) => {
      assert.match(err.message, new RegExp(`^cannot read ${escape(dir)}: `));
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
  });
});

describe('template', () => {
  test('loads back to the defaults without warnings', () => {
    const { vars, warnings } = parse(renderTemplate());
    assert.deepEqual(warnings, []);
    assert.deepEqual(vars, EXPECTED_DEFAULTS);
  });

  test('uncommenting every line also loads cleanly to the defaults', () => {
    const { vars, warnings } = parse(renderTemplate().replace(/^;(\w+ =)/gm, '$1'));
    assert.deepEqual(warnings, []);
    assert.deepEqual(vars, EXPECTED_DEFAULTS);
  });

  test('lists every variable with its default under its section', () => {
    const template = renderTemplate();
    for (const d of VARIABLE_DEFINITIONS) {
      const sectionAt = template.indexOf(`\n[${d.section}]\n`);
      const lineAt = template.indexOf(`\n;${d.name} = ${formatVariableValue(d.default)}`.trimEnd() + '\n', sectionAt);
      assert.ok(sectionAt >= 0 && lineAt > sectionAt, `${d.section}.${d.name} missing from template`);
      const nextSection = template.indexOf('\n[', sectionAt + 1);
      assert.ok(nextSection < 0 || lineAt < nextSection, `${d.section}.${d.name} is not under [${d.section}]`);
    }
  });
});

describe('docs/variables.md', () => {
  test('documents every variable with its type and default', () => {
    const docPath = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../docs/variables.md');
    const doc = fs.readFileSync(docPath, 'utf8');
    for (const d of VARIABLE_DEFINITIONS) {
      const shown = formatVariableValue(d.default);
      const row = `| \`${d.section}\` | \`${d.name}\` | ${d.type} | ${shown === '' ? '(empty)' : `\`${shown}\``} |`;
      assert.ok(doc.includes(row), `docs/variables.md lacks the row starting: ${row}`);
    }
  });
});

describe('parsing values', () => {
  test('integers, booleans, enums, lists and strings', () => {
    const { vars, warnings } = parse([
      '[SIP]',
      'T1_MS = 250',
      'digest_algorithms = sha-256',
      'user_agent = "Acme PBX ; v2"',
      '[log]',
      'level = DEBUG',
      'sip_trace = Yes',
      '[cdr]',
      'csv = off',
      '[domain]',
      'default_name = pbx.example.com ; the realm',
    ].join('\r\n'));
    assert.deepEqual(warnings, []);
    assert.equal(vars.sip.t1_ms, 250);
    assert.deepEqual(vars.sip.digest_algorithms, ['SHA-256']);
    assert.equal(vars.sip.user_agent, 'Acme PBX ; v2');
    assert.equal(vars.log.level, 'debug');
    assert.equal(vars.log.sip_trace, true);
    assert.equal(vars.cdr.csv, false);
    assert.equal(vars.domain.default_name, 'pbx.example.com');
  });

  test('every boolean spelling', () => {
    for (const [word, value] of [['true', true], ['on', true], ['1', true], ['yes', true], ['FALSE', false], ['no', false], ['Off', false], ['0', false]] as const) {
      const { vars, warnings } = parse(`[log]\nsip_trace = ${word}\n`);
      assert.deepEqual(warnings, []);
      assert.equal(vars.log.sip_trace, value, word);
    }
  });

  test('list order is kept', () => {
    assert.deepEqual(parse('[sip]\ndigest_algorithms = SHA-256, MD5').vars.sip.digest_algorithms, ['SHA-256', 'MD5']);
  });

  test('comments with ; and # and a BOM are ignored', () => {
    const { vars, warnings } = parse('\uFEFF; comment\n# another\n[sip]\n  ; indented\nt4_ms = 6000 # inline\n');
    assert.deepEqual(warnings, []);
    assert.equal(vars.sip.t4_ms, 6000);
  });

  test('smtp settings, with a password that needs quotes', () => {
    const { vars, warnings } = parse([
      '[smtp]',
      'host = mail.example.com',
      'port = 465',
      'security = TLS',
      'verify_certificate = no',
      'user = pbx@example.com',
      'password = "s3cret;#x"',
      'from = PBX <pbx@example.com>',
      'timeout_seconds = 10',
    ].join('\n'));
    assert.deepEqual(warnings, []);
    assert.deepEqual(vars.smtp, {
      host: 'mail.example.com', port: 465, security: 'tls', verify_certificate: false,
      user: 'pbx@example.com', password: 's3cret;#x', from: 'PBX <pbx@example.com>', timeout_seconds: 10,
    });
  });

  test('an smtp sender without an address is refused', () => {
    const { vars, warnings } = parse('[smtp]\nfrom = Switchboard\n');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /^vars\.ini:2: \[smtp\] from: "Switchboard" is not valid: expected an email address/);
    assert.equal(vars.smtp.from, 'Switchboard <voicemail@localhost>');
  });

  test('an empty string value is allowed', () => {
    const { vars, warnings } = parse('[domain]\ndefault_name =\n');
    assert.deepEqual(warnings, []);
    assert.equal(vars.domain.default_name, '');
  });
});

describe('warnings name the line and fall back to the default', () => {
  const cases: [string, string, RegExp][] = [
    ['out of range', '[sip]\n\nt1_ms = 20', /^vars\.ini:3: \[sip\] t1_ms: 20 is outside 50\.\.10000; using the default 500$/],
    ['not a number', '[sip]\nt1_ms = fast', /^vars\.ini:2: \[sip\] t1_ms: "fast" is not a whole number; using the default 500$/],
    ['not a boolean', '[log]\nsip_trace = maybe', /^vars\.ini:2: \[log\] sip_trace: "maybe" is not a boolean/],
    ['bad enum', '[log]\nlevel = loud', /^vars\.ini:2: \[log\] level: "loud" is not one of trace, debug/],
    ['bad list item', '[sip]\ndigest_algorithms = MD5,SHA-1', /^vars\.ini:2: \[sip\] digest_algorithms: "SHA-1" is not one of MD5, SHA-256/],
    ['repeated list item', '[sip]\ndigest_algorithms = MD5,md5', /^vars\.ini:2: .*"MD5" is listed twice/],
    ['empty list', '[sip]\ndigest_algorithms = ,', /^vars\.ini:2: .*the list is empty/],
    ['bad string', '[domain]\ndefault_name = not a host', /^vars\.ini:2: \[domain\] default_name: "not a host" is not valid: expected a host name or IP address; using the default \(empty\)$/],
    ['unknown name', '[sip]\nt1 = 500', /^vars\.ini:2: unknown variable "t1" in \[sip\]; line ignored$/],
    ['unknown section', '[video]\nrtp_start = 10000', /^vars\.ini:1: unknown section \[video\] \(known: sip, log, cdr, stun, media, features, domain, smtp, services\); its lines are ignored$/],
    ['outside a section', 't1_ms = 400', /^vars\.ini:1: "t1_ms" is outside any \[section\]; line ignored$/],
    ['unreadable line', '[sip]\njust words', /^vars\.ini:2: cannot read "just words": expected \[section\] or name = value; line ignored$/],
  ];
  for (const [label, text, expected] of cases) {
    test(label, () => {
      const { vars, warnings } = parse(text);
      assert.equal(warnings.length, 1, warnings.join('\n'));
      assert.match(warnings[0], expected);
      assert.deepEqual(vars, EXPECTED_DEFAULTS);
    });
  }

  test('a repeated variable warns and the last line wins', () => {
    const { vars, warnings } = parse('[sip]\nt1_ms = 300\nt1_ms = 400\n');
    assert.deepEqual(warnings, ['vars.ini:3: [sip] t1_ms was already set on line 2; this line wins']);
    assert.equal(vars.sip.t1_ms, 400);
  });

  test('a bad line does not disturb the good ones', () => {
    const { vars, warnings } = parse('[sip]\nt1_ms = oops\nt2_ms = 8000\n');
    assert.equal(warnings.length, 1);
    assert.equal(vars.sip.t1_ms, 500);
    assert.equal(vars.sip.t2_ms, 8000);
  });
});

describe('ordered pairs', () => {
  test('T2 below T1 reverts both to defaults with a warning on the later line', () => {
    const { vars, warnings } = parse('[sip]\nt1_ms = 1000\nt2_ms = 900\n');
    assert.deepEqual(warnings, ['vars.ini:3: [sip] t2_ms (900) must not be less than t1_ms (1000); using the defaults t1_ms = 500, t2_ms = 4000']);
    assert.equal(vars.sip.t1_ms, 500);
    assert.equal(vars.sip.t2_ms, 4000);
  });

  test('T1 above the default T2 is caught too', () => {
    const { vars, warnings } = parse('[sip]\nt1_ms = 5000\n');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /^vars\.ini:2: /);
    assert.equal(vars.sip.t1_ms, 500);
  });

  test('T2 equal to T1 is fine', () => {
    const { vars, warnings } = parse('[sip]\nt1_ms = 4000\n');
    assert.deepEqual(warnings, []);
    assert.equal(vars.sip.t1_ms, 4000);
  });

  test('expiry must be min <= default <= max', () => {
    const { vars, warnings } = parse('[sip]\nregister_min_expires = 120\nregister_default_expires = 100\n');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /^vars\.ini:3: \[sip\] register_default_expires \(100\) must not be less than register_min_expires \(120\)/);
    assert.equal(vars.sip.register_min_expires, 60);
    assert.equal(vars.sip.register_default_expires, 3600);
  });

  test('reverting one pair re-checks its neighbour', () => {
    // default 3600 restored by the first pair no longer fits under max 600
    const { vars, warnings } = parse('[sip]\nregister_min_expires = 120\nregister_default_expires = 100\nregister_max_expires = 600\n');
    assert.equal(warnings.length, 2, warnings.join('\n'));
    assert.match(warnings[1], /^vars\.ini:4: \[sip\] register_max_expires \(600\) must not be less than register_default_expires \(3600\)/);
    assert.deepEqual([vars.sip.register_min_expires, vars.sip.register_default_expires, vars.sip.register_max_expires], [60, 3600, 7200]);
  });

  test('a script budget above the service watchdog reverts both', () => {
    const { vars, warnings } = parse('[services]\nevent_budget_ms = 2000\nwatchdog_ms = 1500\n');
    assert.deepEqual(warnings, ['vars.ini:3: [services] watchdog_ms (1500) must not be less than event_budget_ms (2000); using the defaults event_budget_ms = 200, watchdog_ms = 1000']);
    assert.deepEqual(vars.services, EXPECTED_DEFAULTS.services);
  });

  test('a valid expiry chain is kept', () => {
    const { vars, warnings } = parse('[sip]\nregister_min_expires = 30\nregister_default_expires = 300\nregister_max_expires = 600\n');
    assert.deepEqual(warnings, []);
    assert.deepEqual([vars.sip.register_min_expires, vars.sip.register_default_expires, vars.sip.register_max_expires], [30, 300, 600]);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
