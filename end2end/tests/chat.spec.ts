import { expect, test, type Page } from "@playwright/test";

import {
  convLink,
  createRoom,
  freshName,
  message,
  openDm,
  PASSWORD,
  people,
  send,
  signIn,
  setColorScheme,
} from "./helpers";

test("a room message reaches both people; a direct message only its receiver", async ({
  browser,
  baseURL,
}) => {
  const { pages, close } = await people(browser, baseURL, 3);
  const [ann, ben, cat] = pages;
  try {
    const names = [freshName("ann"), freshName("ben"), freshName("cat")];
    await signIn(ann, names[0]);
    await signIn(ben, names[1]);
    await signIn(cat, names[2]);

    const hello = `room hello ${Date.now()}`;
    await send(ann, hello);
    await expect(message(ann, hello)).toHaveAttribute("data-status", "sent");
    await expect(message(ben, hello)).toBeVisible();
    await expect(message(ben, hello).locator(".sender")).toHaveText(names[0]);

    // Ann writes to Ben directly.
    await openDm(ann, names[1]);
    const secret = `just for ben ${Date.now()}`;
    await send(ann, secret);
    await expect(message(ann, secret)).toHaveAttribute("data-status", "sent");

    // Ben is in the lobby: the conversation appears with an unread badge.
    const link = convLink(ben, names[0]);
    await expect(link.getByTestId("unread")).toContainText("1");
    // The tab's title counts it too.
    await expect(ben).toHaveTitle("(1) #lobby · Parley");
    await link.click();
    await expect(ben).toHaveURL(new RegExp(`/c/dm/${names[0]}$`));
    await expect(message(ben, secret)).toBeVisible();
    // Viewing it clears the badge, and the count in the title.
    await expect(convLink(ben, names[0]).getByTestId("unread")).toHaveCount(0);
    await expect(ben).toHaveTitle(`${names[0]} · Parley`);

    // Ben answers; Ann sees it in place.
    const answer = `answer ${Date.now()}`;
    await send(ben, answer);
    await expect(message(ann, answer)).toBeVisible();

    // Cat sees neither direct message anywhere.
    await expect(convLink(cat, names[0])).toHaveCount(0);
    await expect(message(cat, hello)).toBeVisible();
    await expect(message(cat, secret)).toHaveCount(0);
    await cat.goto(`/c/dm/${names[1]}`);
    await expect(cat.getByTestId("conversation-title")).toHaveText(names[1]);
    await expect(cat.getByText("No messages yet. Say hello!")).toBeVisible();
    await expect(message(cat, secret)).toHaveCount(0);
    await expect(message(cat, answer)).toHaveCount(0);
  } finally {
    await close();
  }
});

test("a direct message to someone signed out waits for them with its unread badge", async ({
  browser,
  baseURL,
  request,
}) => {
  const ben = freshName("ben");
  // Ben registers, then is gone: no page of his is open.
  const registered = await request.post("/api/session", {
    data: { username: ben, password: PASSWORD },
  });
  expect(registered.ok()).toBeTruthy();

  const { pages, close } = await people(browser, baseURL, 2);
  try {
    const [annPage, benPage] = pages;
    const ann = freshName("ann");
    await signIn(annPage, ann);
    await openDm(annPage, ben);
    await expect(annPage.getByTestId("conversation-title")).toHaveText(ben);
    const text = `while you were out ${Date.now()}`;
    await send(annPage, text);
    await expect(message(annPage, text)).toHaveAttribute("data-status", "sent");

    await signIn(benPage, ben);
    const link = convLink(benPage, ann);
    await expect(link.getByTestId("unread")).toContainText("1");
    await link.click();
    await expect(message(benPage, text)).toBeVisible();
    await expect(message(benPage, text).locator(".sender")).toHaveText(ann);
    await expect(convLink(benPage, ann).getByTestId("unread")).toHaveCount(0);
  } finally {
    await close();
  }
});

