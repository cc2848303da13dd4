import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { expect, test, type Page } from "@playwright/test";

import { convLink, freshName, message, send, signIn } from "./helpers";

/**
 * The seed document's two pages, served as they are by a tiny static
 * server of the test's own, with their WebSocket address pointed at the
 * server under test.
 */
function seedPage(name: string, host: string): string {
  const html = readFileSync(
    path.join(__dirname, "fixtures", `seed-${name}.html`),
    "utf8",
  );
  return html
    .replace("ws://127.0.0.1:9527/ws", `ws://${host}/ws`)
    .replace("ws://192.168.12.87:9527/ws/", `ws://${host}/ws/`);
}

let pages: Server | undefined;
let pagesURL = "";

test.beforeAll(async ({ baseURL }) => {
  const host = new URL(baseURL!).host;
  pages = createServer((request, response) => {
    const name = request.url === "/direct" ? "direct" : request.url === "/group" ? "group" : "";
    if (!name) {
      response.writeHead(404).end();
      return;
    }
    response
      .writeHead(200, { "content-type": "text/html; charset=utf-8" })
      .end(seedPage(name, host));
  });
  await new Promise<void>((resolve) => pages!.listen(0, "127.0.0.1", resolve));
  const address = pages.address() as AddressInfo;
  pagesURL = `http://127.0.0.1:${address.port}`;
});

test.afterAll(async () => {
  await new Promise((resolve) => pages?.close(resolve));
});

async function openSeed(page: Page, name: "group" | "direct", _baseURL: string) {
  await page.goto(`${pagesURL}/${name}`);
}

/** The seed pages keep their socket in the global `ws`. */
async function socketOpen(page: Page) {
  await page.waitForFunction(
    () => (window as unknown as { ws?: WebSocket }).ws?.readyState === 1,
  );
}

test("two seed group pages chat through /ws", async ({ browser, baseURL }) => {
  const a = await browser.newContext();
  const b = await browser.newContext();
  try {
    const pageA = await a.newPage();
    const pageB = await b.newPage();
    await openSeed(pageA, "group", baseURL!);
    await openSeed(pageB, "group", baseURL!);
    await socketOpen(pageA);
    await socketOpen(pageB);

    const text = `group hello ${Date.now()}`;
    await pageA.locator("#content").fill(text);
    await pageA.getByRole("button", { name: "发送消息" }).click();
    await expect(pageB.locator("#content_list")).toContainText(text);

    const back = `group answer ${Date.now()}`;
    await pageB.locator("#content").fill(back);
    await pageB.getByRole("button", { name: "发送消息" }).click();
    await expect(pageA.locator("#content_list")).toContainText(back);
  } finally {
    await a.close();
    await b.close();
  }
});

test("a seed direct page and a signed-in user exchange direct messages", async ({
  browser,
  baseURL,
}) => {
  const guestContext = await browser.newContext();
  const userContext = await browser.newContext({ baseURL });
  try {
    const guest = await guestContext.newPage();
    const user = await userContext.newPage();
    const me = freshName("hana");
    const visitor = freshName("guest");
    await signIn(user, me);

    await openSeed(guest, "direct", baseURL!);
    await guest.locator("#username").fill(visitor);
    await guest.getByRole("button", { name: "登录聊天室" }).click();
    await socketOpen(guest);

    const hello = `hello from a guest ${Date.now()}`;
    await guest.locator("#receiver").fill(me);
    await guest.locator("#content").fill(hello);
    await guest.getByRole("button", { name: "发送消息" }).click();

    // The guest shows up in the sidebar with an unread message.
    const link = convLink(user, `${visitor} (guest)`);
    await expect(link.getByTestId("unread")).toContainText("1");
    await link.click();
    await expect(user).toHaveURL(new RegExp(`/c/guest/${visitor}$`));
    await expect(user.getByTestId("conversation-title")).toHaveText(
      `${visitor} (guest)`,
    );
    await expect(message(user, hello)).toBeVisible();
    await expect(message(user, hello).locator(".sender")).toHaveText(visitor);

    const answer = `welcome, guest ${Date.now()}`;
    await send(user, answer);
    await expect(message(user, answer)).toHaveAttribute("data-status", "sent");
    await expect(guest.locator("#content_list")).toContainText(
      `${me} : ${answer}`,
    );
  } finally {
    await guestContext.close();
    await userContext.close();
  }
});
