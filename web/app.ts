/**
 * The page `parley serve` serves at `/`: plain DOM, no framework, no CDN. The token comes in the link's fragment
 * (`#token=…`, never sent to the server), is kept in sessionStorage and sent as a bearer header to /api. The open
 * channel shows its newest page of messages and long-polls for more; older pages load on demand. Message text is
 * only ever set with textContent: bodies come from other people's agents.
 *
 * Over 400 lines: the page is served as the single file /app.js (node/serve/http.ts), with no bundler.
 */
export {};

interface Message {
  id: string;
  seq: number;
  from: string;
  from_name: string;
  kind: string;
  body: string;
  to?: string;
  ts: number;
  verification?: 'verified' | 'pending' | 'mismatch' | 'unverifiable';
}
interface Channel {
  channel: string;
  name: string;
  slot: string;
  epoch: number;
  closed: boolean;
  relays: { url: string; connected: boolean }[];
}
interface Member {
  slot: string;
  name: string;
  role?: string;
  is_bot: boolean;
  online: boolean;
  status?: string;
  note?: string;
}
interface Bot {
  slot: string;
  code_hash: string;
  runner_slot: string;
  runner_is_neutral: boolean;
  engine: string;
  state: string;
  steps: number;
  verified: number;
  pending: number;
  mismatches: number;
  secret: boolean;
}

const TOKEN_KEY = 'parley.token';
const CHANNEL_KEY = 'parley.channel';
/** How often the channel list and `who` refresh on their own (ms); new messages arrive by long-poll instead. */
const REFRESH_MS = 5_000;
/** The channel list asks again this long after the last key typed in its filter. */
const FILTER_DELAY_MS = 250;
/** How often bot outputs still being checked ask for their verification (ms). */
const MARKS_MS = 1_000;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const el = <K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

class Unauthorized extends Error {}

function takeToken(): string | null {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    // Out of the address bar, so a screen share or a copied link does not carry it.
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function showError(text: string): void {
  const box = $('error');
  box.textContent = text;
  box.hidden = false;
}

const token = takeToken();

async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(path, {
    ...init,
    headers: {
      ...(init.headers ?? {}),
      authorization: `Bearer ${token}`,
      ...(init.body ? { 'content-type': 'application/json' } : {}),
    },
  });
  if (res.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    showError(
      'Access denied: the token in this link is wrong or out of date. Open the link that `parley serve` printed ' +
        '(http://HOST:PORT/#token=…); the token is also in $PARLEY_HOME/serve.token.',
    );
    $('app').hidden = true;
    throw new Unauthorized();
  }
  const data = (await res.json().catch(() => ({ error: `The server answered ${res.status}.` }))) as T & {
    error?: string;
  };
  if (!res.ok) throw new Error(data.error ?? `The server answered ${res.status}.`);
  return data;
}

const state = {
  channels: [] as Channel[],
  open: null as string | null,
  /** Bumped on every channel switch: loops of the previous channel see it and stop. */
  generation: 0,
  /** Aborts the previous channel's long-poll: a browser keeps only six connections per server. */
  following: null as AbortController | null,
  first: null as number | null,
  cursor: 0,
  /** Bot step ids shown as still being checked, and the list items showing them. */
  unsettled: new Map<string, HTMLElement[]>(),
};

