/**
 * Pure bounce classifier (README "Bounce classification"). Hard means the address itself is
 * invalid; everything else (policy, reputation, content, quota, rate, auth...) is soft, even
 * with a 5xx code, because suppressing a live address loses a real reader. Ties go to soft.
 *
 * Evidence, strongest first:
 * 1. A DSN's per-recipient fields (RFC 3464): `Action: delayed` is never hard; `Status:` and
 *    the enhanced code of the `Diagnostic-Code:` reply are the enhanced codes; the
 *    `Diagnostic-Code:` text is read before any other text. When it quotes the replies for
 *    several recipients, only the reply carrying this recipient's Status is read. A Status
 *    that the remote reply does not carry is the reporting MTA's translation of a basic reply
 *    code: a soft one yields to remote wording that makes the address hard on its own.
 * 2. A specific RFC 3463 enhanced code (class.subject.detail): X.1.1 is about the address
 *    (hard), X.7.x about policy (soft) whatever the wording; it outranks the basic reply code.
 *    When two specific codes disagree (a DSN Status against the remote reply), soft wins.
 * 3. Text rules, when the enhanced code is missing or generic (X.0.0, plain 550): a small set
 *    of phrase families named after the bounce reasons Sisimai documents (userunknown,
 *    hostunknown, hasmoved, notaccept are hard; mailboxfull, suspend, blocked, filtered, ... are
 *    soft). Generic "user unknown" wording is also what filters and anti-harvesting setups
 *    answer (Sisimai's "filtered"), so it makes a hard bounce only with corroboration: an
 *    address or mailbox class enhanced code, a 551/553 reply, or a reply to RCPT TO. A
 *    rejection after DATA is never about the address: recipients were already accepted.
 *    Text proving that the mailbox exists or that the failure was temporary (full, suspended,
 *    throttled, expired, network) outranks even a hard code.
 * 4. Transient codes (4xx, 4.x.x) are never hard.
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
  /** Postal's `output` (the remote server's last reply, cut to 250 characters). */
  output?: string | null;
  /** Postal's `details`. */
  details?: string | null;
  /** A whole bounce message body (a DSN's fields are read from it too). */
  text?: string | null;
  smtpCode?: string | number | null;
  /** An enhanced status code known from elsewhere; same authority as `status`. */
  enhancedCode?: string | null;
  /** DSN per-recipient `Status:` (RFC 3464 §2.3.4), an RFC 3463 enhanced code. */
  status?: string | null;
  /** DSN per-recipient `Diagnostic-Code:` (with or without its "smtp;" type). */
  diagnosticCode?: string | null;
  /** DSN per-recipient `Action:` (failed, delayed, delivered, relayed, expanded). */
  action?: string | null;
  /** DSN per-recipient `Remote-MTA:`: only says the reply came from a remote server. */
  remoteMta?: string | null;
}

interface Verdict {
  type: BounceType;
  reason: BounceReason;
  /** Hard only with corroboration (see the file comment). */
  weak?: boolean;
}

/**
 * One phrase family of the bounce-reason taxonomy. `id` names the family; the corpus test
 * checks that every family is borne out by bounces of at least two MTA families.
 */
export interface TextRule extends Verdict {
  id: string;
  pattern: RegExp;
}

const soft = (reason: BounceReason): Verdict => ({ type: 'soft', reason });
const hard = (reason: BounceReason): Verdict => ({ type: 'hard', reason });
const weakHard = (reason: BounceReason): Verdict => ({ type: 'hard', reason, weak: true });
const rule = (id: string, pattern: RegExp, verdict: Verdict): TextRule => ({
  id,
  pattern,
  ...verdict,
});

/** Words naming a recipient mailbox or account. */
const BOX = String.raw`(?:user|recipient|addressee|mailbox|mail ?box|account|address|e-?mail account|e-?mail address)`;

