import { expect, test, type WebSocketRoute } from "@playwright/test";

import {
  meetInRoom,
  message,
  people,
  send,
} from "./helpers";

/** Ann's chat socket, routed through the test so it can fail on purpose. */
const SOCKET = /\/api\/ws$/;

test("a connection that goes silent is caught by the heartbeat and replaced, losing nothing", async ({
  browser,
  baseURL,
}) => {
  test.setTimeout(60_000);
  const { pages, close } = await people(browser, baseURL, 2);
  const [ann, ben] = pages;
  try {
    // Every socket of Ann's passes through here; `silent` drops all traffic
    // both ways without closing anything, like a dead NAT mapping: the
    // browser keeps calling the socket open.
    const links: { silent: boolean; closedByPage: boolean }[] = [];
    await ann.routeWebSocket(SOCKET, (ws) => {
      const link = { silent: false, closedByPage: false };
      links.push(link);
      const server = ws.connectToServer();
      ws.onMessage((m) => {
        if (!link.silent) server.send(m);
      });
      server.onMessage((m) => {
        if (!link.silent) ws.send(m);
      });
      ws.onClose((code, reason) => {
        link.closedByPage = true;
        void server.close({ code, reason });
      });
    });
    // Ann's timers are the test's, so that the heartbeat's 25 s pass at once.
    await ann.clock.install();

    await meetInRoom(ann, ben, "quiet");

    const before = `before the silence ${Date.now()}`;
    await send(ann, before);
    await expect(message(ben, before)).toHaveCount(1);
    expect(links).toHaveLength(1);

    links[0].silent = true;
    const during = `written into the silence ${Date.now()}`;
    await send(ann, during);
    const status = ann.getByTestId("connection-status");
    // The browser cannot tell: the socket is still "open", the message waits.
    await expect(status).toHaveAttribute("data-ready-state", "open");
    await expect(message(ann, during)).toHaveAttribute("data-status", "sending");

    // A ping every 15 s, a pong due within 10 s: past both, the client gives
    // up on the silent socket and opens a new one.
    await ann.clock.runFor(26_000);
    await expect.poll(() => links[0].closedByPage).toBe(true);
    await expect.poll(() => links.length).toBe(2);
    await expect(status).toHaveAttribute("data-ready-state", "open");
    await expect(status).toHaveText("Online");

    // The message lost on the silent socket went out again, once.
    await expect(message(ann, during)).toHaveAttribute("data-status", "sent");
    await expect(message(ben, during)).toHaveCount(1);
    const after = `after the silence ${Date.now()}`;
    await send(ben, after);
    await expect(message(ann, after)).toHaveCount(1);
    for (const page of [ann, ben]) {
      for (const text of [before, during, after]) {
        await expect(message(page, text)).toHaveCount(1);
      }
    }
  } finally {
    await close();
  }
});

test("a message written offline survives a reload and is sent once, after it", async ({
  browser,
  baseURL,
}) => {
  test.setTimeout(60_000);
  const { pages, close } = await people(browser, baseURL, 2);
  const [ann, ben] = pages;
  try {
    // While `unreachable`, every socket Ann opens is closed at once, as if
    // the server could not be reached.
    let unreachable = false;
    let current: WebSocketRoute | undefined;
    await ann.routeWebSocket(SOCKET, (ws) => {
      if (unreachable) {
        void ws.close({ code: 1011, reason: "unreachable (test)" });
        return;
      }
      ws.connectToServer();
      current = ws;
    });

    const { names } = await meetInRoom(ann, ben, "later");

    unreachable = true;
    await current?.close({ code: 1001, reason: "going away (test)" });
    const status = ann.getByTestId("connection-status");
    await expect(status).toHaveAttribute("data-ready-state", /closed|connecting/);

    const offline = `written offline ${Date.now()}`;
    await send(ann, offline);
    await expect(message(ann, offline)).toHaveAttribute("data-status", "sending");

    // Reloaded while the server is still out of reach: the message is
    // still there, waiting (it can only have come from this tab's storage).
    await ann.reload();
    await expect(ann.locator('[data-hydrated="true"]')).toHaveCount(1);
    await expect(message(ann, offline)).toHaveAttribute("data-status", "sending");
    await expect(ann.getByText("You are offline. 1 message waits to be sent.")).toBeVisible();
    await expect(message(ben, offline)).toHaveCount(0);

    unreachable = false;
    await expect(status).toHaveAttribute("data-ready-state", "open", {
      timeout: 30_000,
    });
    await expect(message(ann, offline)).toHaveAttribute("data-status", "sent");
    await expect(message(ben, offline)).toHaveCount(1);

    // Sent, so no longer kept; another reload shows it once, from the server.
    const kept = await ann.evaluate(
      (user) => sessionStorage.getItem(`parley.outbox.${user.toLowerCase()}`),
      names[0],
    );
    expect(kept).toBeNull();
    await ann.reload();
    await expect(message(ann, offline)).toHaveAttribute("data-status", "sent");
    await expect(message(ann, offline)).toHaveCount(1);
    await expect(message(ben, offline)).toHaveCount(1);
  } finally {
    await close();
  }
});
