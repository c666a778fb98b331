// The data the call services read: what each kind holds, as the API validates and documents it.
import { Type, type TObject } from 'typebox';
import type { DataKind, DataKindContext } from './data-kind.js';
import { Count, Destination, DialNumber, ExtensionNumber, Flag, ItemName, Label, Pin, Seconds, SoundName } from './fields.js';

const GroupMembers = (meaning: string, minItems: number) =>
  Type.Array(ExtensionNumber(), { minItems, maxItems: 64, uniqueItems: true, description: `${meaning}: ${minItems}-64 extension numbers of the domain` });

function checkExtensionsExist(field: string) {
  return (body: Record<string, unknown>, { store, domain }: DataKindContext): string | undefined => {
    const missing = (body[field] as string[]).find((number) => !store.extensions.find(domain, number));
    return missing === undefined ? undefined : `${field}: no extension ${missing} in ${domain}`;
  };
}

const RingGroupFields = Type.Object({
  name: Label('what the group is, e.g. "Sales"'),
  members: GroupMembers('the extensions rung all at once', 1),
  ringSeconds: Seconds('how long the members ring before the fallback applies', 5, 300, 30),
  skipBusy: Flag('members already on a call are not rung', true),
  fallback: Destination('dialled when nobody answers in time; null: the caller hears busy'),
}, { additionalProperties: false });

export const ringGroups: DataKind<typeof RingGroupFields> = {
  kind: 'ring-groups',
  path: '/ring-groups',
  key: 'number',
  keySchema: DialNumber('the group\'s number'),
  noun: 'ring group',
  description: 'Extensions that ring at the same time; the first to answer takes the call.',
  scope: 'domain',
  fields: RingGroupFields,
  secrets: [],
  check: checkExtensionsExist('members'),
};

const QueueFields = Type.Object({
  maxWaitSeconds: Seconds('how long a caller waits for a free member before the fallback applies; 0: no queue', 0, 3600, 300),
  maxCallers: Count('callers waiting at once; the next caller goes to the fallback', 1, 200, 10),
  announcePosition: Flag('waiting callers hear their position in the queue', true),
  announceEverySeconds: Seconds('how often the position is announced again', 15, 600, 60),
  music: Type.Optional(Type.Union([SoundName('played while waiting'), Type.Null()], {
    default: null,
    description: 'what waiting callers hear; null: the default music on hold',
  })),
}, { additionalProperties: false, default: {}, description: 'callers wait here while every member is busy or being tried' });

const HuntGroupFields = Type.Object({
  name: Label('what the group is, e.g. "Support"'),
  members: GroupMembers('the extensions tried one at a time, in this order', 1),
  strategy: Type.Optional(Type.Enum(['linear', 'circular'], {
    default: 'linear',
    description: 'linear: every call starts with the first member; circular: each call starts after the member who took the previous one (default linear)',
  })),
  memberRingSeconds: Seconds('how long each member rings before the next one is tried', 5, 120, 15),
  queue: Type.Optional(QueueFields),
  fallback: Destination('dialled when the queue is full or the wait is over; null: the caller hears busy'),
}, { additionalProperties: false });

export const huntGroups: DataKind<typeof HuntGroupFields> = {
  kind: 'hunt-groups',
  path: '/hunt-groups',
  key: 'number',
  keySchema: DialNumber('the group\'s number'),
  noun: 'hunt group',
  description: 'Extensions tried one after the other, with a queue for callers while all of them are busy.',
  scope: 'domain',
  fields: HuntGroupFields,
  secrets: [],
  check: checkExtensionsExist('members'),
};

const MENU_KEYS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#'] as const;

const MenuOptions = Type.Object(
  Object.fromEntries(MENU_KEYS.map((key) => [key, Type.Optional(DialNumber(`dialled when the caller presses ${key}`))])),
  { additionalProperties: false, default: {}, description: 'what each key dials: "0"-"9", "*" and "#" to a number; keys not listed are invalid choices' },
);

