/** Relay counters and gauges, rendered in the Prometheus text exposition format (version 0.0.4) for GET /metrics. */

/** Bucket bounds of the latency histograms, in seconds. */
const BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A Prometheus histogram (cumulative buckets in seconds, sum, count). */
export class Histogram {
  readonly counts = new Array<number>(BUCKETS.length).fill(0);
  count = 0;
  sum = 0;

  observe(ms: number): void {
    const seconds = Math.max(0, ms) / 1000;
    this.count++;
    this.sum += seconds;
    const i = BUCKETS.findIndex((b) => seconds <= b);
    if (i >= 0) this.counts[i]++;
  }

  lines(name: string): string[] {
    let cumulative = 0;
    const buckets = BUCKETS.map((b, i) => {
      cumulative += this.counts[i];
      return `${name}_bucket{le="${b}"} ${cumulative}`;
    });
    return [
      ...buckets,
      `${name}_bucket{le="+Inf"} ${this.count}`,
      `${name}_sum ${this.sum}`,
      `${name}_count ${this.count}`,
    ];
  }
}

export class RelayMetrics {
  /** Open WebSocket connections (gauge). */
  connections = 0;
  /** Rooms open over multiplexed connections (gauge; each also counts as a room's connection). */
  roomLinks = 0;
  /** Rooms loaded in memory (gauge). */
  rooms = 0;
  /** Update messages that passed validation (including those holding only duplicates). */
  updatesAccepted = 0;
  /** New entries stored. */
  entriesStored = 0;
  /** Refused updates, connections and messages, by reason. */
  readonly refused = new Map<string, number>();
  bytesIn = 0;
  bytesOut = 0;
  /** 1 while the store takes writes, 0 while it is away (PostgreSQL restarting, network). */
  storeUp = 1;
  /** Transitions of the store to unavailable. */
  storeOutages = 0;
  /** 1 while the last append failed with a write error (disk full, I/O), 0 once one succeeds. */
  writesFailing = 0;
  /** Bytes of entry values in the store, as the disk quota sees them (gauge). */
  storedBytes = 0;
  /** Time to commit one append (one batch: the updates a room received in one event-loop turn), from this process. */
  readonly appendLatency = new Histogram();
  /** Time from another process's append to its entries being forwarded here (shared store only). */
  readonly notifyLag = new Histogram();

  observeAppend(ms: number): void {
    this.appendLatency.observe(ms);
  }

  observeNotifyLag(ms: number): void {
    this.notifyLag.observe(ms);
  }

  refuse(reason: string): void {
    this.refused.set(reason, (this.refused.get(reason) ?? 0) + 1);
  }

  refusedTotal(reason?: string): number {
    if (reason !== undefined) return this.refused.get(reason) ?? 0;
    let n = 0;
    for (const v of this.refused.values()) n += v;
    return n;
  }

  render(): string {
    const refused = [...this.refused.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([reason, n]) => `parley_relay_updates_refused_total{reason="${escapeLabel(reason)}"} ${n}`);
    const lines = [
      ...single('parley_relay_connections', 'gauge', 'Open WebSocket connections.', this.connections),
      ...single('parley_relay_mux_rooms', 'gauge', 'Rooms open over multiplexed connections.', this.roomLinks),
      ...single('parley_relay_rooms', 'gauge', 'Rooms loaded in memory.', this.rooms),
      ...single(
        'parley_relay_updates_accepted_total',
        'counter',
        'Update messages that passed validation.',
        this.updatesAccepted,
      ),
      ...single('parley_relay_entries_stored_total', 'counter', 'New log entries stored.', this.entriesStored),
      ...metric(
        'parley_relay_updates_refused_total',
        'counter',
        'Refused updates, messages and connections, by reason.',
        refused,
      ),
      ...single('parley_relay_bytes_in_total', 'counter', 'WebSocket message bytes received.', this.bytesIn),
      ...single('parley_relay_bytes_out_total', 'counter', 'WebSocket message bytes sent.', this.bytesOut),
      ...single(
        'parley_relay_store_up',
        'gauge',
        '1 while the store takes writes, 0 while it is unavailable.',
        this.storeUp,
      ),
      ...single(
        'parley_relay_store_outages_total',
        'counter',
        'Times the store became unavailable.',
        this.storeOutages,
      ),
      ...single(
        'parley_relay_store_writes_failing',
        'gauge',
        '1 while appends fail with a write error (disk full), 0 once one succeeds.',
        this.writesFailing,
      ),
      ...single(
        'parley_relay_stored_bytes',
        'gauge',
        'Bytes of entry values stored, as the disk quota counts them.',
        this.storedBytes,
      ),
      ...this.histograms(),
    ];
    return lines.join('\n') + '\n';
  }

  private histograms(): string[] {
    return [
      ...metric(
        'parley_relay_append_seconds',
        'histogram',
        'Time to commit one append (one batch of updates).',
        this.appendLatency.lines('parley_relay_append_seconds'),
      ),
      ...metric(
        'parley_relay_notification_lag_seconds',
        'histogram',
        "Time from another instance's append to its entries being forwarded here.",
        this.notifyLag.lines('parley_relay_notification_lag_seconds'),
      ),
    ];
  }
}

type MetricType = 'gauge' | 'counter' | 'histogram';

/** One metric in the Prometheus text format: its help and type lines, then its samples. */
const metric = (name: string, type: MetricType, help: string, lines: string[]): string[] => [
  `# HELP ${name} ${help}`,
  `# TYPE ${name} ${type}`,
  ...lines,
];

/** A metric with one unlabelled sample. */
const single = (name: string, type: MetricType, help: string, value: number | string): string[] =>
  metric(name, type, help, [`${name} ${value}`]);

const escapeLabel = (s: string): string => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
