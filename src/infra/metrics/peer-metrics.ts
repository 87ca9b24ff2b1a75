import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client';

/**
 * /metrics of the default start (README "Processes, roles and scaling out"): the API process
 * that answers a scrape adds the registries of its sibling processes — the worker's
 * `email_transitions_total` among them — asked for through the supervisor over node:cluster's
 * IPC channel, and aggregates them as prom-client's cluster mode does (counters and
 * histograms summed; each metric's `aggregator` otherwise).
 */

type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

const ASK = 'email-sender:metrics-ask';
const ANSWER = 'email-sender:metrics-answer';
const COLLECT = 'email-sender:metrics-collect';
const COLLECTED = 'email-sender:metrics-collected';

/** A sibling that does not answer within this (busy, starting, restarting) is left out. */
export const PEER_TIMEOUT_MS = 2000;

interface Message {
  type: string;
  id: number;
  metrics?: MetricsJson[];
}

const isMessage = (m: unknown): m is Message =>
  typeof m === 'object' && m !== null && typeof (m as Message).type === 'string';

/** Supervisor side: relays a child's ask to every other child and answers with their replies. */
export function relayPeerMetrics(timeoutMs = PEER_TIMEOUT_MS): void {
  let nextId = 0;
  const pending = new Map<number, { replies: MetricsJson[]; expected: number; done(): void }>();
  cluster.on('message', (from: Worker, message: unknown) => {
    if (!isMessage(message)) return;
    if (message.type === COLLECTED) {
      const p = pending.get(message.id);
      if (!p) return;
      p.replies.push(...(message.metrics ?? []));
      if (--p.expected === 0) p.done();
      return;
    }
    if (message.type !== ASK) return;
    const peers = Object.values(cluster.workers ?? {}).filter(
      (w): w is Worker => w !== undefined && w !== from && w.isConnected(),
    );
    const id = nextId++;
    const replies: MetricsJson[] = [];
    const done = (): void => {
      clearTimeout(timer);
      pending.delete(id);
      if (from.isConnected()) from.send({ type: ANSWER, id: message.id, metrics: replies });
    };
    const timer = setTimeout(done, timeoutMs);
    pending.set(id, { replies, expected: peers.length, done });
    if (peers.length === 0) return done();
    for (const peer of peers) peer.send({ type: COLLECT, id });
  });
}

/**
 * Child side: answers the supervisor's collect requests with `registry`'s metrics, and
 * `scrape()` returns this process's metrics aggregated with its siblings'.
 */
export class PeerMetrics {
  private nextId = 0;
  private readonly answers = new Map<number, (metrics: MetricsJson[]) => void>();

  constructor(private readonly own: () => Promise<MetricsJson>) {
    process.on('message', (message: unknown) => {
      if (!isMessage(message)) return;
      if (message.type === COLLECT) {
        void this.own().then(
          (metrics) => process.send?.({ type: COLLECTED, id: message.id, metrics: [metrics] }),
          () => process.send?.({ type: COLLECTED, id: message.id, metrics: [] }),
        );
      } else if (message.type === ANSWER) {
        this.answers.get(message.id)?.(message.metrics ?? []);
      }
    });
  }

  async scrape(): Promise<string> {
    const [own, peers] = await Promise.all([this.own(), this.askPeers()]);
    return AggregatorRegistry.aggregate([own, ...peers]).metrics();
  }

  private askPeers(): Promise<MetricsJson[]> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const finish = (metrics: MetricsJson[]): void => {
        clearTimeout(timer);
        this.answers.delete(id);
        resolve(metrics);
      };
      // The supervisor answers within PEER_TIMEOUT_MS; past a little more, scrape alone.
      const timer = setTimeout(() => finish([]), PEER_TIMEOUT_MS + 1000);
      this.answers.set(id, finish);
      if (process.send && process.connected) process.send({ type: ASK, id });
      else finish([]);
    });
  }
}
