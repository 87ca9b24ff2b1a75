import DNS from 'dns2';

const { Packet } = DNS;

/** One name's records; a name absent from the zone answers NXDOMAIN. */
export interface ZoneEntry {
  /** Each record a string, or its character-strings (chunks over 255 bytes) as an array. */
  TXT?: Array<string | string[]>;
  MX?: Array<{ exchange: string; priority: number }>;
  CNAME?: string;
  A?: string[];
  /** Every query for the name answers SERVFAIL (a broken authoritative server). */
  servfail?: boolean;
}

export type Zone = Record<string, ZoneEntry>;

/**
 * A real DNS server on 127.0.0.1 (UDP and TCP, a random port) built on the `dns2` package, serving the
 * zone a test sets: the app reaches it through node:dns's Resolver with DNS_SERVERS, like any
 * resolver — no network. Names are matched case-insensitively; a name in the zone without the
 * asked type answers NOERROR with no records (Node: ENODATA), a name not in it NXDOMAIN
 * (ENOTFOUND), as an authoritative server does.
 */
export class FakeDns {
  private readonly zone: Zone = {};
  /** Questions received, `TYPE name`. */
  readonly queries: string[] = [];
  private udp?: ReturnType<typeof DNS.createUDPServer>;
  private tcp?: ReturnType<typeof DNS.createTCPServer>;
  /** Answers over 512 bytes (two DKIM keys) are truncated over UDP; resolvers then ask again over TCP on the same port, so both listen. */
  private readonly handle = (
    request: InstanceType<typeof Packet>,
    send: (response: InstanceType<typeof Packet>) => Promise<Buffer>,
  ): void => {
    void send(this.answer(request));
  };
  address = '';

  constructor(zone: Zone = {}) {
    this.set(zone);
  }

  async start(): Promise<this> {
    // UDP and TCP on one port number: pick a free UDP port, then bind TCP to it (retrying if
    // that TCP port happens to be taken).
    for (let attempt = 0; ; attempt++) {
      const udp = DNS.createUDPServer(this.handle);
      await udp.listen(0, '127.0.0.1');
      const { port } = udp.address();
      const tcp = DNS.createTCPServer(this.handle);
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen(port, '127.0.0.1', () => resolve());
        });
      } catch (err) {
        udp.close();
        if (attempt < 5) continue;
        throw err;
      }
      this.udp = udp;
      this.tcp = tcp;
      this.address = `127.0.0.1:${port}`;
      return this;
    }
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.tcp?.close(() => resolve()) ?? resolve());
    await new Promise<void>((resolve) => this.udp?.close(() => resolve()) ?? resolve());
  }

  /** Adds or replaces names of the zone. */
  set(entries: Zone): void {
    for (const [name, entry] of Object.entries(entries)) this.zone[name.toLowerCase()] = entry;
  }

  private answer(request: InstanceType<typeof Packet>): InstanceType<typeof Packet> {
    const response = Packet.createResponseFromRequest(request);
    const [question] = request.questions;
    const name = question.name.toLowerCase().replace(/\.$/, '');
    const type = Object.entries(Packet.TYPE).find(([, v]) => v === question.type)?.[0] ?? '?';
    this.queries.push(`${type} ${name}`);
    const entry = Object.hasOwn(this.zone, name) ? this.zone[name] : undefined;
    response.header.aa = 1;
    if (!entry) {
      response.header.rcode = 3; // NXDOMAIN
      return response;
    }
    if (entry.servfail) {
      response.header.rcode = 2; // SERVFAIL
      return response;
    }
    const base = { name: question.name, class: Packet.CLASS.IN, ttl: 60 };
    if (type === 'TXT')
      for (const data of entry.TXT ?? [])
        response.answers.push({ ...base, type: Packet.TYPE.TXT, data } as never);
    if (type === 'MX')
      for (const mx of entry.MX ?? [])
        response.answers.push({ ...base, type: Packet.TYPE.MX, ...mx } as never);
    if (type === 'CNAME' && entry.CNAME)
      response.answers.push({ ...base, type: Packet.TYPE.CNAME, domain: entry.CNAME } as never);
    if (type === 'A')
      for (const address of entry.A ?? [])
        response.answers.push({ ...base, type: Packet.TYPE.A, address } as never);
    return response;
  }
}