function timeOf(ts: number): string {
  const d = new Date(ts);
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

function badge(v: Message['verification'] | 'checking'): HTMLElement {
  const labels = {
    verified: 'verified',
    pending: 'pending',
    mismatch: 'MISMATCH',
    unverifiable: 'unverifiable',
    checking: 'checking',
  };
  const b = el('span', `badge ${v}`, labels[v ?? 'checking']);
  b.title =
    v === 'verified'
      ? 'your node replayed this bot step and got the same output'
      : v === 'pending'
        ? 'the bot has hidden information: verified once its seed is revealed'
        : v === 'mismatch'
          ? 'your node replayed this step and got a different output: the runner cheated or erred'
          : v === 'unverifiable'
            ? 'this step cannot be replayed here'
            : 'your node is replaying this step';
  return b;
}

const stepOf = (m: Message) => m.id.replace(/:\d+$/, '');

function renderMessage(m: Message): HTMLLIElement {
  const li = el('li');
  li.dataset.seq = String(m.seq);
  const notice = ['join', 'leave', 'status', 'system'].includes(m.kind);
  if (notice) li.classList.add('notice');
  const meta = el('div', 'meta');
  meta.append(el('span', 'from', m.from_name), ` (${m.from})`);
  if (m.kind !== 'chat' && !notice) meta.append(` · ${m.kind}`);
  if (m.to) meta.append(` → ${m.to}`);
  const time = el('time', undefined, ` · ${timeOf(m.ts)}`);
  time.dateTime = new Date(m.ts).toISOString();
  meta.append(time);
  if (m.from.startsWith('bot:')) {
    const b = badge(m.verification ?? 'checking');
    meta.append(b);
    if (m.verification === undefined || m.verification === 'pending') {
      const list = state.unsettled.get(stepOf(m)) ?? [];
      list.push(b);
      state.unsettled.set(stepOf(m), list);
    }
  }
  li.append(meta, el('div', 'body', m.body));
  return li;
}

function nearBottom(box: HTMLElement): boolean {
  return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
}

function append(messages: Message[]): void {
  if (messages.length === 0) return;
  const box = $('transcript-box');
  const stick = nearBottom(box);
  const frag = document.createDocumentFragment();
  for (const m of messages) frag.append(renderMessage(m));
  $('transcript').append(frag);
  if (stick) box.scrollTop = box.scrollHeight;
}

async function loadChannels(): Promise<void> {
  const match = $<HTMLInputElement>('channel-filter').value.trim();
  const query = match ? `?match=${encodeURIComponent(match)}` : '';
  const r = await api<{ me: string; channels: Channel[]; total: number }>(`/api/channels${query}`);
  // A filter typed meanwhile asks again: this answer is for an older one.
  if (match !== $<HTMLInputElement>('channel-filter').value.trim()) return;
  $('me').textContent = `node ${r.me.slice(0, 8)}`;
  state.channels = r.channels;
  const ul = $('channels');
  ul.replaceChildren(
    ...r.channels.map((c) => {
      const li = el('li');
      const b = el('button', undefined, c.name);
      b.type = 'button';
      b.dataset.channel = c.channel;
      b.setAttribute('aria-current', String(c.channel === state.open));
      b.title = `${c.channel} · you are ${c.slot}${c.closed ? ' · closed' : ''}`;
      b.addEventListener('click', () => void openChannel(c.channel));
      li.append(b);
      return li;
    }),
  );
  if (r.channels.length === 0) {
    const none = match
      ? `No channel's name contains “${match}”.`
      : 'No channels yet: create or join one from an agent.';
    ul.append(el('li', 'muted', none));
  }
  $('channels-more').textContent =
    r.total > r.channels.length
      ? `${r.channels.length} of ${r.total}, most recent first: filter to find the others.`
      : '';
  if (state.open === null && r.channels.length > 0) {
    const saved = sessionStorage.getItem(CHANNEL_KEY);
    await openChannel(r.channels.some((c) => c.channel === saved) ? saved! : r.channels[0].channel);
  }
}

async function openChannel(ch: string): Promise<void> {
  const gen = ++state.generation;
  state.following?.abort();
  const following = new AbortController();
  state.following = following;
  state.open = ch;
  state.unsettled.clear();
  sessionStorage.setItem(CHANNEL_KEY, ch);
  document.querySelectorAll<HTMLButtonElement>('#channels button').forEach((b) => {
    b.setAttribute('aria-current', String(b.dataset.channel === ch));
  });
  const c = state.channels.find((x) => x.channel === ch);
  $('title').textContent = c ? c.name : ch;
  $('transcript').replaceChildren();
  $('verify-result').textContent = '';
  const page = await api<{ messages: Message[]; first: number | null; older: boolean; cursor: number }>(
    `/api/channels/${encodeURIComponent(ch)}/messages`,
  );
  if (gen !== state.generation) return;
  state.first = page.first;
  state.cursor = page.cursor;
  $('older').hidden = !page.older;
  append(page.messages);
  const box = $('transcript-box');
  box.scrollTop = box.scrollHeight;
  void refreshSide(ch);
  void follow(ch, gen, following.signal);
}

/** The long-poll: each answer carries what arrived after the cursor, at once if something already had. */
async function follow(ch: string, gen: number, signal: AbortSignal): Promise<void> {
  let failures = 0;
  while (gen === state.generation) {
    try {
      const r = await api<{ messages: Message[]; cursor: number }>(
        `/api/channels/${encodeURIComponent(ch)}/messages?after=${state.cursor}&wait=25`,
        { signal },
      );
      if (gen !== state.generation) return;
      state.cursor = r.cursor;
      append(r.messages);
      if (r.messages.length > 0) void refreshSide(ch);
      failures = 0;
    } catch (err) {
      if (err instanceof Unauthorized || signal.aborted) return;
      // The server restarted or the network blinked: back off, then carry on from the same cursor.
      failures++;
      await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** failures)));
    }
  }
}