test("rooms can be created, joined and left; unknown names say so", async ({
  browser,
  baseURL,
}) => {
  const { pages, close } = await people(browser, baseURL, 2);
  try {
    const [ann, ben] = pages;
    const annName = freshName("ann");
    await signIn(ann, annName);
    await signIn(ben, freshName("ben"));

    const room = freshName("room").toLowerCase();
    await createRoom(ann, room);
    await expect(ann).toHaveURL(new RegExp(`/c/room/${room}$`));
    await expect(ann.getByTestId("conversation-title")).toHaveText(`#${room}`);
    await expect(convLink(ann, room)).toBeVisible();
    await expect(ann.getByText("1 member")).toBeVisible();

    // Ben follows a link to the room: he must join before he can write.
    await ben.goto(`/c/room/${room}`);
    await expect(ben.getByTestId("conversation-problem")).toContainText(
      "not a member",
    );
    await expect(ben.getByLabel("Message", { exact: true })).toBeDisabled();
    await expect(ben.getByText(`Join #${room} to write here.`)).toBeVisible();
    await ben.getByRole("button", { name: `Join #${room}` }).click();
    await expect(ben.getByLabel("Message", { exact: true })).toBeEnabled();
    await expect(ann.getByText("2 members")).toBeVisible();

    // Who is in the room, with their presence.
    const members = ann.getByTestId("members");
    await members.getByText("2 members").click();
    const list = members.getByRole("list", { name: "Members" });
    await expect(list.getByRole("listitem")).toHaveCount(2);
    await expect(list.getByRole("listitem").filter({ hasText: annName })).toContainText(
      "online",
    );

    const text = `in ${room} ${Date.now()}`;
    await send(ben, text);
    await expect(message(ann, text)).toBeVisible();

    await ben.getByRole("button", { name: "Leave room" }).click();
    await expect(ben).toHaveURL(/\/c\/room\/lobby$/);
    await expect(convLink(ben, room)).toHaveCount(0);
    await expect(ann.getByText("1 member")).toBeVisible();
    // The open list follows: Ben is no longer in it.
    await expect(list.getByRole("listitem")).toHaveCount(1);

    // Addresses that name nothing.
    await ann.goto(`/c/room/${room}-none`);
    await expect(ann.getByTestId("conversation-problem")).toContainText(
      `There is no room #${room}-none`,
    );
    const ghost = freshName("ghost");
    await ann.goto(`/c/dm/${ghost}`);
    await expect(ann.getByTestId("conversation-problem")).toContainText(
      `There is no user “${ghost}”`,
    );
    await expect(ann.getByLabel("Message", { exact: true })).toBeDisabled();

    // Back and forward move between conversations.
    await ann.goBack();
    await expect(ann).toHaveURL(new RegExp(`/c/room/${room}-none$`));
    await ann.goBack();
    await expect(ann).toHaveURL(new RegExp(`/c/room/${room}$`));
    await expect(message(ann, text)).toBeVisible();
    await ann.goForward();
    await expect(ann.getByTestId("conversation-problem")).toBeVisible();
  } finally {
    await close();
  }
});

test("a reload keeps the conversation, with its history from the server", async ({
  page,
}) => {
  const me = freshName("dora");
  await signIn(page, me, "/c/room/lobby");
  await expect(page.getByTestId("conversation-title")).toHaveText("#lobby");
  const first = `note one ${Date.now()}`;
  const second = `note two ${Date.now()}`;
  await send(page, first);
  // Enter sends; Shift+Enter starts a new line.
  const box = page.getByLabel("Message", { exact: true });
  await box.fill("line one");
  await box.press("Shift+Enter");
  await box.pressSequentially(second);
  await box.press("Enter");
  await expect(box).toHaveValue("");
  await expect(message(page, second)).toHaveAttribute("data-status", "sent");
  await expect(message(page, second).locator(".body")).toHaveText(
    `line one\n${second}`,
  );

  await page.reload();
  await expect(page).toHaveURL(/\/c\/room\/lobby$/);
  await expect(page.getByTestId("connection-status")).toHaveAttribute(
    "data-ready-state",
    "open",
  );
  await expect(message(page, first)).toHaveCount(1);
  await expect(message(page, second)).toHaveCount(1);
});

