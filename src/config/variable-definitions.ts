// The catalogue of system variables read from mss_var_param.ini. The template, the loader and
// docs/variables.md are all driven by (or tested against) this one list.

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
export type DigestAlgorithmName = 'MD5' | 'SHA-256';
/** tls: TLS from the first byte (port 465); starttls: plain connection upgraded, refused without it */
export type SmtpSecurity = 'starttls' | 'tls' | 'none';

export interface Variables {
  sip: {
    t1_ms: number;
    t2_ms: number;
    t4_ms: number;
    register_min_expires: number;
    register_default_expires: number;
    register_max_expires: number;
    /** seconds */
    no_answer_timeout: number;
    /** challenge headers offered, in this order */
    digest_algorithms: DigestAlgorithmName[];
    /** seconds */
    nonce_lifetime: number;
    max_message_bytes: number;
    user_agent: string;
  };
  log: {
    level: LogLevel;
    /** when true every SIP message in and out is written to <data-dir>/log/sip-trace.log */
    sip_trace: boolean;
  };
  cdr: { csv: boolean };
  stun: { port: number };
  media: {
    /** "first-last", even first port; each relayed stream uses 4 ports (RTP and RTCP per leg) */
    rtp_ports: string;
    /** seconds without RTP/RTCP from either party before an answered call is ended; 0 never */
    timeout: number;
    /** address written into SDP instead of the local one, when the server sits behind NAT */
    public_address: string;
    /** milliseconds a latched media source must be silent before another source of the party takes over */
    relatch_quiet_ms: number;
    /** what relays the packets: auto (native when built, else node), native or node */
    relay_engine: string;
    /** run the native relay thread at real-time priority (SCHED_RR), when the process may */
    relay_realtime: boolean;
    /** country whose ringback, busy, congestion and beep tones the server plays */
    tone_country: string;
    /** language of the voice prompts services play */
    language: string;
  };
  features: {
    /** number that reaches the echo test; empty disables it */
    echo_test: string;
  };
  domain: {
    /** "" means: use the server's bind address / hostname */
    default_name: string;
  };
  smtp: {
    /** "" turns email off: mail stays queued until a host is set */
    host: string;
    port: number;
    security: SmtpSecurity;
    verify_certificate: boolean;
    /** "" sends without AUTH */
    user: string;
    /** never logged */
    password: string;
    from: string;
    timeout_seconds: number;
  };
  services: {
    /** heap limit of one service's Lua state */
    memory_limit_mb: number;
    /** longest a script may run between two host calls */
    event_budget_ms: number;
    /** longest a service's worker may be unresponsive before it is restarted */
    watchdog_ms: number;
    /** calls to extensions run the extension service (forwarding, do not disturb, voicemail) */
    extension_service: boolean;
  };
}

export type SectionName = keyof Variables;

interface DefinitionBase {
  section: SectionName;
  name: string;
  description: string;
  unit?: string;
}

export interface IntegerDefinition extends DefinitionBase {
  type: 'integer';
  default: number;
  min: number;
  max: number;
}

export interface BooleanDefinition extends DefinitionBase {
  type: 'boolean';
  default: boolean;
}

export interface StringDefinition extends DefinitionBase {
  type: 'string';
  default: string;
  /** when present the value must match; `patternHint` says what is expected in words */
  pattern?: RegExp;
  patternHint?: string;
}

export interface EnumDefinition extends DefinitionBase {
  type: 'enum';
  default: string;
  values: readonly string[];
}

/** Comma-separated, each item one of `values`, no repeats, at least one item; order is kept. */
export interface ListDefinition extends DefinitionBase {
  type: 'list';
  default: readonly string[];
  values: readonly string[];
}

export type VariableDefinition =
  | IntegerDefinition
  | BooleanDefinition
  | StringDefinition
  | EnumDefinition
  | ListDefinition;

export type VariableValue = number | boolean | string | string[];

/** Pairs that must satisfy lower <= upper; on violation both revert to their defaults. */
export const ORDERED_PAIRS: readonly { section: SectionName; lower: string; upper: string }[] = [
  { section: 'sip', lower: 't1_ms', upper: 't2_ms' },
  { section: 'sip', lower: 'register_min_expires', upper: 'register_default_expires' },
  { section: 'sip', lower: 'register_default_expires', upper: 'register_max_expires' },
  // a watchdog shorter than a script's budget would restart a worker that is within its rights
  { section: 'services', lower: 'event_budget_ms', upper: 'watchdog_ms' },
];

