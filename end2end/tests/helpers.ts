import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer as createNetServer } from "node:net";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { test as base, expect, type Browser, type Page } from "@playwright/test";

// Every test signs up fresh users, so runs never depend on each other or on
// what an earlier run left in the database.
export function freshName(prefix: string): string {
  const suffix =
    Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
  return `${prefix}_${suffix}`.slice(0, 32);
}

export const PASSWORD = "correct horse battery staple";

/** Load `path`, wait for hydration, sign in and wait until the socket is open. */
export async function signIn(
  page: Page,
  username: string,
  path = "/",
): Promise<void> {
  await page.goto(path);
  await expect(page.locator('[data-hydrated="true"]')).toHaveCount(1);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();

  const status = page.getByTestId("connection-status");
  await expect(status).toHaveAttribute("data-ready-state", "open");
  await expect(status).toHaveText("Online");
}

/** Write `text` in the composer and send it with the button. */
export async function send(page: Page, text: string): Promise<void> {
  const box = page.getByLabel("Message", { exact: true });
  await box.fill(text);
  await page.getByRole("button", { name: "Send", exact: true }).click();
  await expect(box).toHaveValue("");
}

/**
 * The message rows whose own text shows `text` (not only the quote of a
 * message they answer, whose text is `.quote-body`).
 */
export function message(page: Page, text: string) {
  return page.getByTestId("message").filter({ has: page.locator(".body", { hasText: text }) });
}

/** The sidebar. */
export function sidebar(page: Page) {
  return page.getByRole("navigation", { name: "Conversations" });
}

/** A conversation's link in the sidebar (not the online list) (direct conversations are named by the other person). */
export function convLink(page: Page, name: string | RegExp) {
  return page.getByTestId("conversations").getByRole("link", { name }).first();
}

/** Open the direct conversation with `user` from the sidebar form. */
export async function openDm(page: Page, user: string): Promise<void> {
  await page.getByLabel("Message someone").fill(user);
  await page.getByRole("button", { name: "Open", exact: true }).click();
  await expect(page).toHaveURL(new RegExp(`/c/dm/${user}$`));
  await expect(page.getByTestId("conversation-title")).toHaveText(user);
}

/** Separate browser contexts, one per person; closed by the caller. */
export async function people(
  browser: Browser,
  baseURL: string | undefined,
  n: number,
) {
  const contexts = await Promise.all(
    Array.from({ length: n }, () => browser.newContext({ baseURL })),
  );
  const pages = await Promise.all(contexts.map((c) => c.newPage()));
  return {
    pages,
    close: () => Promise.all(contexts.map((c) => c.close())),
  };
}

/**
 * Create a room with the sidebar's "New room" dialog and wait until it is
 * on screen.
 */
export async function createRoom(
  page: Page,
  room: string,
  options: { topic?: string; private?: boolean; title?: string } = {},
): Promise<void> {
  await sidebar(page).getByRole("button", { name: "New room" }).click();
  const dialog = page.getByRole("dialog", { name: "New room" });
  await dialog.getByLabel("Name").fill(room);
  if (options.title) await dialog.getByLabel("Title, in any language (optional)").fill(options.title);
  if (options.topic) await dialog.getByLabel("Topic (optional)").fill(options.topic);
  if (options.private) await dialog.getByLabel("Private: only people you invite").check();
  await dialog.getByRole("button", { name: "Create room" }).click();
  await expect(page).toHaveURL(new RegExp(`/c/room/${room}$`));
  await expect(page.getByLabel("Message", { exact: true })).toBeEnabled();
}

/** Find a room in the directory and join it; wait until one can write in it. */
export async function joinRoom(page: Page, room: string): Promise<void> {
  await sidebar(page).getByRole("button", { name: "Browse rooms" }).click();
  const dialog = page.getByRole("dialog", { name: "Browse rooms" });
  await dialog.getByLabel("Search rooms").fill(room);
  await dialog.getByRole("button", { name: `Join #${room}` }).click();
  await expect(page).toHaveURL(new RegExp(`/c/room/${room}$`));
  await expect(page.getByLabel("Message", { exact: true })).toBeEnabled();
}

/**
 * Sign two people in as fresh users and put them in a fresh room of their
 * own (the first creates it, the second joins); both end up looking at it.
 */
export async function meetInRoom(
  first: Page,
  second: Page,
  prefix: string,
): Promise<{ names: [string, string]; room: string }> {
  const names: [string, string] = [freshName("ann"), freshName("ben")];
  await signIn(first, names[0]);
  await signIn(second, names[1]);
  const room = freshName(prefix).toLowerCase();
  await createRoom(first, room);
  await joinRoom(second, room);
  return { names, room };
}

/** Make the page look hidden (another tab in front) or visible again. */
export async function setHidden(page: Page, hidden: boolean): Promise<void> {
  await page.evaluate((hidden) => {
    Object.defineProperty(document, "hidden", {
      configurable: true,
      get: () => hidden,
    });
    Object.defineProperty(document, "visibilityState", {
      configurable: true,
      get: () => (hidden ? "hidden" : "visible"),
    });
    document.dispatchEvent(new Event("visibilitychange", { bubbles: true }));
  }, hidden);
}

/**
 * Post `bodies` to `room` through a second socket of `page`'s session,
 * paced below the server's rate limit, and wait for every acknowledgement.
 */
