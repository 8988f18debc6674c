/**
 * The JSON API behind the web page: channels, transcript pages, a long-poll for new messages, who, bots, verify,
 * export and posting. Every input is parsed with zod; failures are one sentence in `{error}` with a 4xx status.
 * Authentication and the Host/Origin checks happen before a request reaches this module (node/serve/http.ts).
 *
 *   GET  /api/channels?match&limit                  → {me, channels, total}: the most recent activity first
 *   GET  /api/channels/:ch/messages?before&limit    → the newest page, or the page before a delivery number
 *   GET  /api/channels/:ch/messages?after&wait      → messages after a delivery number; waits up to `wait` s for one
 *   GET  /api/channels/:ch/marks?steps=a,b          → the current verification of bot steps shown as pending
 *   GET  /api/channels/:ch/who                      → members, online state, status
 *   GET  /api/channels/:ch/bots                     → each bot's code hash, runner, steps verified
 *   POST /api/channels/:ch/verify                   → verify_channel's result
 *   GET  /api/channels/:ch/export                   → the signed transcript `parley export` writes
 *   POST /api/channels/:ch/messages {body, kind?}   → post as this node's identity
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { ParleyNode } from '../service.js';
import type { BotHooks } from '../mcp.js';
import type { Channel } from '../channel.js';
import { parseStoredBody } from '../channel.js';
import { renderEvent, type Message } from '../messages.js';
import { buildTranscript } from '../transcript.js';
import { ToolError } from '../errors.js';
import { SlotNameSchema } from '../payloads.js';

/** Messages per transcript page: enough to fill a screen, small enough that a long channel opens at once. */
export const PAGE_LIMIT_DEFAULT = 100;
export const PAGE_LIMIT_MAX = 500;
/** Channels the page lists at once, the most recent activity first; its filter (`match`) finds the others. */
export const CHANNELS_SHOWN = 200;
/** The longest a long-poll waits (seconds): under common proxy idle timeouts. */
export const WAIT_MAX_SECONDS = 25;
/** Largest request body the API reads (bytes): a message body is at most 50 kB by default. */
export const API_BODY_LIMIT_BYTES = 256 * 1024;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const Dnum = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const PageQuery = z.object({
  before: Dnum.optional(),
  after: Dnum.optional(),
  limit: z.coerce.number().int().min(1).max(PAGE_LIMIT_MAX).optional(),
  wait: z.coerce.number().min(0).max(WAIT_MAX_SECONDS).optional(),
});
const ChannelsQuery = z.object({
  match: z.string().min(1).max(200).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});
const MarksQuery = z.object({ steps: z.string().max(64 * 1024) });
const PostBody = z
  .object({
    body: z.string().min(1, 'the message is empty'),
    kind: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z0-9_.:-]+$/, 'kind may hold letters, digits and _ . : -')
      .optional(),
    to: SlotNameSchema.optional(),
  })
  .strict();

/** One sentence from a zod failure: the first issue, with where it was. */
function zodSentence(err: z.ZodError): string {
  const issue = err.issues[0];
  const where = issue.path.length > 0 ? ` (${issue.path.join('.')})` : '';
  return `Invalid request${where}: ${issue.message}.`;
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new HttpError(400, zodSentence(r.error));
  return r.data;
}

export function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(text);
}

export async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, `The request body is larger than ${limit} bytes.`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** What the page shows of a message: the agent's full shape minus the author key (the page shows slots and names). */
type PageMessage = Omit<Message, 'author' | 'channel'>;

export class PageApi {
  constructor(
    private readonly node: ParleyNode,
    private readonly bots: BotHooks,
  ) {}

  /** Routes one request under /api; returns false when no route matched. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL, signal: AbortSignal): Promise<boolean> {
    const parts = url.pathname.split('/').slice(2).map(decodeURIComponent);
    const query = Object.fromEntries(url.searchParams);
    const method = req.method ?? 'GET';
    if (parts.length === 1 && parts[0] === 'channels' && method === 'GET') {
      const q = parse(ChannelsQuery, query);
      const listed = this.node.listChannels({ match: q.match, limit: q.limit ?? CHANNELS_SHOWN });
      sendJson(res, 200, { me: this.node.me, ...listed });
      return true;
    }
    if (parts.length !== 3 || parts[0] !== 'channels') return false;
    const [, ref, what] = parts;
    const c = this.channel(ref);
    const route = `${method} ${what}`;
    switch (route) {
      case 'GET messages': {
        const q = parse(PageQuery, query);
        if (q.after !== undefined)
          sendJson(res, 200, await this.after(c, q.after, q.limit ?? PAGE_LIMIT_MAX, q.wait ?? 0, signal));
        else sendJson(res, 200, this.before(c, q.before, q.limit ?? PAGE_LIMIT_DEFAULT));
        return true;
      }
      case 'POST messages': {
        const body = parse(PostBody, jsonOf(await readBody(req, API_BODY_LIMIT_BYTES)));
        sendJson(res, 200, await this.tool('post_message', c, () => this.node.postMessage({ channel: c.ch, ...body })));
        return true;
      }
      case 'GET marks': {
        const steps = parse(MarksQuery, query).steps.split(',').filter(Boolean).slice(0, 1000);
        const marks: Record<string, string | null> = {};
        for (const s of steps) marks[s] = this.node.stepVerification(c, s) ?? null;
        sendJson(res, 200, { marks });
        return true;
      }
      case 'GET who':
        sendJson(res, 200, this.node.who({ channel: c.ch }));
        return true;
      case 'GET bots':
        sendJson(res, 200, { bots: this.botInfos(c) });
        return true;
      case 'POST verify':
        sendJson(res, 200, await this.tool('verify_channel', c, () => this.node.verifyChannel({ channel: c.ch })));
        return true;
      case 'GET export':
        this.sendExport(res, c);
        return true;
      default:
        return false;
    }
  }

  /** The channel's bots as get_bot describes them, without their code (the page does not show it). */
  private botInfos(c: Channel) {
    return c.bots.slots().map((slot) => {
      const { code: _code, ...info } = this.bots.getBot({ channel: c.ch, slot });
      return info;
    });
  }

