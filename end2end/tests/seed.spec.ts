import { expect, test, type Page } from "@playwright/test";

import {
  convLink,
  freshName,
  message,
  seedSocketOpen,
  send,
  signIn,
  startSeedPages,
} from "./helpers";

let seed: { url: string; close: () => Promise<void> } | undefined;

test.beforeAll(async ({ baseURL }) => {
  seed = await startSeedPages(baseURL!);
});

test.afterAll(async () => {
  await seed?.close();
});

async function openSeed(page: Page, name: "group" | "direct", _baseURL: string) {
  await page.goto(`${seed!.url}/${name}`);
}

/** The seed pages keep their socket in the global `ws`. */
async function socketOpen(page: Page) {
  await seedSocketOpen(page);
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
