/**
 * Pure bounce classifier (SPEC §9.1). Hard means the address itself is invalid; everything
 * else (policy, reputation, content, quota, rate, auth...) is soft, even with a 5xx code,
 * because suppressing a live address loses a real reader.
 *
 * Evidence, strongest first:
 * 1. A specific RFC 3463 enhanced code (explicit, DSN `Status:`, or in the text): 5.1.1 is hard,
 *    5.7.1 is soft whatever the wording. It outranks the basic reply code.
 * 2. Text rules, when the enhanced code is missing or generic (X.0.0, plain 550).
 *    Generic "user unknown" wording is also what filters and anti-harvesting setups answer
 *    (Sisimai's "filtered"), so it makes a hard bounce only with corroboration: an address or
 *    mailbox class enhanced code, a 551/553 reply, or a reply to RCPT TO. A rejection after
 *    DATA is never about the address: recipients were already accepted.
 * 3. Transient codes (4xx, 4.x.x) are never hard.
 */
export type BounceType = 'hard' | 'soft';

export const BOUNCE_REASONS = [
  'user_unknown',
  'host_unknown',
  'mailbox_full',
  'blocked',
  'spam_detected',
  'policy',
  'rate_limited',
  'expired',
  'network',
  'auth_failure',
  'suspended',
  'content_rejected',
  'message_too_large',
  'system_error',
  'unknown',
] as const;

export type BounceReason = (typeof BOUNCE_REASONS)[number];

export interface BounceClassification {
  bounce_type: BounceType;
  bounce_reason: BounceReason;
  smtp_code: string | null;
  enhanced_code: string | null;
}

export interface BounceInput {
  output?: string | null;
  details?: string | null;
  text?: string | null;
  smtpCode?: string | number | null;
  enhancedCode?: string | null;
}

interface Verdict {
  type: BounceType;
  reason: BounceReason;
  /** Hard only with corroboration (see the file comment). */
  weak?: boolean;
}

interface TextRule extends Verdict {
  pattern: RegExp;
}

const soft = (reason: BounceReason): Verdict => ({ type: 'soft', reason });
const hard = (reason: BounceReason): Verdict => ({ type: 'hard', reason });
const weakHard = (reason: BounceReason): Verdict => ({ type: 'hard', reason, weak: true });
const rule = (pattern: RegExp, verdict: Verdict): TextRule => ({ pattern, ...verdict });

/**
 * Text rules, first match wins. Evidence that the problem is on our side or that the mailbox
 * exists (sender, auth, reputation, content, quota, size, rate, expiry) comes before the
 * "does not exist" phrases, so an incidental phrase cannot make a live address hard; vague
 * wording (policy, "mailbox unavailable") comes last. Texts are matched lower-cased, without
 * addresses, URLs and reply codes. Prefixes such as "unkn" survive Postal's 250-char cut.
 */
