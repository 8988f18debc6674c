/**
 * The page `parley serve` serves, in a real browser (Debian's Chromium via playwright-core), against a real relay,
 * a real `parley serve` (Alice's always-on node) and a real stdio `parley mcp` (Bob).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { ready } from '../../protocol/sodium.js';
import { spawnRelay, type SpawnedRelay } from '../helpers/relay.js';
import { collectUntil, startNode, type ReadMessage, type TestNode } from '../helpers/mcp.js';
import { connectHttp, spawnServe, type HttpNode, type SpawnedServe } from '../helpers/serve.js';
import { launchBrowser } from '../../dev/browser.js';

let relay: SpawnedRelay;
let serve: SpawnedServe;
let alice: HttpNode;
let bob: TestNode;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
let context: BrowserContext;
let ch: string;

beforeAll(async () => {
  await ready();
  relay = await spawnRelay();
  [serve, bob, browser] = await Promise.all([
    spawnServe({ relays: [relay.url], env: { PARLEY_RATE_LIMIT_PER_MIN: '100000' } }),
    startNode({ relays: [relay.url] }),
    launchBrowser(),
  ]);
  context = browser.context;
  alice = await connectHttp(serve.url, serve.token);
  const created = await alice.call('create_channel', {
    name: 'page room',
    slots: ['invite:bob', 'bot:echo'],
    bot: { preset: 'echo' },
    display_name: 'Alice',
  });
  ch = created.channel;
  await bob.call('join_channel', { invite_code: created.invites['invite:bob'], display_name: 'Bob' });
});

afterAll(async () => {
  await browser?.close();
  await alice?.close();
  await bob?.close();
  await serve?.stop();
  await relay?.stop();
});

async function open(url: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(url);
  return page;
}

describe('the web page', () => {
  it(
    "shows the channel, a stdio node's message without reload, the bot output's verification, and posts " + 'back',
    async () => {
      const page = await open(serve.page);
      await page.getByRole('button', { name: 'page room' }).waitFor();
      await page.locator('#title', { hasText: 'page room' }).waitFor();
      // The token left the address bar once read.
      expect(page.url()).toBe(`${serve.url}/`);

      await bob.call('post_message', { channel: ch, body: 'hello from bob' });
      const line = page.locator('#transcript li', { hasText: 'hello from bob' }).first();
      await line.waitFor({ timeout: 10_000 });
      expect(await line.locator('.from').textContent()).toBe('Bob');

      // The echo bot answers; Alice's node replays the step and the page shows it verified.
      const echo = page.locator('#transcript li', { hasText: 'Bob said: hello from bob' });
      await echo.locator('.badge.verified').waitFor({ timeout: 15_000 });
      await page.locator('#bots li', { hasText: 'bot:echo' }).waitFor();
      expect(await page.locator('#bots li').first().textContent()).toMatch(
        /runner owner.*steps \d+: \d+ verified, 0 pending, 0 mismatches/s,
      );
      await page.locator('#who li', { hasText: 'Bob' }).waitFor();

      await page.locator('#body').fill('hello from the page');
      await page.locator('#body').press('Enter');
      const seen = await collectUntil(bob, ch, (all) => all.some((m) => m.body === 'hello from the page'));
      expect(seen.find((m) => m.body === 'hello from the page')).toMatchObject({ from: 'owner', kind: 'chat' });
      await page.locator('#transcript li', { hasText: 'hello from the page' }).first().waitFor();

      await page.getByRole('button', { name: 'Verify channel' }).click();
      await page.locator('#verify-result', { hasText: /^OK: \d+ events authenticated/ }).waitFor({ timeout: 15_000 });

      // PARLEY_SCREENSHOTS=DIR keeps a picture of the page for a human to look at (docs/serve.md describes one).
      if (process.env.PARLEY_SCREENSHOTS)
        await page.screenshot({ path: `${process.env.PARLEY_SCREENSHOTS}/page-desktop.png`, fullPage: true });

      const download = page.waitForEvent('download');
      await page.getByRole('button', { name: 'Download export' }).click();
      expect((await download).suggestedFilename()).toBe('page_room.parley.json');
      await page.close();
    },
  );

  it('is readable at phone width and usable from the keyboard', async () => {
    const page = await open(serve.page);
    await page.setViewportSize({ width: 375, height: 740 });
    await page.locator('#title', { hasText: 'page room' }).waitFor();
    // Nothing wider than the screen.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    // Tab reaches the channel filter, then the channel button; the post box is reachable and sends with Enter.
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('channel-filter');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('page room');
    await page.locator('#body').focus();
    await page.keyboard.type('typed at phone width');
    await page.keyboard.press('Enter');
    await collectUntil(bob, ch, (all) => all.some((m) => m.body === 'typed at phone width'));
    if (process.env.PARLEY_SCREENSHOTS)
      await page.screenshot({ path: `${process.env.PARLEY_SCREENSHOTS}/page-phone.png`, fullPage: true });
    await page.close();
  });

  it('switches channels, and loads older messages of a long one on request', async () => {
    const long = (await alice.call('create_channel', { name: 'long room' })).channel as string;
    for (let i = 0; i < 120; i++) await alice.call('post_message', { channel: long, body: `line ${i}` });
    const page = await open(serve.page);
    await page.getByRole('button', { name: 'long room' }).click();
    await page.locator('#transcript li:last-child', { hasText: 'line 119' }).waitFor();
    // The newest 100 deliveries only, until asked.
    expect(await page.locator('#transcript li').count()).toBe(100);
    await page.getByRole('button', { name: 'Load older messages' }).click();
    await page.locator('#transcript li:first-child', { hasText: 'channel "long room" created' }).waitFor();
    expect(await page.locator('#transcript li').count()).toBe(121);
    expect(await page.getByRole('button', { name: 'Load older messages' }).isHidden()).toBe(true);
    // Back and forth: the live transcript follows the channel shown, whatever was open before.
    await page.getByRole('button', { name: 'page room' }).click();
    await page.getByRole('button', { name: 'long room' }).click();
    await alice.call('post_message', { channel: long, body: 'after switching' });
    await page.locator('#transcript li:last-child', { hasText: 'after switching' }).waitFor();
    await page.close();
  });

  it(
    "shows a hidden-information bot's outputs pending until its seed is revealed, then " + 'verified, without reload',
    async () => {
      // Bob's node runs the bot and holds its seed; Alice's node (the page's) can only verify once it is revealed.
      const created = await bob.call('create_channel', {
        name: 'guess room',
        slots: ['invite:alice', 'bot:guess'],
        bot: { preset: 'guess' },
        display_name: 'Bob',
      });
      const game = created.channel as string;
      await alice.call('join_channel', { invite_code: created.invites['invite:alice'], display_name: 'Alice' });
      const page = await open(serve.page);
      await page.getByRole('button', { name: 'guess room' }).click();
      await page.locator('#transcript li', { hasText: '· commitment' }).waitFor({ timeout: 15_000 });

      // Alice plays over HTTP by binary search until the bot says "correct" and reveals its number.
      let [lo, hi, cursor] = [1, 100, undefined as string | undefined];
      for (let guesses = 0; ; guesses++) {
        expect(guesses).toBeLessThan(8);
        const g = Math.floor((lo + hi) / 2);
        await alice.call('post_message', { channel: game, kind: 'guess', body: String(g) });
        let hint: ReadMessage | undefined;
        while (!hint) {
          const r = await alice.call('sync_messages', { channel: game, cursor, limit: 500, wait_seconds: 10 });
          if (r.messages.length === 0) throw new Error('no hint from the bot');
          cursor = r.cursor;
          hint = r.messages.find((m) => m.from === 'bot:guess' && m.kind === 'hint');
        }
        if (guesses === 0 && hint.body !== 'correct') {
          // Before the reveal the page says pending, not verified.
          await page
            .locator('#transcript li', { hasText: '· hint' })
            .first()
            .locator('.badge.pending')
            .waitFor({ timeout: 10_000 });
        }
        if (hint.body === 'correct') break;
        if (hint.body === 'higher') lo = g + 1;
        else hi = g - 1;
      }
      await page.locator('#transcript li', { hasText: '· reveal' }).waitFor({ timeout: 15_000 });
      // Every output shown as pending turns verified on the page once the seed is out.
      await page.waitForFunction(
        () => document.querySelectorAll('#transcript .badge.pending, #transcript .badge.checking').length === 0,
        undefined,
        { timeout: 15_000 },
      );
      const badges = await page.locator('#transcript li', { hasText: '· hint' }).locator('.badge').allTextContents();
      expect(badges.length).toBeGreaterThan(0);
      expect(new Set(badges)).toEqual(new Set(['verified']));
      expect(await page.locator('#transcript .badge.mismatch').count()).toBe(0);
      await page.close();
    },
  );

  it('filters the channel list by name', async () => {
    await alice.call('create_channel', { name: 'filter target' });
    const page = await open(serve.page);
    await page.getByRole('button', { name: 'page room' }).waitFor();
    await page.getByRole('searchbox', { name: 'Filter channels by name' }).fill('TARGET');
    await page.getByRole('button', { name: 'page room' }).waitFor({ state: 'detached' });
    expect(await page.locator('#channels button').allTextContents()).toEqual(['filter target']);
    await page.getByRole('searchbox', { name: 'Filter channels by name' }).fill('nothing like it');
    await page.locator('#channels', { hasText: "No channel's name contains “nothing like it”." }).waitFor();
    await page.getByRole('searchbox', { name: 'Filter channels by name' }).fill('');
    await page.getByRole('button', { name: 'page room' }).waitFor();
    await page.close();
  });

  it('says clearly when the token is wrong or missing', async () => {
    const wrong = await open(`${serve.url}/#token=not-the-token`);
    await wrong
      .locator('#error', { hasText: 'Access denied: the token in this link is wrong or out of date' })
      .waitFor();
    expect(await wrong.locator('#app').isHidden()).toBe(true);
    await wrong.close();
    const none = await open(`${serve.url}/`);
    await none.locator('#error', { hasText: 'No access token' }).waitFor();
    await none.close();
  });
});
