import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect, test } from "@playwright/test";

import { freePort, freshName, message, OwnServer, send, signIn } from "./helpers";

/**
 * This spec runs a server of its own (`OwnServer`) so it can stop and
 * start it mid-conversation, on the same port and database file.
 */

test("the server restarts mid-conversation: nothing is lost or doubled", async ({
  browser,
}) => {
  test.setTimeout(120_000);
  const dir = mkdtempSync(path.join(tmpdir(), "parley-restart-"));
  const server = new OwnServer(await freePort(), path.join(dir, "p.db"));
  await server.start();
  const ctxA = await browser.newContext({ baseURL: server.url });
  const ctxB = await browser.newContext({ baseURL: server.url });
  try {
    const ann = await ctxA.newPage();
    const ben = await ctxB.newPage();
    await signIn(ann, freshName("ann"));
    await signIn(ben, freshName("ben"));

    const before = `before the restart ${Date.now()}`;
    await send(ann, before);
    await expect(message(ben, before)).toHaveCount(1);

    await server.stop();
    const status = ann.getByTestId("connection-status");
    await expect(status).toHaveAttribute("data-ready-state", /closed|connecting/);
    await expect(status).toHaveText(/Offline|Connecting/);

    // Written during the outage: it waits, shown as pending.
    const during = `during the outage ${Date.now()}`;
    await send(ann, during);
    await expect(message(ann, during)).toHaveAttribute("data-status", "sending");
    await expect(ann.getByText(/You are offline/)).toBeVisible();

    await server.start();
    await expect(status).toHaveAttribute("data-ready-state", "open", {
      timeout: 45_000,
    });
    await expect(status).toHaveText("Online");
    await expect(message(ann, during)).toHaveAttribute("data-status", "sent");
    await expect(ben.getByTestId("connection-status")).toHaveAttribute(
      "data-ready-state",
      "open",
      { timeout: 45_000 },
    );
    await expect(message(ben, during)).toHaveCount(1);

    const after = `after the restart ${Date.now()}`;
    await send(ben, after);
    await expect(message(ann, after)).toHaveCount(1);

    // Exactly once each, on both sides, in order.
    for (const page of [ann, ben]) {
      for (const text of [before, during, after]) {
        await expect(message(page, text)).toHaveCount(1);
      }
      const bodies = await page.getByTestId("message").locator(".body").allTextContents();
      const order = [before, during, after].map((t) => bodies.indexOf(t));
      expect(order).toEqual([...order].sort((x, y) => x - y));
    }

    // And after a reload, the server's history agrees.
    await ben.reload();
    for (const text of [before, during, after]) {
      await expect(message(ben, text)).toHaveCount(1);
    }
  } finally {
    await ctxA.close();
    await ctxB.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