/**
 * Phrase families, first match wins. Evidence that the problem is on our side or that the
 * mailbox exists (sender, auth, reputation, content, quota, size, rate, expiry) comes before
 * the "does not exist" phrases, so an incidental phrase cannot make a live address hard; vague
 * wording (policy, "mailbox unavailable") comes last. Texts are matched lower-cased, without
 * addresses, URLs and reply codes. Prefixes such as "unkn" survive Postal's 250-char cut.
 */
export const TEXT_RULES: readonly TextRule[] = [
  // rejected: our own envelope sender (address, domain, identity) is the problem.
  rule(
    'rejected',
    new RegExp(
      [
        String.raw`\b(?:sender|mail from|from address|envelope from|return[- ]path)\b(?: address| domain)?[^.;]{0,40}?\b(?:rejected|denied|refused|blocked|invalid|unknown|not found|not (?:allowed|authori[sz]ed|verified|permitted)|verif\w* failed|does(?:n['’]?t| not) exist)`,
        String.raw`\bdomain of sender\b|\bsender verify\b|\bverification failed for\b`,
        String.raw`\b(?:email address|identities)\b[^.]{0,20}\bnot verified\b|failed the check`,
        String.raw`\bnot a member of (?:this|the) (?:mailing )?list\b`,
      ].join('|'),
    ),
    soft('policy'),
  ),

  // authfailure / securityerror: sender authentication (SPF, DKIM, DMARC, SMTP AUTH).
  rule(
    'authfailure',
    /\b(?:spf|dkim|dmarc)\b|sender policy framework|domainkeys|\bunauthenticated (?:e-?mail|mail|message|senders?)|\bauthentication (?:checks? failed|required)\b|\bwithout (?:smtp )?authentication\b|\bsmtp authentication\b|\bauthrequired\b/,
    soft('auth_failure'),
  ),

  // suspend: the account exists but is switched off.
  rule(
    'suspend',
    new RegExp(
      [
        String.raw`(?<!\bip )\b${BOX}\b[^.;]{0,25}?\b(?:is|has been|was|been) (?:temporarily )?(?:disabled|suspended|deactivated|inactive|locked|frozen|blocked|discontinued|on hold)\b`,
        String.raw`\b(?:disabled|suspended|deactivated|frozen|locked) ${BOX}\b|\b(?:account|mailbox) (?:disabled|suspended|inactive|frozen|locked)\b`,
      ].join('|'),
    ),
    soft('suspended'),
  ),

  // blocked: our IP, host name or HELO is refused (block lists, reputation, reverse DNS).
  rule(
    'blocked',
    new RegExp(
      [
        String.raw`\b(?:block ?list(?:ed)?|black ?list(?:ed)?|deny ?list(?:ed)?|rbl|dnsbl|rhsbl|spamhaus|spamcop|sorbs|uribl|surbl|cloudmark|barracuda)\b`,
        String.raw`\breputation\b|\bbanned\b|\bbloqu[eé]e?\b|\bblocked\b`,
        String.raw`\bclient host\b[^.;]{0,20}\brejected\b|\brefused to talk to me\b|\bopen relay\b`,
        String.raw`\b(?:reverse dns|rdns|ptr (?:resource )?record|reverse lookup)\b|\bhelo\b|\behlo\b`,
        String.raw`\binvalid ip\b|\b(?:your|sending|client|source) ip\b|\bip (?:address )?(?:not allowed|rejected|refused|denied)\b`,
      ].join('|'),
    ),
    soft('blocked'),
  ),

  // toomanyconn / speeding: throttling.
  rule(
    'toomanyconn',
    /\brate[- ]limit|\btoo many\b|\bfrequency limit|\bthrottl|\breceiving mail at a rate\b|\bunexpected volume\b|\bconnection limit\b|\bgr[ae]ylist|\b(?:limit|quota) (?:on|of) (?:connections|messages|recipients)\b/,
    soft('rate_limited'),
  ),

  // spamdetected.
  rule(
    'spamdetected',
    /\bspam\b|\bjunk (?:e-?)?mail\b|\bunsolicited\b|\bube\b|\bbulk (?:e-?)?mail\b|\bsuspicious\b|\bphishing\b/,
    soft('spam_detected'),
  ),

  // virusdetected / contenterror / notcompliantrfc: the message itself is refused.
  rule(
    'contenterror',
    new RegExp(
      [
        String.raw`\bvirus\b|\bmalware\b|\binfected\b|\battachment\b|\bcontent (?:rejected|filter)|\bmessage content\b|\bmedia error\b|\b(?:message|mail) (?:filtered|rejet[eé])\b|\bmail rejected\b`,
        String.raw`\brfc ?(?:822|2822|5322|5321)\b|\bnot (?:rfc )?compliant\b|\baddresses in from\b|\bduplicate header\b|\bheader\b[^.]{0,20}\b(?:invalid|malformed|missing)\b|\b8-?bit\b`,
      ].join('|'),
    ),
    soft('content_rejected'),
  ),

  // mailboxfull: the mailbox exists but is full.
  rule(
    'mailboxfull',
    new RegExp(
      [
        String.raw`\b(?:mail ?box|mail ?folder|inbox)\b[^.;]{0,30}?\bfull\b|\bover ?quota\b|\bquota\b[^.;]{0,20}?\b(?:exceed(?:ed)?|full|reached)\b|quotaexceeded|\bexceeded\b[^.;]{0,30}?\b(?:quota|storage)\b`,
        String.raw`\bmailbox\b[^.;]{0,20}\bexceeds?\b|\bnumber of messages\b[^.;]{0,40}\bexceeded\b|\bout of (?:disk )?(?:space|storage)\b|\bstorage (?:space|allocation)\b|\binsufficient (?:system )?(?:storage|disk space)\b`,
      ].join('|'),
    ),
    soft('mailbox_full'),
  ),

  // mesgtoobig / exceedlimit: message size.
  rule(
    'mesgtoobig',
    /\bmessage (?:is )?too (?:big|large)\b|\btoo large\b|\b(?:message|mail) (?:size|length) exceeds?\b|\bsize limit\b|\bmaximum (?:message )?size\b|sizelimit|\bexceeds?\b[^.;]{0,30}\b(?:size|length)\b/,
    soft('message_too_large'),
  ),

  // expired: the sending MTA gave up retrying.
  rule(
    'expired',
    /\b(?:message|delivery time) expired\b|\bretry timeout exceeded\b|\bcould not deliver for the last\b|\bgiving up\b|\bgave up\b|\bdelivery attempts\b|\bfailed \d+ attempts\b|\btoo long in (?:the )?queue\b|\bafter multiple retries\b|\bretry time not reached\b|\bfailing for a long time\b|\blifetime exceeded\b/,
    soft('expired'),
  ),

  // networkerror: temporary DNS trouble ("Host not found, try again" is a resolver TRY_AGAIN).
  rule(
    'networkerror',
    /\bnot found, try again\b|\bname server reply\b|\bservfail\b|\bdns (?:query|lookup) (?:failed|timed out|timeout)\b|\btemporary failure in name resolution\b/,
    soft('network'),
  ),

  // mailererror: a local delivery agent (procmail, pipe) failed, not the address.
  rule(
    'mailererror',
    /\bprocmail\b|\bmailer error\b|\bcouldn't create\b|\bcommand (?:died|failed)\b|\bpipe to\b/,
    soft('system_error'),
  ),

  // userunknown, specific: phrases used only for recipients that do not exist.
  rule(
    'userunknown',
    new RegExp(
      [
        String.raw`\b${BOX}(?: that you tried to reach)? (?:does(?:n['’]?t| not)|did not) exist\b|\bdoes(?:n['’]?t| not) have an? [\w.-]{1,40} account\b|\bno mailbox here by that name\b`,
        String.raw`\brecip(?:ient)?notfound\b|\bnot found by smtp address lookup\b|\brecipient name is not recognized\b|\bnot listed in (?:the )?(?:public )?(?:name & address book|domino directory|directory)\b`,
        String.raw`\binvalid (?:recipient|mailbox|final delivery userid)\b|\bbad destination mailbox address\b|\bno valid recipients\b|\bunknown or illegal alias\b`,
      ].join('|'),
    ),
    hard('user_unknown'),
  ),

  // hasmoved: the mailbox is gone for good.
  rule(
    'hasmoved',
    /\b(?:mailbox|address) has moved\b|\bno longer (?:on (?:this |the )?server|valid|in use)\b|\b(?:account|mailbox|address) (?:has been |was |is )?(?:closed|deleted|removed|terminated)\b/,
    hard('user_unknown'),
  ),

  // hostunknown / notaccept: the domain does not exist or accepts no mail (null MX, RFC 7505).
  // Our own DNS lookup says so, not the receiver, so no corroboration is needed.
  rule(
    'hostunknown',
    new RegExp(
      [
        String.raw`\bhost (?:or domain name )?(?:is )?(?:unknown|not found)\b|\bunknown (?:host|domain)\b|\bhost \S+ not found\b|\bdomain (?:name )?(?:is )?(?:unknown|not found)\b|\bno such (?:host|domain)\b|\bnxdomain\b|\bunroute?able address\b|\bbad destination system\b`,
        String.raw`\bno mx (?:record|host)s?\b|\bnull mx\b|\b(?:mx|srv) record indicated no smtp service\b|\bmx records point to non-existent hosts\b|\bdomain\b[^.;]{0,30}\b(?:does|do)(?:n['’]?t| not) exist\b|\b(?:does|do)(?:n['’]?t| not) accept (?:any )?(?:e-?)?mail(?! from)\b|\bnot accepting (?:network )?messages\b`,
      ].join('|'),
    ),
    hard('host_unknown'),
  ),

  // userunknown, generic: hard only with corroboration (also used to disguise filtering).
  rule(
    'userunknown-generic',
    new RegExp(
      String.raw`\b${BOX} (?:is )?(?:unkn|not found\b|not exist\b)|\bunknown (?:user|recipient|local[- ]part|mailbox|address|e-?mail address)\b|\bno such (?:user|recipient|mailbox|account|address|person)\b|\bnon-?existent (?:user|recipient|mailbox|account|address)\b|\binvalid (?:user|address)\b`,
    ),
    weakHard('user_unknown'),
  ),

  // networkerror: connection trouble.
  rule(
    'networkerror',
    /\btimed? ?out\b|\bconnection (?:refused|reset|closed|dropped|lost)\b|\blost connection\b|\bno route to host\b|\bnetwork (?:is )?unreachable\b|\b(?:failed|unable|could not|couldn't) (?:to )?connect\b|\b(?:host|server) (?:is )?unreachable\b|\bwinsock\b/,
    soft('network'),
  ),

  // Throttling phrased as "come back later".
  rule(
    'toomanyconn',
    /\b(?:try|retry) (?:again )?later\b|\btemporarily deferred\b|\bserver busy\b|\bservice refus(?:ed|[eé])\b/,
    soft('rate_limited'),
  ),

  // systemerror: the receiving system is in trouble.
  rule(
    'systemerror',
    /\b(?:internal|system|server|configuration|local) error\b|\btemporary (?:local )?(?:failure|problem|error)\b|\btransaction failed\b|\bcould not load\b|\bservice (?:temporarily )?(?:not available|unavailable)\b|\bmail loop\b|\btoo many hops\b/,
    soft('system_error'),
  ),

  // policyviolation / norelaying / securityerror: anything else refused on purpose.
  rule(
    'policyviolation',
    /\bpolic(?:y|ies)\b|\bnot (?:allowed|permitted|authori[sz]ed|accepted)\b|\bunauthori[sz]ed\b|\bdenied\b|\brefused\b|\bprohibited\b|\bforbidden\b|\brelay(?:ing)?\b|\bprotocol violation\b|\bauthentication\b|\brejected\b/,
    soft('policy'),
  ),

  // RFC 5321's stock 550 text: with nothing more specific (Outlook.com answers it for
  // unknown mailboxes) it is in practice a dead address.
  rule('userunknown', /\bmailbox (?:is )?(?:unavailable|not available)\b/, hard('user_unknown')),
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

/**
 * Text reasons that outrank a hard code: the mailbox exists (full, switched off, too small for
 * this message, its delivery program failed), or the failure was temporary (network,
 * throttling, expiry).
 */
const OVERRULES_HARD_CODE: ReadonlySet<BounceReason> = new Set([
  'mailbox_full',
  'system_error',
  'suspended',
  'message_too_large',
  'network',
  'rate_limited',
  'expired',
]);

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
  /** The code is a DSN Status that the remote reply does not carry (see explainBounce). */
  translated: boolean;
  text: Verdict | null;
  /** All segments joined, addresses and URLs removed: for stage and vendor checks. */
  raw: string;
}

export interface ClassifyOptions {
  /**
   * The text rules to use (default: all of TEXT_RULES). The corpus test passes a subset to
   * score each MTA family with only the rules that the other families bear out.
   */
  rules?: readonly TextRule[];
}

/** What decided a classification: for the corpus test and for debugging. */
export interface BounceExplanation extends BounceClassification {
  /** Id of the text rule (phrase family) that matched first, or null when none matched. */
  text_rule: string | null;
  /** What that text says on its own, after the corroboration and stage checks. */
  text_type: BounceType | null;
}

export function classifyBounce(
  input: BounceInput,
  options: ClassifyOptions = {},
): BounceClassification {
  const { bounce_type, bounce_reason, smtp_code, enhanced_code } = explainBounce(input, options);
  return { bounce_type, bounce_reason, smtp_code, enhanced_code };
}

export function explainBounce(
  input: BounceInput,
  options: ClassifyOptions = {},
): BounceExplanation {
  const rules = options.rules ?? TEXT_RULES;
  const declared =
    firstEnhancedCode(asText(input.enhancedCode)) ??
    firstEnhancedCode(asText(input.status)) ??
    findDsnStatus(asText(input.text));
  const replies = remoteReplies(input, declared);
  const segments = collectSegments(input, replies);
  const smtpCode = normaliseSmtpCode(input.smtpCode) ?? findSmtpCode(segments);
  const replied = findEnhancedCode(replies) ?? findEnhancedCode(segments);
  const enhancedCode = declared ?? replied;
  const textMatch = textVerdict(segments, rules);
  const evidence: Evidence = {
    smtpCode,
    enhancedCode,
    code: mergeCodes(codeVerdict(declared), codeVerdict(replied)),
    // A Status that the remote reply does not carry is the reporting MTA's own translation
    // of a basic reply code: it does not outrank what the remote server said.
    translated: declared !== null && replies.length > 0 && findEnhancedCode(replies) === null,
    text: textMatch?.verdict ?? null,
    raw: stripNoise(collectSegments(input, remoteReplies(input, null)).join('\n')),
  };
  const verdict = dsnNotFailed(input.action) ?? postalGaveUp(input.details) ?? combine(evidence);
  const transient =
    isTransient(smtpCode, enhancedCode) || isTransient(null, replied) || isDelayed(input.action);
  return {
    bounce_type: transient ? 'soft' : verdict.type,
    bounce_reason: verdict.reason,
    smtp_code: smtpCode,
    enhanced_code: enhancedCode,
    text_rule: textMatch?.id ?? null,
    text_type: fromText(evidence)?.type ?? null,
  };
}

/**
 * A declared code (DSN Status, or one passed in) and the code of the remote reply usually
 * agree. When one is generic the specific one decides; when two specific codes disagree on
 * hard/soft, soft wins (ties go to soft).
 */
function mergeCodes(declared: CodeVerdict | null, replied: CodeVerdict | null): CodeVerdict | null {
  if (!declared || !replied) return declared ?? replied;
  if (declared.textDecides && !replied.textDecides) return replied;
  if (replied.textDecides || declared.type === replied.type) return declared;
  return declared.type === 'soft' ? declared : replied;
}

/** RFC 3464 §2.3.3: only "failed" reports a failure; "delayed" is still being retried. */
function dsnNotFailed(action: BounceInput['action']): Verdict | null {
  const value = asText(action).trim().toLowerCase();
  return ['delivered', 'relayed', 'expanded'].includes(value) ? soft('unknown') : null;
}

function isDelayed(action: BounceInput['action']): boolean {
  return asText(action).trim().toLowerCase() === 'delayed';
}

/**
 * Inputs in order of authority: the DSN Diagnostic-Code, SMTP output, Diagnostic-Codes found
 * in the body, Postal details, the body up to the quoted original message, and last the body.
 */
function collectSegments(input: BounceInput, replies: string[]): string[] {
  const body = asText(input.text);
  return distinct([...replies, asText(input.details), cutOriginalMessage(body), body]);
}

/**
 * What the remote server answered: the DSN Diagnostic-Code(s) and Postal's output, each cut
 * to the reply about this recipient (see recipientPart).
 */
function remoteReplies(input: BounceInput, status: string | null): string[] {
  return distinct([
    asText(input.diagnosticCode).replace(/^[ \t]*[\w-]+;/, ''),
    asText(input.output),
    ...findDsnDiagnostics(asText(input.text)),
  ]).map((reply) => recipientPart(reply, status));
}

function distinct(segments: string[]): string[] {
  const trimmed = segments.map((s) => s.trim()).filter((s) => s.length > 0);
  return [...new Set(trimmed)];
}

/**
 * A Diagnostic-Code may quote the replies for several recipients of one message ("<a>: 550
 * 5.2.2 Mailbox full <b>: 550 5.2.1 User unknown"). The DSN's `Status:` is per recipient
 * (RFC 3464 §2.3.4), so when the text carries several enhanced codes and one of them is the
 * Status, only the replies that carry it (each from its basic reply code up to the next
 * reply) are about this recipient. Otherwise the whole text is kept.
 */
function recipientPart(text: string, status: string | null): string {
  if (!status) return text;
  const clean = stripNoise(text);
  const codes = [...clean.matchAll(ENHANCED_RE)];
  const distinctCodes = new Set(codes.map((m) => m[0]));
  if (distinctCodes.size < 2 || !distinctCodes.has(status)) return text;
  const starts = codes.map((m) => replyStart(clean, m.index));
  return codes
    .map((m, i) => (m[0] === status ? clean.slice(starts[i], starts[i + 1] ?? clean.length) : ''))
    .join(' ');
}

/** Where the reply holding an enhanced code starts: at its basic code ("550 5.2.1", "550-5.2.1"). */
function replyStart(text: string, codeIndex: number): number {
  const before = /(?<![\w.])[245]\d\d(?:[ -]|: ?)$/.exec(
    text.slice(Math.max(0, codeIndex - 6), codeIndex),
  );
  return codeIndex - (before ? before[0].length : 0);
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
function textVerdict(
  segments: string[],
  rules: readonly TextRule[],
): { id: string; verdict: Verdict } | null {
  for (const segment of segments) {
    const text = normaliseForRules(segment);
    const match = rules.find((r) => r.pattern.test(text));
    if (match) {
      return {
        id: match.id,
        verdict: { type: match.type, reason: match.reason, weak: match.weak === true },
      };
    }
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
  // After DATA the recipients were accepted, so a recipient complaint is a filter; a domain
  // that does not resolve is our own DNS lookup, which no SMTP stage can change.
  if (text.reason !== 'host_unknown' && DATA_STAGE_RE.test(evidence.raw)) {
    return soft(text.reason);
  }
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
    if (code.addressClass) return fromText(evidence) ?? soft(code.reason);
    // A translated Status yields to the remote's own words, when they are enough on their own.
    const own = evidence.translated ? fromText(evidence) : null;
    return own?.type === 'hard' ? own : soft(code.reason);
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
