import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { expect, type Page } from "@playwright/test";

import {
  chip,
  convLink,
  createRoom,
  freePort,
    joinRoom,
  message,
  messageAction,
  OwnServer,
  PASSWORD,
  people,
  react,
  send,
  setColorScheme,
  test,
} from "./helpers";

/**
 * The README's screenshots (`docs/screenshot.png`, and
 * `docs/screenshot-360.png` beside it): a real-looking conversation
 * between named people, made by the product itself, so they stay true.
 * It shows formatted text, a reply, reactions, a mention, Chinese text, an
 * unread badge, someone typing and the connection status. A server of its
 * own (a fresh database) keeps other tests' people out of the picture.
 * Every run saves them among its results; with `PARLEY_README_SHOTS=1` it
 * also writes them into `docs/`.
 */

/** Sign in as `handle` (registering it, shown as `display`, the first time). */
async function enter(page: Page, handle: string, display: string) {
  const answer = await page.request.post("/api/session", {
    data: { username: handle, password: PASSWORD, display_name: display },
  });
  expect(answer.ok()).toBeTruthy();
  await page.goto("/");
  await expect(page.locator('[data-hydrated="true"]')).toHaveCount(1);
  await expect(page.getByTestId("connection-status")).toHaveText("Online");
  await expect(page.locator(".topbar .user-name")).toHaveText(display);
}

test("README screenshots: a conversation between named people, desktop and 360 px", async ({
  browser,
}, testInfo) => {
  test.setTimeout(90_000);
  const dir = mkdtempSync(path.join(tmpdir(), "parley-readme-"));
  const server = new OwnServer(await freePort(), path.join(dir, "readme.db"));
  await server.start();
  const { pages, close } = await people(browser, server.url, 4);
  try {
    const [mei, lucas, amara, sofia] = pages;
    await enter(mei, "mei", "Mei Chen");
    await enter(lucas, "lucas", "Lucas Martin");
    await enter(amara, "amara", "Amara Okafor");
    await enter(sofia, "sofia", "Sofía García");

    const room = "launch";
    await createRoom(mei, room, { title: "Launch plans", topic: "Shipping v2.4 on Friday" });
    await joinRoom(lucas, room);
    await joinRoom(amara, room);
    await joinRoom(sofia, room);

    const first = "Morning! **v2.4** is on staging 🎉 Release notes: https://example.com/notes";
    await send(mei, first);
    await expect(message(lucas, "is on staging")).toBeVisible();
    await send(lucas, "Search finally reads Chinese: `离线消息` finds 消息 with no dictionary.");
    await messageAction(amara, "is on staging", "Reply");
    // Chinese draws as glyphs, not as the missing-glyph box: with no CJK
    // font, 消 and 息 would be the same empty box.
    const body = message(mei, "finds").locator(".body");
    await expect(body).toBeVisible();
    const cjk = await body.evaluate((el) => {
      const font = `32px ${getComputedStyle(el).fontFamily}`;
      const draw = (text: string) => {
        const canvas = document.createElement("canvas");
        canvas.width = 48;
        canvas.height = 48;
        const context = canvas.getContext("2d")!;
        context.font = font;
        context.fillText(text, 4, 36);
        return Array.from(context.getImageData(0, 0, 48, 48).data);
      };
      const [a, b] = [draw("消"), draw("息")];
      return {
        inked: a.filter((v, i) => i % 4 === 3 && v > 0).length,
        differ: a.some((v, i) => v !== b[i]),
      };
    });
    expect(cjk.inked, "消 draws something").toBeGreaterThan(20);
    expect(cjk.differ, "消 and 息 draw as different glyphs").toBe(true);
    await send(amara, "Tried it on the train: the Wi-Fi blocks WebSocket, it fell back to long-polling and lost nothing.");
    await expect(message(mei, "the train")).toBeVisible();
    await react(lucas, "is on staging", "🎉");
    await react(amara, "is on staging", "🎉");
    await react(mei, "the train", "👍");
    await expect(chip(mei, "is on staging", "🎉")).toHaveText("🎉2");
    await send(mei, "@lucas could you post the p99 numbers before the release?");
    await expect(message(lucas, "p99 numbers").locator(".mention")).toBeVisible();
    await send(lucas, "On it: *under 5 ms* with 1,000 people in one room.");
    await expect(message(mei, "under 5 ms")).toBeVisible();

    // Something unread, and someone typing, while Mei reads the room.
    await amara.goto("/c/dm/mei");
    await send(amara, "Lunch after the release? 🍜");
    await expect(convLink(mei, "Amara Okafor").getByTestId("unread")).toBeVisible();
    // (Someone who has not written yet: typing notices go at most every 3 s.)
    await sofia.getByLabel("Message", { exact: true }).fill("Congrats, everyone");
    await expect(mei.getByTestId("typing")).toHaveText("Sofía García is typing…");

    const docs = path.join(__dirname, "..", "..", "docs");
    for (const [name, width, height, file] of [
      ["desktop", 1280, 860, "screenshot.png"],
      ["360", 360, 740, "screenshot-360.png"],
    ] as const) {
      await mei.setViewportSize({ width, height });
      // No hover toolbar in the picture (the scheme's switch waits for
      // transitions to end).
      await mei.mouse.move(width - 1, height - 1);
      await message(mei, "under 5 ms").scrollIntoViewIfNeeded();
      await expect(message(mei, "under 5 ms")).toBeInViewport({ ratio: 1 });
      if (name === "desktop") {
        // The whole conversation, from the first message's name line.
        await expect(message(mei, "is on staging")).toBeInViewport({ ratio: 1 });
      }
      await setColorScheme(mei, "light");
      const overflow = await mei.evaluate(
        () => document.documentElement.scrollWidth - window.innerWidth,
      );
      expect(overflow).toBeLessThanOrEqual(0);
      const shot = testInfo.outputPath(`readme-${name}.png`);
      await mei.screenshot({ path: shot });
      // Into the README only when asked, so a test run leaves the tree clean.
      if (process.env.PARLEY_README_SHOTS === "1") {
        copyFileSync(shot, path.join(docs, file));
      }
      await setColorScheme(mei, "dark");
      await mei.screenshot({ path: testInfo.outputPath(`readme-${name}-dark.png`) });
    }
  } finally {
    await close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