  /** The channel's transcript as a download, as `parley export` writes it. */
  private sendExport(res: ServerResponse, c: Channel): void {
    const store = this.node.store;
    const transcript = buildTranscript(c.ch, c.row.name, store.deliveredAll(c.ch), store.refusedAll(c.ch));
    const file = `${c.row.name.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 60) || 'channel'}.parley.json`;
    sendJson(res, 200, transcript, { 'content-disposition': `attachment; filename="${file}"` });
    this.node.audit('web:export', c.ch, 'ok');
  }

  private channel(ref: string): Channel {
    try {
      return this.node.channel(ref);
    } catch (err) {
      if (err instanceof ToolError) throw new HttpError(404, err.message);
      throw err;
    }
  }

  /** Runs a node operation for the page, audited like a tool call under a `web:` name. */
  private tool<T>(name: string, c: Channel, run: () => T): T {
    try {
      const out = run();
      if (out instanceof Promise) {
        return out.then(
          (v) => {
            this.node.audit(`web:${name}`, c.ch, 'ok');
            return v;
          },
          (err) => {
            this.node.audit(`web:${name}`, c.ch, `error: ${(err as Error).message}`);
            throw err;
          },
        ) as T;
      }
      this.node.audit(`web:${name}`, c.ch, 'ok');
      return out;
    } catch (err) {
      this.node.audit(`web:${name}`, c.ch, `error: ${(err as Error).message}`);
      throw err;
    }
  }

  private render(c: Channel, rows: { dnum: number; id: string; body: string }[]): PageMessage[] {
    const ctx = this.node.renderContext(c);
    const out: PageMessage[] = [];
    for (const r of rows) {
      for (const m of renderEvent(r.dnum, r.id, parseStoredBody(r), ctx)) {
        const { author: _a, channel: _c, ...shown } = m;
        out.push(shown);
      }
    }
    return out;
  }

  /**
   * The newest `limit` deliveries (or those before `before`), oldest first. The page opens a long channel with one
   * such page and asks for older ones as the reader scrolls up, so opening costs the same at 10 or 10,000 messages.
   */
  private before(c: Channel, before: number | undefined, limit: number) {
    const rows = this.node.store.db
      .prepare(`SELECT dnum, id, body FROM delivered WHERE ch = ? AND dnum < ? ORDER BY dnum DESC LIMIT ?`)
      .all(c.ch, before ?? Number.MAX_SAFE_INTEGER, limit + 1) as { dnum: number; id: string; body: string }[];
    const older = rows.length > limit;
    const page = rows.slice(0, limit).reverse();
    const cursor = before === undefined ? (page.at(-1)?.dnum ?? this.node.store.maxDnum()) : undefined;
    return {
      messages: this.render(c, page),
      first: page[0]?.dnum ?? null,
      older,
      ...(cursor !== undefined ? { cursor } : {}),
    };
  }

  /**
   * Deliveries after `after`; with `wait`, holds the request until one arrives (or the time is up, or the page leaves).
   */
  private async after(c: Channel, after: number, limit: number, wait: number, signal: AbortSignal) {
    const deadline = Date.now() + wait * 1000;
    for (;;) {
      const rows = this.node.store.messagesSince(c.ch, after, limit + 1);
      const page = rows.slice(0, limit);
      const cursor = page.at(-1)?.dnum ?? after;
      if (page.length > 0 || Date.now() >= deadline || signal.aborted) {
        return { messages: this.render(c, page), cursor, more: rows.length > limit };
      }
      await delivered(this.node, c.ch, deadline - Date.now(), signal);
    }
  }
}

function jsonOf(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'The request body is not JSON.');
  }
}

/** Resolves at the node's next delivery in `ch` (or any, when another process of the profile stored), or after `ms`. */
function delivered(node: ParleyNode, ch: string, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      node.off('delivered', on);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const on = (which: string | null) => (which === null || which === ch) && done();
    const timer = setTimeout(done, Math.max(0, ms));
    node.on('delivered', on);
    signal.addEventListener('abort', done);
  });
}
