/** Relay counters and gauges, rendered in the Prometheus text exposition format (version 0.0.4) for GET /metrics. */

export class RelayMetrics {
  /** Open WebSocket connections (gauge). */
  connections = 0;
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
    const metric = (name: string, type: 'gauge' | 'counter', help: string, lines: string[]) =>
      [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines];
    const refused = [...this.refused.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([reason, n]) => `parley_relay_updates_refused_total{reason="${escapeLabel(reason)}"} ${n}`);
    return [
      ...metric('parley_relay_connections', 'gauge', 'Open WebSocket connections.', [`parley_relay_connections ${this.connections}`]),
      ...metric('parley_relay_rooms', 'gauge', 'Rooms loaded in memory.', [`parley_relay_rooms ${this.rooms}`]),
      ...metric('parley_relay_updates_accepted_total', 'counter', 'Update messages that passed validation.', [
        `parley_relay_updates_accepted_total ${this.updatesAccepted}`,
      ]),
      ...metric('parley_relay_entries_stored_total', 'counter', 'New log entries stored.', [
        `parley_relay_entries_stored_total ${this.entriesStored}`,
      ]),
      ...metric('parley_relay_updates_refused_total', 'counter', 'Refused updates, messages and connections, by reason.', refused),
      ...metric('parley_relay_bytes_in_total', 'counter', 'WebSocket message bytes received.', [`parley_relay_bytes_in_total ${this.bytesIn}`]),
      ...metric('parley_relay_bytes_out_total', 'counter', 'WebSocket message bytes sent.', [`parley_relay_bytes_out_total ${this.bytesOut}`]),
    ].join('\n') + '\n';
  }
}

const escapeLabel = (s: string): string => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