test("scrolling up loads earlier history and keeps the reading position", async ({
  page,
}) => {
  await signIn(page, freshName("ivy"));
  const room = freshName("long").toLowerCase();
  await createRoom(page, room);
  await expect(page.getByTestId("conversation-title")).toHaveText(`#${room}`);

  // Fill the room through a second socket of the same session, below the
  // server's rate limit, and wait for every acknowledgement.
  const acked = await page.evaluate(async (room) => {
    const ws = new WebSocket(`ws://${location.host}/api/ws`);
    await new Promise((resolve) => (ws.onopen = resolve));
    let acks = 0;
    ws.onmessage = (event) => {
      if (JSON.parse(event.data).type === "ack") acks += 1;
    };
    ws.send(JSON.stringify({ type: "hello", version: 1, cursors: [] }));
    for (let i = 1; i <= 70; i++) {
      const body = `history ${String(i).padStart(3, "0")}`;
      ws.send(
        JSON.stringify({ type: "send", client_id: `h-${i}`, conv: { room }, body }),
      );
      await new Promise((resolve) => setTimeout(resolve, 70));
    }
    const deadline = Date.now() + 10_000;
    while (acks < 70 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    ws.close();
    return acks;
  }, room);
  expect(acked).toBe(70);

  await page.reload();
  await expect(message(page, "history 070")).toBeVisible();
  // The newest page only; the oldest messages are a scroll away.
  await expect(message(page, "history 001")).toHaveCount(0);
  const timeline = page.locator(".timeline");
  await timeline.evaluate((el) => {
    el.scrollTop = 0;
    el.dispatchEvent(new Event("scroll"));
  });
  await expect(message(page, "history 001")).toHaveCount(1);
  await expect(message(page, "history 050")).toHaveCount(1);
  await expect(page.getByText("This is the beginning of the conversation.")).toHaveCount(1);
  // The reader stays where they were instead of jumping to the top.
  expect(await timeline.evaluate((el) => el.scrollTop)).toBeGreaterThan(0);
});

test("markup in a message is shown as text and runs nothing; links open safely", async ({
  browser,
  baseURL,
}) => {
  const { pages, close } = await people(browser, baseURL, 2);
  const dialogs: string[] = [];
  for (const page of pages) {
    page.on("dialog", async (dialog) => {
      dialogs.push(dialog.message());
      await dialog.dismiss();
    });
  }
  try {
    const [ann, ben] = pages;
    const annName = freshName("ann");
    const benName = freshName("ben");
    await signIn(ann, annName);
    await signIn(ben, benName);
    await openDm(ann, benName);

    const attack = "<img src=x onerror=alert(1)>";
    await send(ann, attack);
    const link = `see https://example.com/${Date.now()} now`;
    await send(ann, link);
    // One very long word wraps inside its bubble, even 360 px wide.
    const longWord = `w${"o".repeat(300)}rd${Date.now()}`;
    await send(ann, longWord);
    await convLink(ben, annName).click();

    for (const page of [ann, ben]) {
      const row = message(page, attack);
      await expect(row.locator(".body")).toHaveText(attack);
      await expect(page.getByTestId("messages").locator("img")).toHaveCount(0);
      const a = message(page, "see https://example.com/").getByRole("link");
      await expect(a).toHaveAttribute("href", /^https:\/\/example\.com\/\d+$/);
      await expect(a).toHaveAttribute("target", "_blank");
      await expect(a).toHaveAttribute("rel", "noopener noreferrer nofollow");
    }
    await ann.setViewportSize({ width: 360, height: 740 });
    const bubble = message(ann, longWord).locator(".bubble");
    await expect(bubble).toBeVisible();
    const sizes = await bubble.evaluate((el) => ({
      bubble: el.getBoundingClientRect().right,
      timeline: el.closest(".timeline")!.getBoundingClientRect().right,
      overflow: document.documentElement.scrollWidth - window.innerWidth,
    }));
    expect(sizes.bubble).toBeLessThanOrEqual(sizes.timeline);
    expect(sizes.overflow).toBeLessThanOrEqual(0);

    // Give any injected handler its chance by reloading, then check.
    await ben.reload();
    await expect(message(ben, attack).locator(".body")).toHaveText(attack);
    expect(dialogs).toEqual([]);
  } finally {
    await close();
  }
});

test("screenshots: desktop and 360 px, light and dark", async ({
  browser,
  baseURL,
}, testInfo) => {
  const { pages, close } = await people(browser, baseURL, 2);
  try {
    const [ann, ben] = pages;
    const annName = freshName("ann");
    const benName = freshName("ben");
    await signIn(ann, annName);
    await signIn(ben, benName);
    const room = freshName("design").toLowerCase();
    await createRoom(ann, room);
    await expect(ann.getByTestId("conversation-title")).toHaveText(`#${room}`);
    await ben.goto(`/c/room/${room}`);
    await ben.getByRole("button", { name: `Join #${room}` }).click();
    await expect(ben.getByLabel("Message", { exact: true })).toBeEnabled();

    await send(ann, "Morning! The new build is up on staging.");
    await send(ann, "Release notes: https://example.com/parley/notes");
    await expect(message(ben, "Release notes")).toBeVisible();
    await send(ben, "Nice, looking now.");
    await send(
      ben,
      "The sidebar feels much tidier. One nit: the unread badge could be a touch bigger on mobile.",
    );
    await expect(message(ann, "One nit")).toBeVisible();
    // Sender, time and a day separator on screen.
    await expect(ann.getByRole("separator").filter({ hasText: "Today" })).toBeVisible();
    const first = message(ann, "One nit").locator(".message-meta");
    await expect(
      message(ann, "Nice, looking now.").locator(".message-meta .sender"),
    ).toHaveText(benName);
    await expect(message(ann, "Nice, looking now.").locator("time")).toHaveText(/^\d\d:\d\d$/);
    // The second message of a run does not repeat its sender.
    await expect(first).toHaveClass(/visually-hidden/);
    await send(ann, "Good call, I'll bump it.");
    await expect(message(ben, "bump it")).toBeVisible();
    // Something unread in the sidebar.
    await openDm(ben, annName);
    await send(ben, "Lunch later?");
    await ann.getByLabel("Message", { exact: true }).fill("Typing a reply…");

    const shots: [string, number, number, "light" | "dark"][] = [
      ["desktop-light", 1280, 800, "light"],
      ["desktop-dark", 1280, 800, "dark"],
      ["mobile-light", 360, 740, "light"],
      ["mobile-dark", 360, 740, "dark"],
    ];
    const backgrounds = new Map<string, string>();
    for (const [name, width, height, colorScheme] of shots) {
      await ann.setViewportSize({ width, height });
      await setColorScheme(ann, colorScheme);
      backgrounds.set(
        colorScheme,
        await ann.evaluate(() => getComputedStyle(document.body).backgroundColor),
      );
      await expect(convLink(ann, benName).getByTestId("unread")).toBeVisible({
        visible: width > 768,
      });
      const overflow = await ann.evaluate(
        () => document.documentElement.scrollWidth - window.innerWidth,
      );
      expect(overflow).toBeLessThanOrEqual(0);
      await ann.screenshot({ path: testInfo.outputPath(`${name}.png`) });
    }
    // prefers-color-scheme is followed: the two schemes really differ.
    expect(backgrounds.get("dark")).not.toEqual(backgrounds.get("light"));

    // Who is in the room, opened, on a desktop in dark mode.
    await ann.setViewportSize({ width: 1280, height: 800 });
    await ann.getByTestId("members").locator("summary").click();
    await expect(ann.getByRole("list", { name: "Members" })).toBeVisible();
    await ann.screenshot({ path: testInfo.outputPath("desktop-dark-members.png") });
    await ann.getByTestId("members").locator("summary").click();
    await ann.setViewportSize({ width: 360, height: 740 });

    // The sidebar opens behind its button on a narrow screen.
    const menu = ann.getByRole("button", { name: /Conversations/ });
    await menu.click();
    await expect(menu).toHaveAttribute("aria-expanded", "true");
    await expect(convLink(ann, benName)).toBeVisible();
    // Wait for the slide-in to finish before the picture.
    await expect(ann.locator("#sidebar")).toHaveCSS("transform", "none");
    await ann.screenshot({ path: testInfo.outputPath("mobile-dark-sidebar.png") });
    await convLink(ann, benName).click();
    await expect(ann).toHaveURL(new RegExp(`/c/dm/${benName}$`));
    await expect(message(ann, "Lunch later?")).toBeVisible();
  } finally {
    await close();
  }
});
