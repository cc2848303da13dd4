import { expect, type Page } from "@playwright/test";

import {
  createRoom,
  freshName,
  joinRoom,
  message,
  openDm,
  PASSWORD,
  send,
  setColorScheme,
  signIn,
  test,
} from "./helpers";

/**
 * One person's network breaks WebSocket: every upgrade to `/api/ws` is
 * cut (Playwright's `routeWebSocket` closes it before the server says a
 * word) until `unblock()`. Nothing tells the app: its own code has to
 * notice and long-poll. `attempts` counts the sockets it tried.
 */
async function blockWebSocket(page: Page) {
  const state = { blocked: true, attempts: 0 };
  await page.routeWebSocket(/\/api\/ws$/, (ws) => {
    state.attempts += 1;
    if (state.blocked) {
      ws.close({ code: 1011, reason: "blocked by the test's proxy" });
    } else {
      ws.connectToServer();
    }
  });
  return state;
}

/** Sign in on a page that will long-poll. */
async function signInPolling(page: Page, username: string) {
  await page.goto("/");
  await expect(page.locator('[data-hydrated="true"]')).toHaveCount(1);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expectPolling(page);
}

async function expectPolling(page: Page) {
  const status = page.getByTestId("connection-status");
  await expect(status).toHaveAttribute("data-transport", "long-polling", { timeout: 20_000 });
  await expect(status).toHaveAttribute("data-ready-state", "open");
  await expect(status).toHaveText("Online · long-polling");
}

test("WebSocket blocked: the page long-polls, chats both ways, and moves back to a socket losing and doubling nothing", async ({
  pair: [ann, ben],
}, testInfo) => {
  test.setTimeout(150_000);
  const network = await blockWebSocket(ann);
  const annName = freshName("ann");
  const benName = freshName("ben");
  await signInPolling(ann, annName);
  expect(network.attempts).toBeGreaterThanOrEqual(2);
  await signIn(ben, benName);

  // A room, both ways, over long-polling on one side and a socket on the other.
  const room = freshName("poll").toLowerCase();
  await createRoom(ann, room);
  await joinRoom(ben, room);
  // Typing and presence travel over long-polling too.
  await ann.getByLabel("Message", { exact: true }).fill("typing over HTTP");
  await expect(ben.getByTestId("typing")).toHaveText(`${annName} is typing…`);
  await ann.getByLabel("Message", { exact: true }).fill("");
  await expect(
    ben.getByRole("navigation", { name: "Conversations" }).getByText(annName).first(),
  ).toBeVisible();

  await send(ann, "sent by long-polling");
  await expect(message(ben, "sent by long-polling")).toHaveCount(1);
  await expect(message(ann, "sent by long-polling")).toHaveAttribute("data-status", "sent");
  await send(ben, "received by long-polling");
  await expect(message(ann, "received by long-polling")).toHaveCount(1);

  // A direct conversation.
  await openDm(ben, annName);
  await send(ben, "a direct word");
  await ann.getByTestId("conversations").getByRole("link", { name: benName }).first().click();
  await expect(message(ann, "a direct word")).toHaveCount(1);
  await send(ann, "a direct answer");
  await expect(message(ben, "a direct answer")).toHaveCount(1);

  for (const scheme of ["light", "dark"] as const) {
    for (const [size, width, height] of [
      ["desktop", 1280, 800],
      ["360", 360, 740],
    ] as const) {
      await ann.setViewportSize({ width, height });
      await setColorScheme(ann, scheme);
      await ann.screenshot({ path: testInfo.outputPath(`long-polling-${size}-${scheme}.png`) });
    }
  }
  await ann.setViewportSize({ width: 1280, height: 800 });

  // A reload remembers: the page long-polls before it tries any socket.
  const order: string[] = [];
  ann.on("request", (request) => {
    if (request.url().includes("/api/poll")) order.push("poll");
  });
  ann.on("websocket", () => order.push("websocket"));
  await ann.reload();
  await expectPolling(ann);
  expect(order[0]).toBe("poll");

  // The network lets WebSocket through again. A message sent now is held
  // on its way (its POST waits) until the page has moved to a socket:
  // the socket's `welcome` sends it again from the outbox, the held POST
  // then arrives too, and it must still be stored and shown once.
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  await ann.route(/\/api\/poll\?tab=/, async (route) => {
    if (route.request().method() === "POST" && route.request().postData()?.includes("around the switch")) {
      await released;
    }
    await route.continue();
  });
  network.blocked = false;
  await send(ann, "around the switch");
  const status = ann.getByTestId("connection-status");
  await expect(status).toHaveAttribute("data-transport", "websocket", { timeout: 60_000 });
  await expect(status).toHaveText("Online");
  release();
  await expect(message(ann, "around the switch")).toHaveAttribute("data-status", "sent");
  await send(ben, "after the switch");
  await expect(message(ann, "after the switch")).toHaveCount(1);
  await send(ann, "over the socket again");
  await expect(message(ben, "over the socket again")).toHaveCount(1);
  // Everything arrived once, in order, on both sides.
  for (const page of [ann, ben]) {
    await expect(message(page, "around the switch")).toHaveCount(1);
    const bodies = await page.getByTestId("message").locator(".body").allTextContents();
    const ours = bodies.filter((b) =>
      ["a direct word", "a direct answer", "around the switch", "after the switch", "over the socket again"].some(
        (t) => b.includes(t),
      ),
    );
    expect(ours).toEqual([
      "a direct word",
      "a direct answer",
      "around the switch",
      "after the switch",
      "over the socket again",
    ]);
  }
  // And after a reload the page no longer long-polls.
  await ann.reload();
  await expect(status).toHaveText("Online");
  await expect(status).toHaveAttribute("data-transport", "websocket");
});