const TEXT_RULES: readonly TextRule[] = [
  // Our own sender address or domain is the problem, never the recipient's.
  rule(
    /\bsender\b(?: address| domain)?[^.;]{0,40}?\b(?:rejected|denied|refused|blocked|invalid|unknown|not found|not (?:allowed|authori[sz]ed|verified|permitted)|verif\w* failed)/,
    soft('policy'),
  ),
  rule(/\bdomain of sender\b|\bsender verify\b|\bverification failed for\b/, soft('policy')),
  rule(
    /\b(?:email address|identities)\b[^.]{0,20}\bnot verified\b|failed the check/,
    soft('policy'),
  ),
  rule(/\bnot a member of (?:this|the) (?:mailing )?list\b/, soft('policy')),

  // Sender authentication (SPF / DKIM / DMARC).
  rule(/\b(?:spf|dkim|dmarc)\b|sender policy framework|domainkeys/, soft('auth_failure')),
  rule(
    /\bunauthenticated (?:e-?mail|mail|message|sender)|\bauthentication checks? failed/,
    soft('auth_failure'),
  ),

  // Blocklists by name.
  rule(
    /\b(?:block ?list(?:ed)?|black ?list(?:ed)?|deny ?list(?:ed)?|rbl|dnsbl|rhsbl|spamhaus|spamcop|sorbs|uribl|surbl|cloudmark)\b|\bbarracuda (?:reputation|central)\b/,
    soft('blocked'),
  ),

  // Account switched off but still there (Sisimai "suspend"; soft in the corpus).
  rule(
    /(?<!\bip )\b(?:account|mailbox|recipient|user|address)\b[^.;]{0,25}?\b(?:is|has been|was|been) (?:temporarily )?(?:disabled|suspended|deactivated|inactive|locked|frozen|blocked|discontinued)\b/,
    soft('suspended'),
  ),
  rule(
    /\b(?:disabled|suspended|deactivated|inactive|frozen|locked) (?:recipient|mailbox|account|user|e-?mail (?:address|account))\b|\b(?:account|mailbox) (?:disabled|suspended|inactive|frozen|locked)\b/,
    soft('suspended'),
  ),

  // Throttling.
  rule(
    /\brate[- ]limit|\btoo many\b|\bfrequency limit|\bthrottl|\breceiving mail at a rate\b|\bunexpected volume\b|\bconnection limit\b|\bgr[ae]ylist/,
    soft('rate_limited'),
  ),

  // Reputation, blocks, reverse DNS.
  rule(/\breputation\b|\bbanned\b|\bbloqu[eé]e?\b|\bblocked\b/, soft('blocked')),
  rule(
    /\bclient host\b[^.;]{0,20}\brejected\b|\brefused to talk to me\b|\bopen relay\b/,
    soft('blocked'),
  ),
  rule(/\b(?:reverse dns|rdns|ptr (?:resource )?record)\b/, soft('blocked')),

  // Content: spam, viruses, malformed messages.
  rule(
    /\bspam\b|\bjunk (?:e-?)?mail\b|\bunsolicited\b|\bube\b|\bbulk (?:e-?)?mail\b|\bsuspicious\b|\bphishing\b/,
    soft('spam_detected'),
  ),
  rule(
    /\bvirus\b|\bmalware\b|\binfected\b|\battachment\b|\bcontent (?:rejected|filter)|\bmessage content\b|\bmedia error\b|\b(?:message|mail) filtered\b|\bmail rejet[eé]\b/,
    soft('content_rejected'),
  ),
  rule(
    /\brfc ?(?:822|2822|5322|5321)\b|\bnot (?:rfc )?compliant\b|\bmultiple addresses in from\b|\bduplicate header\b|\bheader\b[^.]{0,20}\b(?:invalid|malformed|missing)\b/,
    soft('content_rejected'),
  ),

  // The mailbox exists but is full.
  rule(
    /\b(?:mail ?box|mail ?folder|inbox)\b[^.;]{0,30}?\bfull\b|\bover ?quota\b|\bquota\b[^.;]{0,20}?\b(?:exceed(?:ed)?|full|reached)\b|quotaexceeded|\bexceeded\b[^.;]{0,30}?\b(?:quota|storage)\b/,
    soft('mailbox_full'),
  ),
  rule(
    /\bmailbox\b[^.;]{0,20}\bexceeds?\b|\bnumber of messages\b[^.;]{0,40}\bexceeded\b|\bout of (?:disk )?(?:space|storage)\b|\bstorage (?:space|allocation)\b/,
    soft('mailbox_full'),
  ),
  rule(/\binsufficient (?:system )?(?:storage|disk space)\b/, soft('system_error')),

  // Message size.
  rule(
    /\bmessage (?:is )?too (?:big|large)\b|\btoo large\b|\b(?:message|mail) (?:size|length) exceeds?\b|\bsize limit\b|\bmaximum (?:message )?size\b|recipsizelimit|\bexceeds?\b[^.;]{0,30}\b(?:size|length)\b/,
    soft('message_too_large'),
  ),

  // The sending MTA gave up retrying.
  rule(
    /\b(?:message|delivery time) expired\b|\bretry timeout exceeded\b|\bcould not deliver for the last\b|\bgiving up\b|\bgave up\b|\bdelivery attempts\b|\bfailed \d+ attempts\b|\btoo long in (?:the )?queue\b|\bafter multiple retries\b|\bretry time not reached\b|\bfailing for a long time\b|\blifetime exceeded\b/,
    soft('expired'),
  ),

  // Temporary DNS trouble: "Host not found, try again" is Postfix's TRY_AGAIN, not NXDOMAIN.
  rule(
    /\bnot found, try again\b|\bname server reply\b|\bservfail\b|\bdns (?:query|lookup) (?:failed|timed out|timeout)\b|\btemporary failure in name resolution\b/,
    soft('network'),
  ),

  // Local delivery agent failures (procmail, pipes): the mailer broke, not the address.
  rule(
    /\bprocmail\b|\bmailer error\b|\bcouldn't create\b|\bcommand (?:died|failed)\b|\bpipe to\b/,
    soft('system_error'),
  ),

  // Hard, specific: provider phrases used only for recipients that do not exist.
  rule(
    /\b(?:user|recipient|mailbox|address|account|e-?mail account)(?: that you tried to reach)? (?:does(?:n['’]?t| not)|did not) exist\b|\bdoes(?:n['’]?t| not) have an? [\w.-]{1,40} account\b|\bno mailbox here by that name\b/,
    hard('user_unknown'),
  ),
  rule(
    /\brecip(?:ient)?notfound\b|\bnot found by smtp address lookup\b|\brecipient name is not recognized\b|\bnot listed in (?:the )?(?:public )?(?:name & address book|domino directory|directory)\b|\binvalid (?:recipient|mailbox|final delivery userid)\b|\bbad destination mailbox address\b|\bno valid recipients\b|\bunknown or illegal alias\b/,
    hard('user_unknown'),
  ),
  rule(
    /\bmailbox has moved\b|\bno longer (?:on (?:this |the )?server|valid|active|in use)\b|\b(?:account|mailbox|address) (?:has been |was |is )?(?:closed|deleted|removed|terminated)\b/,
    hard('user_unknown'),
  ),

  // Hard: the domain does not exist or accepts no mail (null MX, RFC 7505). Our own DNS
  // lookup says so, not the receiver, so no corroboration is needed.
  rule(
    /\bhost (?:or domain name )?(?:is )?(?:unknown|not found)\b|\bunknown (?:host|domain)\b|\bhost \S+ not found\b|\bdomain (?:name )?(?:is )?(?:unknown|not found)\b|\bno such (?:host|domain)\b|\bnxdomain\b|\bunroutable address\b|\bunrouteable address\b|\bbad destination system address\b/,
    hard('host_unknown'),
  ),
  rule(
    /\bno mx (?:record|host)s?\b|\bnull mx\b|\b(?:mx|srv) record indicated no smtp service\b|\bmx records point to non-existent hosts\b|\bdomain\b[^.;]{0,30}\b(?:does|do)(?:n['’]?t| not) exist\b|\b(?:does|do)(?:n['’]?t| not) accept (?:any )?(?:e-?)?mail\b|\bnot accepting (?:network )?messages\b/,
    hard('host_unknown'),
  ),

  // Hard only with corroboration: generic wording, also used to disguise filtering.
  rule(
    /\b(?:user|recipient|addressee|mailbox|account|address) (?:is )?(?:unkn|not found\b|not exist\b)|\bunknown (?:user|recipient|local[- ]part|mailbox|address|e-?mail address)\b|\bno such (?:user|recipient|mailbox|account|address|person)\b|\bnon-?existent (?:user|recipient|mailbox|account|address)\b|\binvalid user\b/,
    weakHard('user_unknown'),
  ),

  // Connection trouble.
  rule(
    /\btimed? ?out\b|\bconnection (?:refused|reset|closed|dropped|lost)\b|\blost connection\b|\bno route to host\b|\bnetwork (?:is )?unreachable\b|\b(?:failed|unable|could not|couldn't) (?:to )?connect\b|\b(?:host|server) (?:is )?unreachable\b|\bwinsock\b|\bname service error\b/,
    soft('network'),
  ),

  // Throttling phrased as "come back later".
  rule(
    /\b(?:try|retry) (?:again )?later\b|\btemporarily deferred\b|\bserver busy\b|\bservice refus(?:ed|[eé])\b/,
    soft('rate_limited'),
  ),

  // Receiving system trouble.
  rule(
    /\b(?:internal|system|server|configuration|local) error\b|\btemporary (?:local )?(?:failure|problem|error)\b|\btransaction failed\b|\bcould not load\b|\bservice (?:temporarily )?(?:not available|unavailable)\b|\bmail loop\b|\btoo many hops\b/,
    soft('system_error'),
  ),

  // Anything else the receiver refused on purpose.
  rule(
    /\bpolic(?:y|ies)\b|\bnot (?:allowed|permitted|authori[sz]ed|accepted)\b|\bunauthori[sz]ed\b|\bdenied\b|\brefused\b|\bprohibited\b|\bforbidden\b|\brelay(?:ing)?\b|\bprotocol violation\b|\bauthentication\b|\brejected\b/,
    soft('policy'),
  ),

  // RFC 5321's stock 550 text: with nothing more specific (Outlook.com answers it for
  // unknown mailboxes) it is in practice a dead address.
  rule(/\bmailbox (?:is )?(?:unavailable|not available)\b/, hard('user_unknown')),
];

/** How an enhanced status code (RFC 3463 class.subject.detail) classifies on its own. */
interface CodeVerdict extends Verdict {
  /** Generic or unregistered code: the text decides, this is only the fallback. */
  textDecides?: boolean;
  /** Address or mailbox status: corroborates generic "user unknown" text, which may harden it. */
  addressClass?: boolean;
  /** Broad reason that a soft text reason may refine (e.g. 5.7.1 policy → blocked). */
  refinable?: boolean;
}

const generic = (reason: BounceReason, addressClass = false): CodeVerdict => ({
  ...soft(reason),
  textDecides: true,
  addressClass,
});

/** Keyed by "subject.detail". */
const ENHANCED_CODES: Readonly<Record<string, CodeVerdict>> = {
  '1.0': generic('unknown', true),
  '1.1': hard('user_unknown'),
  '1.2': hard('host_unknown'),
  '1.3': hard('user_unknown'), // bad destination mailbox syntax: never deliverable
  '1.4': soft('policy'),
  '1.6': hard('user_unknown'), // mailbox moved, no forwarding address
  '1.7': soft('policy'), // sender address syntax
  '1.8': soft('policy'), // sender domain
  '1.10': hard('host_unknown'), // null MX (RFC 7505)
  '2.0': generic('unknown', true),
  '2.1': { ...soft('suspended'), addressClass: true, refinable: true },
  '2.2': soft('mailbox_full'),
  '2.3': soft('message_too_large'),
  '2.4': soft('system_error'),
  '3.1': soft('system_error'),
  '3.2': generic('system_error'), // "not accepting messages": the text says whether for good
  '3.4': soft('message_too_large'),
  '3.5': soft('system_error'),
  '4.4': hard('host_unknown'), // unable to route
  '4.7': soft('expired'),
  '5.3': soft('rate_limited'), // too many recipients
  '7.13': soft('suspended'),
  '7.20': soft('auth_failure'),
  '7.21': soft('auth_failure'),
  '7.22': soft('auth_failure'),
  '7.23': soft('auth_failure'),
  '7.24': soft('auth_failure'),
  '7.25': soft('blocked'), // reverse DNS
  '7.26': soft('auth_failure'),
};

/** Fallback per subject when the detail is not in the table (X.Y.0 or vendor codes). */
const ENHANCED_SUBJECTS: Readonly<Record<string, CodeVerdict>> = {
  '1': generic('unknown', true),
  '2': generic('unknown', true),
  '3': generic('system_error'),
  '4': { ...soft('network'), refinable: true },
  '5': generic('system_error'),
  '6': { ...soft('content_rejected'), refinable: true },
  '7': { ...soft('policy'), refinable: true },
};

/** Text reasons that outrank a hard code: the mailbox exists, or the failure was temporary. */
const OVERRULES_HARD_CODE: ReadonlySet<BounceReason> = new Set(['mailbox_full', 'network']);

const ENHANCED_RE = /(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])/g;
const SMTP_RE = /(?<=^|[\s'"(<>:;,=])([45][0-5]\d)(?![\d.])/;
/** Bounded local part and domain keep this linear on long texts without "@". */
const EMAIL_RE = /<?[^\s<>()[\]"',;:@]{0,64}@[^\s<>()[\]"',;:@]{1,255}>?/g;
const URL_RE = /\b(?:https?|ftp):\/\/\S+/gi;
const RCPT_STAGE_RE = /\brcpt\b|\brcpt_to\b/i;
const DATA_STAGE_RE = /\bend of data\b|\bfinal data\b|\bdata command\b|\bafter data\b|>>> data\b/i;
/** Microsoft 365 Directory Based Edge Blocking: its "Access denied" means "no such recipient". */
const EDGE_BLOCKING_RE = /recipient address rejected: access denied/i;
/** Where a bounce body starts quoting the original message: nothing after it is diagnostic. */
const ORIGINAL_MESSAGE_RE =
  /^.{0,10}(?:below this line is a copy|this is a copy of the message|original message|returned mail follows|header of the original message|content-type: (?:message\/rfc822|text\/rfc822-headers))/im;

interface Evidence {
  smtpCode: string | null;
  enhancedCode: string | null;
  code: CodeVerdict | null;
  text: Verdict | null;
  /** All segments joined, addresses and URLs removed: for stage and vendor checks. */
  raw: string;
}

export function classifyBounce(input: BounceInput): BounceClassification {
  const segments = collectSegments(input);
  const smtpCode = normaliseSmtpCode(input.smtpCode) ?? findSmtpCode(segments);
  const enhancedCode =
    firstEnhancedCode(asText(input.enhancedCode)) ??
    firstEnhancedCode(stripNoise(asText(input.output))) ??
    findDsnStatus(asText(input.text)) ??
    findEnhancedCode(segments);
  const evidence: Evidence = {
    smtpCode,
    enhancedCode,
    code: codeVerdict(enhancedCode),
    text: textVerdict(segments),
    raw: stripNoise(segments.join('\n')),
  };
  const verdict = postalGaveUp(input.details) ?? combine(evidence);
  const transient = isTransient(smtpCode, enhancedCode);
  return {
    bounce_type: transient ? 'soft' : verdict.type,
    bounce_reason: verdict.reason,
    smtp_code: smtpCode,
    enhanced_code: enhancedCode,
  };
}

/**
 * Inputs in order of authority: SMTP output, DSN Diagnostic-Code, Postal details, the body up
 * to the quoted original message, and last the whole body.
 */
function collectSegments(input: BounceInput): string[] {
  const body = asText(input.text);
  const segments = [
    asText(input.output),
    ...findDsnDiagnostics(body),
    asText(input.details),
    cutOriginalMessage(body),
    body,
  ];
  const trimmed = segments.map((s) => s.trim()).filter((s) => s.length > 0);
  return [...new Set(trimmed)];
}

function asText(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function cutOriginalMessage(body: string): string {
  const match = ORIGINAL_MESSAGE_RE.exec(body);
  return match ? body.slice(0, match.index) : body;
}

/** Diagnostic-Code values of a DSN (RFC 3464), folded continuation lines joined. */
function findDsnDiagnostics(body: string): string[] {
  const re = /^Diagnostic-Code:[ \t]*(?:[\w-]+;)?[ \t]*(.*(?:\r?\n[ \t]+.*)*)/gim;
  return [...body.matchAll(re)].map((m) => m[1].replace(/\s+/g, ' '));
}

function findDsnStatus(body: string): string | null {
  const match = /^Status:[ \t]*([245]\.\d{1,3}\.\d{1,3})\b/im.exec(body);
  return match ? match[1] : null;
}

function normaliseSmtpCode(value: BounceInput['smtpCode']): string | null {
  if (value === null || value === undefined) return null;
  const code = String(value).trim();
  return /^[2-5]\d\d$/.test(code) ? code : null;
}

function findSmtpCode(segments: string[]): string | null {
  for (const segment of segments) {
    const match = SMTP_RE.exec(stripNoise(segment));
    if (match) return match[1];
  }
  return null;
}

function findEnhancedCode(segments: string[]): string | null {
  for (const segment of segments) {
    const code = firstEnhancedCode(stripNoise(segment));
    if (code) return code;
  }
  return null;
}

/** First 4.x.x/5.x.x code; a 2.x.x one only when nothing failed ("250 2.0.0 Ok" lines). */
function firstEnhancedCode(text: string): string | null {
  const codes = [...text.matchAll(ENHANCED_RE)].map((m) => m[0]);
  return codes.find((c) => !c.startsWith('2')) ?? codes[0] ?? null;
}

/** Addresses and URLs carry misleading words ("userunknown@…", "?p=NoSuchUser"). */
function stripNoise(text: string): string {
  return text.replace(URL_RE, ' ').replace(EMAIL_RE, ' ');
}

/** Lower-cased, without reply codes: multi-line replies ("550-5.7.1 …") split phrases. */
function normaliseForRules(text: string): string {
  return stripNoise(text)
    .replace(/(?<![\w.])[245]\d\d(?:[- :]|$)/g, ' ')
    .replace(ENHANCED_RE, ' ')
    .replace(/[#()[\]]/g, ' ')
    .replace(/\s+/g, ' ')
    .toLowerCase();
}

/** The first segment that says anything decides; within it the first rule in table order. */
function textVerdict(segments: string[]): Verdict | null {
  for (const segment of segments) {
    const text = normaliseForRules(segment);
    const match = TEXT_RULES.find((r) => r.pattern.test(text));
    if (match) return { type: match.type, reason: match.reason, weak: match.weak === true };
  }
  return null;
}

function codeVerdict(enhancedCode: string | null): CodeVerdict | null {
  if (!enhancedCode) return null;
  const [, subject, detail] = enhancedCode.split('.');
  if (subject === '0') return generic('unknown');
  return ENHANCED_CODES[`${subject}.${detail}`] ?? ENHANCED_SUBJECTS[subject] ?? generic('unknown');
}

/** Postal's "Maximum number of delivery attempts": it retried temporary failures, then gave up. */
function postalGaveUp(details: BounceInput['details']): Verdict | null {
  return /maximum number of delivery attempts/i.test(asText(details)) ? soft('expired') : null;
}

function combine(evidence: Evidence): Verdict {
  const { code } = evidence;
  if (isEdgeBlocking(evidence)) return hard('user_unknown');
  if (!code || code.textDecides) return fromText(evidence) ?? fromBasicCode(evidence);
  return code.type === 'hard' ? fromHardCode(code, evidence.text) : fromSoftCode(code, evidence);
}

/** A text verdict, softened when it claims "hard" without enough support. */
function fromText(evidence: Evidence): Verdict | null {
  const { text } = evidence;
  if (!text || text.type === 'soft') return text;
  if (DATA_STAGE_RE.test(evidence.raw)) return soft(text.reason);
  if (text.weak && !isCorroborated(evidence)) return soft(text.reason);
  return hard(text.reason);
}

/** Generic "user unknown" wording counts when the exchange was clearly about the address. */
function isCorroborated({ code, smtpCode, raw }: Evidence): boolean {
  return (
    code?.addressClass === true ||
    smtpCode === '551' || // user not local
    smtpCode === '553' || // mailbox name not allowed
    RCPT_STAGE_RE.test(raw)
  );
}

/** A soft code: an address-class one (5.2.1) may be hardened by the text, a broad one refined. */
function fromSoftCode(code: CodeVerdict, evidence: Evidence): Verdict {
  const { text } = evidence;
  if (text?.type === 'hard') {
    return code.addressClass ? (fromText(evidence) ?? soft(code.reason)) : soft(code.reason);
  }
  return code.refinable && text ? { type: 'soft', reason: text.reason } : soft(code.reason);
}

/** A hard code stands unless the text proves the mailbox exists or the failure was temporary. */
function fromHardCode(code: CodeVerdict, text: Verdict | null): Verdict {
  if (text && OVERRULES_HARD_CODE.has(text.reason)) return soft(text.reason);
  return hard(text?.type === 'hard' ? text.reason : code.reason);
}

/** "550 5.4.1 Recipient address rejected: Access denied" is Microsoft 365's "no such user". */
function isEdgeBlocking({ enhancedCode, raw }: Evidence): boolean {
  return enhancedCode === '5.4.1' && EDGE_BLOCKING_RE.test(raw);
}

/** No usable text: the reply code is all there is. */
function fromBasicCode({ smtpCode, code }: Evidence): Verdict {
  if (smtpCode === '556') return hard('host_unknown'); // RFC 7504: domain accepts no mail
  if (smtpCode === '421') return soft('rate_limited');
  if (code) return soft(code.reason);
  if (smtpCode === '552') return soft('mailbox_full');
  return soft('unknown');
}

/** RFC 3463 class 4 and 4xx replies are transient: the address may well be fine. */
function isTransient(smtpCode: string | null, enhancedCode: string | null): boolean {
  return enhancedCode?.startsWith('4.') === true || smtpCode?.startsWith('4') === true;
}
