import { expect, test } from "@playwright/test";

import {
  createRoom,
  freshName,
  message,
  people,
  postMany,
  send,
  setColorScheme,
  signIn,
} from "./helpers";

test("search for a Chinese phrase, and jump to the message with the history around it", async ({
  browser,
  baseURL,
}, testInfo) => {
  test.setTimeout(120_000);
  const { pages, close } = await people(browser, baseURL, 1);
  const [page] = pages;
  try {
    await signIn(page, freshName("ann"));
    const room = freshName("docs").toLowerCase();
    await createRoom(page, room);
    await send(page, "before the note");
    const note = "服务器的离线消息盒子会保存消息";
    await send(page, note);
    await send(page, "right after the note");
    // Far more than a page after it: the result opens a window of history.
    const filler = Array.from({ length: 300 }, (_, i) => `filler line ${i}.`);
    await postMany(page, room, filler);
    await expect(message(page, "filler line 299.")).toBeVisible();
    // A fresh page holds only the newest messages: the note is far back.
    await page.reload();
    await expect(page.getByTestId("connection-status")).toHaveText("Online");
    await expect(message(page, "filler line 299.")).toBeVisible();
    await expect(message(page, note)).toHaveCount(0);

    // The keyboard opens the search.
    await page.locator("body").press("Control+k");
    const dialog = page.getByRole("dialog", { name: "Search messages" });
    await expect(dialog).toBeVisible();
    const input = dialog.getByLabel("Search messages");
    await expect(input).toBeFocused();
    await input.fill(`消息 in:#${room}`);
    await input.press("Enter");
    const results = dialog.getByTestId("search-results").getByRole("button");
    await expect(results).toHaveCount(1);
    await expect(dialog.getByTestId("search-status")).toHaveText("1 message");
    // The two-character word is found inside the longer run, and marked.
    await expect(results.first().locator("mark")).toHaveText(["消息", "消息"]);
    await expect(results.first()).toContainText(`#${room}`);
    for (const [size, width, height] of [
      ["desktop", 1280, 800],
      ["360", 360, 740],
    ] as const) {
      await page.setViewportSize({ width, height });
      for (const scheme of ["light", "dark"] as const) {
        await setColorScheme(page, scheme);
        await page.screenshot({ path: testInfo.outputPath(`search-${size}-${scheme}.png`) });
      }
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    await setColorScheme(page, "light");

    await results.first().click();
    await expect(dialog).toBeHidden();
    // The message is on screen with what was said before and after it.
    const found = message(page, note);
    await expect(found).toBeInViewport();
    await expect(message(page, "before the note")).toHaveCount(1);
    await expect(message(page, "right after the note")).toHaveCount(1);
    await expect(message(page, "filler line 10.")).toHaveCount(1);
    // Not the newest messages: a window, which says so.
    await expect(message(page, "filler line 299.")).toHaveCount(0);
    const banner = page.getByRole("status").filter({ hasText: "You are reading older messages." });
    await expect(banner).toBeVisible();
    await page.getByRole("button", { name: "Jump to the newest" }).click();
    await expect(banner).toBeHidden();
    await expect(message(page, "filler line 299.")).toBeVisible();
  } finally {
    await close();
  }
});

test("a search for a nearby message joins the timeline, and a bad query says why", async ({
  browser,
  baseURL,
}) => {
  const { pages, close } = await people(browser, baseURL, 1);
  const [page] = pages;
  try {
    await signIn(page, freshName("ben"));
    const room = freshName("near").toLowerCase();
    await createRoom(page, room);
    const word = `zebra${Date.now().toString(36)}`;
    await send(page, `the ${word} crossed the WebSocket长连接`);
    await send(page, "something else");

    await page.getByRole("button", { name: "Search messages" }).click();
    const dialog = page.getByRole("dialog", { name: "Search messages" });
    const input = dialog.getByLabel("Search messages");
    await input.fill("before:someday");
    await input.press("Enter");
    await expect(dialog.getByTestId("search-status")).toContainText("is not a date");
    // Typing searches by itself after a pause.
    await input.fill(`websocket长连接 ${word}`);
    const results = dialog.getByTestId("search-results").getByRole("button");
    await expect(results).toHaveCount(1);
    await expect(results.first().locator("mark")).toHaveText([word, "WebSocket长连接"]);
    await results.first().click();
    await expect(message(page, word)).toBeInViewport();
    // Already in the timeline: no window.
    await expect(page.getByRole("button", { name: "Jump to the newest" })).toHaveCount(0);
    await page.keyboard.press("/");
    await expect(dialog).toBeVisible();
    await page.keyboard.press("Escape");
    await expect(dialog).toBeHidden();
  } finally {
    await close();
  }
});