async function loadOlder(): Promise<void> {
  if (state.open === null || state.first === null) return;
  const gen = state.generation;
  const page = await api<{ messages: Message[]; first: number | null; older: boolean }>(
    `/api/channels/${encodeURIComponent(state.open)}/messages?before=${state.first}`,
  );
  if (gen !== state.generation) return;
  const box = $('transcript-box');
  const from = box.scrollHeight - box.scrollTop;
  const frag = document.createDocumentFragment();
  for (const m of page.messages) frag.append(renderMessage(m));
  $('transcript').prepend(frag);
  state.first = page.first ?? state.first;
  $('older').hidden = !page.older;
  box.scrollTop = box.scrollHeight - from;
}

async function refreshSide(ch: string): Promise<void> {
  const [who, bots] = await Promise.all([
    api<{ members: Member[]; waiting: { slot: string; name: string }[] }>(
      `/api/channels/${encodeURIComponent(ch)}/who`,
    ),
    api<{ bots: Bot[] }>(`/api/channels/${encodeURIComponent(ch)}/bots`),
  ]);
  if (ch !== state.open) return;
  $('who').replaceChildren(
    ...who.members.map((m) => {
      const li = el('li');
      li.append(
        el('span', m.online ? 'dot on' : 'dot'),
        el('strong', undefined, m.name),
        ` (${m.slot}${m.role && m.role !== 'member' && m.role !== m.slot ? `, ${m.role}` : ''}) ` +
          `· ${m.online ? 'online' : 'offline'}`,
      );
      if (m.status) li.append(el('div', 'muted', `${m.status}${m.note ? `: ${m.note}` : ''}`));
      return li;
    }),
    ...who.waiting.map((w) => el('li', 'muted', `${w.name} (${w.slot}) waits to be admitted`)),
  );
  $('bots').replaceChildren(
    ...(bots.bots.length === 0
      ? [el('li', 'muted', 'No bots in this channel.')]
      : bots.bots.map((b) => {
          const li = el('li');
          li.append(el('strong', undefined, b.slot), ` · ${b.state}`);
          const hash = el('div', 'muted');
          hash.append('code ', el('code', undefined, `${b.code_hash.slice(0, 16)}…`));
          hash.title = `sha256 ${b.code_hash}`;
          li.append(
            hash,
            el(
              'div',
              'muted',
              `runner ${b.runner_slot}${b.runner_is_neutral ? ' (neutral)' : ''}${b.secret ? ' · hidden state' : ''}`,
            ),
          );
          li.append(
            el(
              'div',
              b.mismatches > 0 ? 'badge mismatch' : 'muted',
              `steps ${b.steps}: ${b.verified} verified, ${b.pending} pending, ${b.mismatches} mismatches`,
            ),
          );
          return li;
        })),
  );
}

