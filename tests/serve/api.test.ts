/**
 * The page's JSON API (node/serve/api.ts) against a real `parley serve`: transcript pages, the long-poll, posting,
 * and one-sentence errors for bad input.
 */
import { describe, expect, it } from 'vitest';
import { e2eScope } from '../helpers/scope.js';
import { connectHttp, spawnServe } from '../helpers/serve.js';
import type { ParleyNode } from '../../node/service.js';
import type { Message } from '../../node/messages.js';
import type { Transcript } from '../../node/transcript.js';

// The page API's responses (node/serve/api.ts), from the node's own types where the API passes them through.
/** A message as the page gets it: the node's message without `author` and `channel`. */
type PageMessage = Omit<Message, 'author' | 'channel'>;
/** GET /api/channels */
type ChannelsResponse = { me: string } & ReturnType<ParleyNode['listChannels']>;
/**
 * GET /api/channels/:ch/messages (?before): a page of the transcript, oldest first; the newest page carries the cursor.
 */
interface TranscriptPage {
  messages: PageMessage[];
  first: number | null;
  older: boolean;
  cursor?: number;
}
interface NewestPage extends TranscriptPage {
  cursor: number;
}
/** GET /api/channels/:ch/messages?after */
interface AfterPage {
  messages: PageMessage[];
  cursor: number;
  more: boolean;
}
/** POST /api/channels/:ch/messages */
type PostResponse = Awaited<ReturnType<ParleyNode['postMessage']>>;
/** GET /api/channels/:ch/who */
type WhoResponse = ReturnType<ParleyNode['who']>;
/** GET /api/channels/:ch/bots */
interface BotsResponse {
  bots: Record<string, unknown>[];
}
/** GET /api/channels/:ch/marks */
interface MarksResponse {
  marks: Record<string, string | null>;
}
/** POST /api/channels/:ch/verify */
type VerifyResponse = Awaited<ReturnType<ParleyNode['verifyChannel']>>;
/** Any refused request: one sentence. */
interface ErrorResponse {
  error: string;
}

const scope = e2eScope();

describe('page API', () => {
  // Long: one scenario, told step by step.
  it('pages a transcript backwards, long-polls forwards, posts, and refuses bad input in one sentence', async () => {
    const relay = await scope.relay();
    const s = await spawnServe({ relays: [relay.url], env: { PARLEY_RATE_LIMIT_PER_MIN: '100000' } });
    scope.cleanup.push(() => s.stop());
    const agent = await connectHttp(s.url, s.token);
    scope.cleanup.push(() => agent.close());
    const ch = (await agent.call('create_channel', { name: 'paged' })).channel;
    for (let i = 0; i < 150; i++) await agent.call('post_message', { channel: ch, body: `m${i}` });

    /** The response's status and JSON body, typed as the route's response `T` (an error response unless given). */
    const api = async <T = ErrorResponse>(path: string, init: RequestInit = {}) => {
      const res = await fetch(`${s.url}/api${path}`, {
        ...init,
        headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' },
      });
      return { status: res.status, body: (await res.json()) as T };
    };
    const channels = await api<ChannelsResponse>('/channels');
    expect(channels.body.channels.map((c) => c.name)).toEqual(['paged']);
    // A page of the most recent channels, how many there are, and a filter on the name.
    await agent.call('create_channel', { name: 'second' });
    expect((await api<ChannelsResponse>('/channels?limit=1')).body).toMatchObject({
      channels: [{ name: 'second' }],
      total: 2,
    });
    expect((await api<ChannelsResponse>('/channels?match=PAG')).body.channels.map((c) => c.name)).toEqual(['paged']);
    expect(await api('/channels?limit=0')).toEqual({
      status: 400,
      body: { error: 'Invalid request (limit): Too small: expected number to be >=1.' },
    });

    // The newest 100 of 151 deliveries (the creation notice and 150 messages), oldest first.
    const newest = await api<NewestPage>(`/channels/${ch}/messages`);
    expect(newest.body.messages).toHaveLength(100);
    expect(newest.body.messages.at(-1)!.body).toBe('m149');
    expect(newest.body.messages[0].body).toBe('m50');
    expect(newest.body.older).toBe(true);
    const older = await api<TranscriptPage>(`/channels/${ch}/messages?before=${newest.body.first}`);
    expect(older.body.messages.map((m) => m.body)).toEqual([
      'channel "paged" created',
      ...Array.from({ length: 50 }, (_, i) => `m${i}`),
    ]);
    expect(older.body.older).toBe(false);

    // The long-poll returns as soon as a message is posted, from the page's own POST here.
    const waiting = api<AfterPage>(`/channels/${ch}/messages?after=${newest.body.cursor}&wait=20`);
    const posted = await api<PostResponse>(`/channels/${ch}/messages`, {
      method: 'POST',
      body: JSON.stringify({ body: 'from the page' }),
    });
    expect(posted.status).toBe(200);
    expect(posted.body.id).toHaveLength(43);
    const woke = await waiting;
    expect(woke.body.messages.map((m) => m.body)).toEqual(['from the page']);
    expect(woke.body.cursor).toBeGreaterThan(newest.body.cursor);
    // Nothing new: an immediate empty answer with the same cursor.
    expect((await api<AfterPage>(`/channels/${ch}/messages?after=${woke.body.cursor}`)).body).toMatchObject({
      messages: [],
      cursor: woke.body.cursor,
    });

    expect(await api(`/channels/${ch}/messages`, { method: 'POST', body: JSON.stringify({ body: '' }) })).toEqual({
      status: 400,
      body: { error: 'Invalid request (body): the message is empty.' },
    });
    expect((await api(`/channels/${ch}/messages`, { method: 'POST', body: '{not json' })).body).toEqual({
      error: 'The request body is not JSON.',
    });
    expect(
      (await api(`/channels/${ch}/messages`, { method: 'POST', body: JSON.stringify({ body: 'x', extra: 1 }) })).status,
    ).toBe(400);
    expect((await api(`/channels/${ch}/messages?limit=100000`)).body.error).toMatch(/^Invalid request \(limit\): /);
    expect(await api('/channels/nope/who')).toEqual({
      status: 404,
      body: { error: 'Unknown channel "nope"; call list_channels to see the channels you are in.' },
    });
    expect((await api(`/channels/${ch}/nothing`)).status).toBe(404);
    expect((await api<WhoResponse>(`/channels/${ch}/who`)).body.members.map((m) => m.slot)).toEqual(['owner']);
    expect((await api<BotsResponse>(`/channels/${ch}/bots`)).body).toEqual({ bots: [] });
    expect((await api<MarksResponse>(`/channels/${ch}/marks?steps=not-a-step`)).body).toEqual({
      marks: { 'not-a-step': null },
    });
    expect((await api(`/channels/${ch}/marks`)).body.error).toMatch(/^Invalid request \(steps\): /);
    expect((await api<VerifyResponse>(`/channels/${ch}/verify`, { method: 'POST' })).body).toMatchObject({
      ok: true,
      events: 152,
    });
    const exported = await api<Transcript>(`/channels/${ch}/export`);
    expect(exported.body.events).toHaveLength(152);
  });
});