export async function postMany(page: Page, room: string, bodies: string[]): Promise<void> {
  const acked = await page.evaluate(
    async ({ room, bodies }) => {
      const ws = new WebSocket(`ws://${location.host}/api/ws`);
      await new Promise((resolve) => (ws.onopen = resolve));
      let acks = 0;
      ws.onmessage = (event) => {
        if (JSON.parse(event.data).type === "ack") acks += 1;
      };
      ws.send(JSON.stringify({ type: "hello", version: 1, cursors: [] }));
      for (const [i, body] of bodies.entries()) {
        ws.send(
          JSON.stringify({ type: "send", client_id: `bulk-${Date.now()}-${i}`, conv: { room }, body }),
        );
        await new Promise((resolve) => setTimeout(resolve, 70));
      }
      const deadline = Date.now() + 10_000;
      while (acks < bodies.length && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      ws.close();
      return acks;
    },
    { room, bodies },
  );
  expect(acked).toBe(bodies.length);
}

/** The actions of a message row (shown on hover or keyboard focus). */
export async function messageAction(page: Page, text: string, action: string) {
  const row = message(page, text);
  await row.hover();
  await row.getByRole("group", { name: "Message actions" }).getByRole("button", { name: action }).click();
}

/** Open a message's "⋯" menu and pick `item`. */
export async function menuAction(page: Page, text: string, item: string) {
  const row = message(page, text);
  await row.hover();
  await row.getByRole("button", { name: "More actions" }).click();
  await row.getByRole("menu").getByRole("menuitem", { name: item }).click();
}

/** Two people in separate browser contexts (`pair`), closed after the test. */
export const test = base.extend<{ pair: [Page, Page] }>({
  pair: async ({ browser, baseURL }, use) => {
    const { pages, close } = await people(browser, baseURL, 2);
    await use([pages[0], pages[1]]);
    await close();
  },
});

export const DELETED = "This message was deleted";

/** The tombstones of deleted messages. */
export function tombstones(page: Page) {
  return page.getByTestId("message").filter({ has: page.locator(".tombstone") });
}

/** The reaction chip `emoji` under the message showing `text`. */
export function chip(page: Page, text: string, emoji: string) {
  return message(page, text)
    .getByRole("group", { name: "Reactions" })
    .getByRole("button", { name: new RegExp(`^${emoji}`) });
}

/** Edit one's message showing `text` in place to say `body`. */
export async function editMessage(page: Page, text: string, body: string) {
  await messageAction(page, text, "Edit");
  const editor = page.getByRole("textbox", { name: "Edit message" });
  await expect(editor).toBeFocused();
  await editor.fill(body);
  await editor.press("Enter");
  await expect(editor).toHaveCount(0);
}

/** Delete one's message showing `text`, confirming in the dialog. */
export async function deleteMessage(page: Page, text: string) {
  await menuAction(page, text, "Delete");
  await page
    .getByRole("dialog", { name: "Delete message" })
    .getByRole("button", { name: "Delete" })
    .click();
}

/** React to the message showing `text` with a picker's `emoji`. */
export async function react(page: Page, text: string, emoji: string) {
  await messageAction(page, text, "Add reaction");
  const picker = page.getByRole("dialog", { name: "Add reaction" });
  await picker.getByRole("button", { name: emoji }).click();
  await expect(picker).toHaveCount(0);
}

/** Switch the colour scheme and wait until its transitions have ended. */
export async function setColorScheme(page: Page, scheme: "light" | "dark") {
  await page.emulateMedia({ colorScheme: scheme });
  // Transitions only: an infinite animation (the connecting dot) never ends.
  // A transition cancelled on the way (its element changed again) rejects
  // `finished` with AbortError: it is over too.
  await page.evaluate(() =>
    Promise.all(
      document
        .getAnimations()
        .filter((a) => a instanceof CSSTransition)
        .map((a) => a.finished.catch(() => undefined)),
    ),
  );
}

/**
 * The seed document's two pages (`/group`, `/direct`), served as they are
 * by a tiny static server of the test's own, with their WebSocket address
 * pointed at the server under test (`baseURL`).
 */
export async function startSeedPages(
  baseURL: string,
): Promise<{ url: string; close: () => Promise<void> }> {
  const host = new URL(baseURL).host;
  const page = (name: string) =>
    readFileSync(path.join(__dirname, "fixtures", `seed-${name}.html`), "utf8")
      .replace("ws://127.0.0.1:9527/ws", `ws://${host}/ws`)
      .replace("ws://192.168.12.87:9527/ws/", `ws://${host}/ws/`);
  const server = createServer((request, response) => {
    const name = request.url === "/direct" ? "direct" : request.url === "/group" ? "group" : "";
    if (!name) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(page(name));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The seed pages keep their socket in the global `ws`; wait until it is open. */
export async function seedSocketOpen(page: Page): Promise<void> {
  await page.waitForFunction(() => (window as unknown as { ws?: WebSocket }).ws?.readyState === 1);
}

/**
 * A server of a spec's own: the release binary `cargo leptos` built, on a
 * free port and a database file of the spec's, for specs that stop and
 * start it, or need no other test's people around.
 */
const root = path.join(__dirname, "..", "..");

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

export class OwnServer {
  private child?: ChildProcess;
  constructor(
    readonly port: number,
    private readonly db: string,
  ) {}

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.child = spawn(
      // Where `cargo leptos build --release` put it.
      path.join(process.env.CARGO_TARGET_DIR ?? path.join(root, "target"), "release", "server"),
      [
        "--addr",
        `127.0.0.1:${this.port}`,
        "--database-url",
        `sqlite://${this.db}`,
        "--signin-per-ip-per-min",
        "10000",
      ],
      {
        cwd: root,
        env: { ...process.env, LEPTOS_SITE_ROOT: "target/site", RUST_LOG: "warn" },
        stdio: ["ignore", "inherit", "inherit"],
      },
    );
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      try {
        const response = await fetch(`${this.url}/healthz`);
        if (response.ok) return;
      } catch {
        // not up yet
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error("the server did not start");
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  }
}