/** Bot outputs shown as checking or pending: ask for their verification until each settles. */
async function settleMarks(): Promise<void> {
  const ch = state.open;
  if (ch === null || state.unsettled.size === 0) return;
  const steps = [...state.unsettled.keys()].slice(0, 200);
  const r = await api<{ marks: Record<string, Message['verification'] | null> }>(
    `/api/channels/${encodeURIComponent(ch)}/marks?steps=${steps.map(encodeURIComponent).join(',')}`,
  );
  if (ch !== state.open) return;
  for (const [step, mark] of Object.entries(r.marks)) {
    if (!mark) continue;
    const shown = (state.unsettled.get(step) ?? []).map((b) => {
      if (b.classList.contains(mark)) return b;
      const next = badge(mark);
      b.replaceWith(next);
      return next;
    });
    if (mark === 'pending') state.unsettled.set(step, shown);
    else state.unsettled.delete(step);
  }
}

async function post(ev: Event): Promise<void> {
  ev.preventDefault();
  const area = $<HTMLTextAreaElement>('body');
  const status = $('post-status');
  const body = area.value.trim();
  if (!body || state.open === null) return;
  const button = document.querySelector<HTMLButtonElement>('#post button')!;
  button.disabled = true;
  status.className = '';
  status.textContent = 'Sending…';
  try {
    const r = await api<{ id: string; redacted: string[]; warning?: string }>(
      `/api/channels/${encodeURIComponent(state.open)}/messages`,
      { method: 'POST', body: JSON.stringify({ body }) },
    );
    area.value = '';
    status.textContent = r.warning ?? (r.redacted.length > 0 ? `Sent; redacted: ${r.redacted.join(', ')}.` : 'Sent.');
  } catch (err) {
    status.className = 'bad';
    status.textContent = (err as Error).message;
  } finally {
    button.disabled = false;
    area.focus();
  }
}

async function verify(): Promise<void> {
  if (state.open === null) return;
  const out = $('verify-result');
  out.textContent = 'Verifying…';
  try {
    const r = await api<{
      ok: boolean;
      events: number;
      bots: { slot: string; steps: number; verified: number; pending: number; mismatches: number }[];
      problems: string[];
    }>(`/api/channels/${encodeURIComponent(state.open)}/verify`, { method: 'POST' });
    out.textContent = [
      `${r.ok ? 'OK' : 'PROBLEMS FOUND'}: ${r.events} events authenticated`,
      ...r.bots.map(
        (b) => `${b.slot}: ${b.steps} steps, ${b.verified} verified, ${b.pending} pending, ${b.mismatches} mismatches`,
      ),
      ...r.problems.map((p) => `problem: ${p}`),
    ].join('\n');
  } catch (err) {
    out.textContent = (err as Error).message;
  }
}

async function exportChannel(): Promise<void> {
  if (state.open === null) return;
  const res = await fetch(`/api/channels/${encodeURIComponent(state.open)}/export`, {
    headers: { authorization: `Bearer ${token}` },
  });
  if (!res.ok) {
    $('verify-result').textContent = `Export failed (${res.status}).`;
    return;
  }
  const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? 'channel.parley.json';
  const url = URL.createObjectURL(await res.blob());
  const a = el('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function start(): void {
  if (!token) {
    showError(
      'No access token: open this page with the link `parley serve` printed (http://HOST:PORT/#token=…); the token ' +
        'is in $PARLEY_HOME/serve.token.',
    );
    return;
  }
  $('app').hidden = false;
  $('post').addEventListener('submit', (ev) => void post(ev));
  $('body').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      $<HTMLFormElement>('post').requestSubmit();
    }
  });
  $('older').addEventListener('click', () => void loadOlder());
  $('verify').addEventListener('click', () => void verify());
  $('export').addEventListener('click', () => void exportChannel());
  const ignore = (err: unknown) => {
    if (!(err instanceof Unauthorized)) console.warn(err);
  };
  let filtering: ReturnType<typeof setTimeout> | undefined;
  $('channel-filter').addEventListener('input', () => {
    clearTimeout(filtering);
    filtering = setTimeout(() => loadChannels().catch(ignore), FILTER_DELAY_MS);
  });
  loadChannels().catch((err) => {
    if (!(err instanceof Unauthorized)) showError(`Could not load the channels: ${(err as Error).message}`);
  });
  setInterval(() => {
    loadChannels().catch(ignore);
    if (state.open) refreshSide(state.open).catch(ignore);
  }, REFRESH_MS);
  setInterval(() => settleMarks().catch(ignore), MARKS_MS);
}

start();