const IvrMenuFields = Type.Object({
  prompt: Type.Optional(SoundName('played when the menu starts and after each retry', 'welcome-enter-extension')),
  options: Type.Optional(MenuOptions),
  dialByExtension: Flag('callers may key an extension number instead of choosing an option', true),
  digitTimeoutSeconds: Seconds('the pause after a digit that ends an extension number', 1, 10, 3),
  timeoutSeconds: Seconds('how long the menu waits for the first key after the prompt', 1, 60, 10),
  retries: Count('how often the prompt is repeated after no key or an invalid choice', 0, 10, 2),
  invalidPrompt: Type.Optional(SoundName('played after an invalid choice', 'invalid-entry')),
  timeoutDestination: Destination('dialled when the caller has keyed nothing after the last retry; null: the fallback applies'),
  fallback: Destination('dialled after the last invalid choice or when a destination fails; null: goodbye and hang up'),
}, { additionalProperties: false });

export const ivrMenus: DataKind<typeof IvrMenuFields> = {
  kind: 'ivr-menus',
  path: '/ivr-menus',
  key: 'name',
  keySchema: ItemName('the menu\'s name, given to the ivr service in its args'),
  noun: 'IVR menu',
  description: 'A voice menu: a prompt, then each key the caller presses leads to a number.',
  scope: 'domain',
  fields: IvrMenuFields,
  secrets: [],
};

const MailboxFields = Type.Object({
  pin: Pin('what the owner keys to listen to messages'),
  email: Type.Optional(Type.Union([Type.String({ format: 'email', maxLength: 254, description: 'an e-mail address' }), Type.Null()], {
    default: null,
    description: 'where each new message is sent; null: no e-mail',
  })),
  attachAudio: Flag('the e-mail carries the message as a WAV file', true),
  greeting: Type.Optional(Type.Enum(['default', 'recorded'], {
    default: 'default',
    description: 'default: the standard "not available" prompt; recorded: the greeting recorded by phone, once there is one (default: default)',
  })),
  maxMessages: Count('messages kept; when full, callers cannot leave one', 1, 1000, 100),
  maxMessageSeconds: Seconds('the longest message a caller may leave', 10, 600, 180),
  deleteAfterEmail: Flag('a message is removed from the mailbox once it has been e-mailed', false),
}, { additionalProperties: false });

export const mailboxes: DataKind<typeof MailboxFields> = {
  kind: 'mailboxes',
  path: '/mailboxes',
  key: 'number',
  keySchema: ExtensionNumber('usually the number of the extension it belongs to'),
  noun: 'mailbox',
  description: 'A voicemail box: its PIN, where new messages are e-mailed, and its limits.',
  scope: 'domain',
  fields: MailboxFields,
  secrets: ['pin'],
};

const ConferenceRoomFields = Type.Object({
  name: Label('what the room is for, e.g. "Weekly sales call"'),
  pin: Pin('what callers key to enter; unset: everyone who dials the room enters'),
  maxMembers: Count('callers in the room at once (a room mixes at most 50)', 2, 50, 20),
  announceJoinLeave: Flag('members hear a tone when someone joins or leaves', true),
}, { additionalProperties: false });

export const conferenceRooms: DataKind<typeof ConferenceRoomFields> = {
  kind: 'conference-rooms',
  path: '/conference-rooms',
  key: 'number',
  keySchema: DialNumber('the room number callers dial or key'),
  noun: 'conference room',
  description: 'A conference room: callers in the same room hear each other.',
  scope: 'domain',
  fields: ConferenceRoomFields,
  secrets: ['pin'],
};

const CallRestrictionFields = Type.Object({
  level: Type.Integer({
    minimum: 0,
    maximum: 9,
    description: 'the restriction level an extension needs to dial numbers that start with the prefix: 0-9 (the longest matching prefix decides)',
  }),
  description: Label('what the prefix covers, e.g. "international"'),
}, { additionalProperties: false });

export const callRestrictions: DataKind<typeof CallRestrictionFields> = {
  kind: 'call-restrictions',
  path: '/call-restrictions',
  key: 'prefix',
  keySchema: Type.String({ pattern: '^[0-9*#+]{1,32}$', description: '1-32 digits, * # + (the start of the numbers restricted)' }),
  noun: 'call restriction',
  description: 'Who may dial what: an extension may dial a number when its restrictionLevel is at least the level of the longest prefix the number starts with.',
  scope: 'domain',
  fields: CallRestrictionFields,
  secrets: [],
};