export const VARIABLE_DEFINITIONS: readonly VariableDefinition[] = [
  {
    section: 'sip', name: 't1_ms', type: 'integer', default: 500, min: 50, max: 10000, unit: 'milliseconds',
    description: 'SIP timer T1, the round-trip time estimate that drives retransmissions',
  },
  {
    section: 'sip', name: 't2_ms', type: 'integer', default: 4000, min: 50, max: 60000, unit: 'milliseconds',
    description: 'SIP timer T2, the longest retransmission interval for non-INVITE requests and INVITE responses; must be >= t1_ms',
  },
  {
    section: 'sip', name: 't4_ms', type: 'integer', default: 5000, min: 500, max: 60000, unit: 'milliseconds',
    description: 'SIP timer T4, how long a message may stay in the network',
  },
  {
    section: 'sip', name: 'register_min_expires', type: 'integer', default: 60, min: 1, max: 86400, unit: 'seconds',
    description: 'shortest registration accepted; shorter requests get 423 Interval Too Brief',
  },
  {
    section: 'sip', name: 'register_default_expires', type: 'integer', default: 3600, min: 1, max: 86400, unit: 'seconds',
    description: 'registration lifetime when the REGISTER asks for none; between the min and max',
  },
  {
    section: 'sip', name: 'register_max_expires', type: 'integer', default: 7200, min: 1, max: 604800, unit: 'seconds',
    description: 'longest registration granted; longer requests are shortened to this',
  },
  {
    section: 'sip', name: 'no_answer_timeout', type: 'integer', default: 60, min: 5, max: 3600, unit: 'seconds',
    description: 'how long a call may ring before it is given up as not answered',
  },
  {
    section: 'sip', name: 'digest_algorithms', type: 'list', default: ['MD5', 'SHA-256'], values: ['MD5', 'SHA-256'],
    description: 'digest challenges offered, in this order; "SHA-256" alone offers only SHA-256',
  },
  {
    section: 'sip', name: 'nonce_lifetime', type: 'integer', default: 300, min: 10, max: 86400, unit: 'seconds',
    description: 'how long a digest nonce stays valid before the client is asked again (stale=true)',
  },
  {
    section: 'sip', name: 'max_message_bytes', type: 'integer', default: 65536, min: 4096, max: 1048576, unit: 'bytes',
    description: 'largest SIP message accepted; bigger UDP datagrams are dropped, TCP/TLS connections announcing a bigger body are closed',
  },
  {
    section: 'sip', name: 'user_agent', type: 'string', default: 'Switchboard',
    pattern: /^[\x20-\x7e]*$/, patternHint: 'printable ASCII characters only',
    description: 'value of the User-Agent and Server headers Switchboard sends',
  },
  {
    section: 'log', name: 'level', type: 'enum', default: 'info', values: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'],
    description: 'least severe log message written',
  },
  {
    section: 'log', name: 'sip_trace', type: 'boolean', default: false,
    description: 'when true every SIP message in and out is written to <data-dir>/log/sip-trace.log',
  },
  {
    section: 'cdr', name: 'csv', type: 'boolean', default: true,
    description: 'when true every finished call is also appended to <data-dir>/cdr/cdr-YYYY-MM-DD.csv',
  },
  {
    section: 'stun', name: 'port', type: 'integer', default: 3478, min: 0, max: 65535, unit: 'port',
    description: 'UDP port of the built-in STUN server, 0 disables it; --stun-port or SWITCHBOARD_STUN_PORT take precedence',
  },
  {
    section: 'media', name: 'rtp_ports', type: 'string', default: '20000-29999',
    pattern: /^\d{4,5}-\d{4,5}$/, patternHint: 'two port numbers like 20000-29999',
    description: 'UDP ports the media relay uses, first-last (4 per relayed call: RTP and RTCP for each leg); --rtp-ports or SWITCHBOARD_RTP_PORTS take precedence',
  },
  {
    section: 'media', name: 'timeout', type: 'integer', default: 60, min: 0, max: 86400, unit: 'seconds',
    description: 'an answered call with no RTP or RTCP from either party for this long is ended with BYE on both legs (not while on hold); 0 never',
  },
  {
    section: 'media', name: 'public_address', type: 'string', default: '',
    pattern: /^(|[0-9.]+|[0-9A-Fa-f:]+)$/, patternHint: 'an IPv4 or IPv6 address',
    description: 'address written into the SDP the server sends, for a server behind NAT; empty means the local address that reaches each party',
  },
  {
    section: 'media', name: 'relatch_quiet_ms', type: 'integer', default: 2000, min: 0, max: 60000, unit: 'milliseconds',
    description: 'how long a latched media source must be silent before a new source (new SSRC or port) from the same party address replaces it',
  },
  {
    section: 'media', name: 'relay_engine', type: 'enum', default: 'auto', values: ['auto', 'native', 'node'],
    description: 'what relays RTP: native (the C relay thread, Linux), node (Node sockets), or auto (native when it was built, else node with a warning); --relay-engine or SWITCHBOARD_RELAY_ENGINE take precedence',
  },
  {
    section: 'media', name: 'relay_realtime', type: 'boolean', default: false,
    description: 'run the native relay thread at real-time priority (SCHED_RR 1), so packets never wait for a busy CPU; needs root or CAP_SYS_NICE, else a warning at start and normal priority; --relay-realtime or SWITCHBOARD_RELAY_REALTIME take precedence',
  },
  {
    section: 'media', name: 'tone_country', type: 'enum', default: 'us', values: ['us', 'uk', 'de', 'fr', 'it', 'es', 'nl', 'au', 'jp', 'cn', 'in', 'br'],
    description: 'country whose call-progress tones (ringback, busy, congestion) and beep the server plays',
  },
  {
    section: 'media', name: 'language', type: 'enum', default: 'en', values: ['en', 'zh'],
    description: 'language of the voice prompts; a prompt missing in it is played in English',
  },
  {
    section: 'features', name: 'echo_test', type: 'string', default: '*43',
    pattern: /^[0-9*#]{0,16}$/, patternHint: 'digits, * and # (up to 16), or empty',
    description: 'number that reaches the echo test (a beep, then you hear yourself); empty disables it',
  },
  {
    section: 'domain', name: 'default_name', type: 'string', default: '',
    pattern: /^(|[A-Za-z0-9.-]+|\[?[0-9A-Fa-f:.]+\]?)$/, patternHint: 'a host name or IP address',
    description: 'name and digest realm of the default domain; empty means the server bind address or host name',
  },
  {
    section: 'smtp', name: 'host', type: 'string', default: '',
    pattern: /^(|[A-Za-z0-9.-]+|[0-9A-Fa-f:.]+)$/, patternHint: 'a host name or IP address',
    description: 'SMTP server that sends voicemail email; empty turns email off (mail stays queued)',
  },
  {
    section: 'smtp', name: 'port', type: 'integer', default: 587, min: 1, max: 65535, unit: 'port',
    description: 'port of the SMTP server: usually 587 with starttls, 465 with tls, 25 with none',
  },
  {
    section: 'smtp', name: 'security', type: 'enum', default: 'starttls', values: ['starttls', 'tls', 'none'],
    description: 'starttls: upgrade the connection, refuse to send without it; tls: TLS from the start; none: no encryption',
  },
  {
    section: 'smtp', name: 'verify_certificate', type: 'boolean', default: true,
    description: 'refuse an SMTP server whose certificate is not valid for its host name; false accepts any certificate',
  },
  {
    section: 'smtp', name: 'user', type: 'string', default: '',
    description: 'user name for SMTP AUTH; empty sends without logging in',
  },
  {
    section: 'smtp', name: 'password', type: 'string', default: '',
    description: 'password for SMTP AUTH; never written to the log',
  },
  {
    section: 'smtp', name: 'from', type: 'string', default: 'Switchboard <voicemail@localhost>',
    pattern: /@/, patternHint: 'an email address, optionally with a name: Name <user@example.com>',
    description: 'sender of the mail Switchboard sends',
  },
  {
    section: 'smtp', name: 'timeout_seconds', type: 'integer', default: 30, min: 1, max: 600, unit: 'seconds',
    description: 'how long to wait for the SMTP server to connect, greet or answer before the attempt fails and is retried later',
  },
  {
    section: 'services', name: 'memory_limit_mb', type: 'integer', default: 32, min: 4, max: 1024, unit: 'megabytes',
    description: 'most memory the Lua state of one service may use',
  },
  {
    section: 'services', name: 'event_budget_ms', type: 'integer', default: 200, min: 10, max: 10000, unit: 'milliseconds',
    description: 'how long one step of a service script may run between host calls; must be <= watchdog_ms',
  },
  {
    section: 'services', name: 'watchdog_ms', type: 'integer', default: 1000, min: 100, max: 60000, unit: 'milliseconds',
    description: 'how long a service worker may be unresponsive before it is restarted',
  },
  {
    section: 'services', name: 'extension_service', type: 'boolean', default: true,
    description: 'calls to extensions run the extension service (lua/services/extension.lua: forwarding, do not disturb, voicemail); false: they ring the phones directly, without those features',
  },
];

export const SECTION_NAMES: readonly SectionName[] = ['sip', 'log', 'cdr', 'stun', 'media', 'features', 'domain', 'smtp', 'services'];

export function findDefinition(section: string, name: string): VariableDefinition | undefined {
  return VARIABLE_DEFINITIONS.find((d) => d.section === section && d.name === name);
}