const PickupGroupFields = Type.Object({
  members: GroupMembers('the extensions whose ringing calls can be picked up by the group\'s pickers', 0),
  description: Label('who the group is, e.g. "Accounts office"'),
}, { additionalProperties: false });

export const pickupGroups: DataKind<typeof PickupGroupFields> = {
  kind: 'pickup-groups',
  path: '/pickup-groups',
  key: 'name',
  keySchema: ItemName('the group\'s name, listed in an extension\'s call settings as pickupGroups'),
  noun: 'pickup group',
  description: 'Extensions whose ringing calls another extension may answer with the pickup code, when its call settings name the group.',
  scope: 'domain',
  fields: PickupGroupFields,
  secrets: [],
  check: checkExtensionsExist('members'),
};

const ForwardFields = Type.Object({
  always: Destination('every call goes here; the extension does not ring'),
  busy: Destination('calls while the extension is busy or in do not disturb'),
  noAnswer: Destination('calls not answered within ringSeconds'),
  unreachable: Destination('calls while no phone of the extension is registered'),
}, { additionalProperties: false, default: {}, description: 'numbers calls are forwarded to; null: not forwarded' });

const ForwardToVoicemailFields = Type.Object({
  busy: Flag('busy or do not disturb', true),
  noAnswer: Flag('not answered within ringSeconds', true),
  unreachable: Flag('no phone registered', true),
}, { additionalProperties: false, default: {}, description: 'when the caller may leave a message, if no forward number applies and voicemail is on' });

const CallSettingsFields = Type.Object({
  dnd: Flag('do not disturb: calls do not ring, they are treated as busy', false),
  forward: Type.Optional(ForwardFields),
  forwardToVoicemail: Type.Optional(ForwardToVoicemailFields),
  callWaiting: Flag('a second call rings while the extension is on a call; off: the extension is busy', true),
  ringSeconds: Type.Optional(Type.Union([Type.Integer({ minimum: 5, maximum: 300, description: '5-300 seconds' }), Type.Null()], {
    default: null,
    description: 'how long calls ring before the no-answer forward applies; null: the server default (the variable [sip] no_answer_timeout)',
  })),
  restrictionLevel: Count('the extension may dial numbers whose call restriction level is at most this; 9 dials everything', 0, 9, 9),
  pickupGroups: Type.Optional(Type.Array(ItemName('a pickup group'), {
    maxItems: 32,
    uniqueItems: true,
    default: [],
    description: 'the pickup groups whose ringing calls this extension may answer with the pickup code',
  })),
  voicemail: Flag('the extension has a mailbox (mailboxes/{number}, with the defaults until one is created); off by default, as a new extension has nobody to read its messages yet', false),
}, { additionalProperties: false });

function checkPickupGroupsExist(body: Record<string, unknown>, { store, domain }: DataKindContext): string | undefined {
  const missing = (body.pickupGroups as string[]).find((name) => !store.serviceData.get(domain, pickupGroups.kind, name));
  return missing === undefined ? undefined : `pickupGroups: no pickup group ${missing} in ${domain}`;
}

export const callSettings: DataKind<typeof CallSettingsFields> = {
  kind: 'call-settings',
  path: '/extensions/:number/call-settings',
  key: 'number',
  keySchema: ExtensionNumber('the extension\'s number'),
  noun: 'call settings',
  description: 'How calls to one extension are handled: do not disturb, forwarding, voicemail, call waiting, what it may dial.',
  scope: 'extension',
  fields: CallSettingsFields,
  secrets: [],
  check: checkPickupGroupsExist,
};

/** Every kind, in the order of the API documentation. */
export const DATA_KINDS: readonly DataKind<TObject>[] = [
  ringGroups, huntGroups, ivrMenus, mailboxes, conferenceRooms, callRestrictions, pickupGroups, callSettings,
];
