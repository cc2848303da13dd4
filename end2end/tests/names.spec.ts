import { expect, test, type Page } from "@playwright/test";

import {
  PASSWORD,
  convLink,
  createRoom,
  freshName,
  joinRoom,
  message,
  people,
  seedSocketOpen,
  send,
  setColorScheme,
  sidebar,
  signIn,
  startSeedPages,
} from "./helpers";

/** Create an account shown as `display` from the sign-in page's second tab. */
async function signUp(page: Page, handle: string, display: string): Promise<void> {
  await page.goto("/");
  await expect(page.locator('[data-hydrated="true"]')).toHaveCount(1);
  await page.getByRole("tab", { name: "Create account" }).click();
  await page.getByLabel("Username").fill(handle);
  await page.getByLabel("Display name").fill(display);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  const status = page.getByTestId("connection-status");
  await expect(status).toHaveAttribute("data-ready-state", "open");
  // The top bar shows the display name.
  await expect(page.locator(".topbar .user-name")).toHaveText(display);
}

test("sign up as 小明 and chat: others see 小明, with the handle on hover and in the lists", async ({
  browser,
  baseURL,
}, testInfo) => {
  const { pages, close } = await people(browser, baseURL, 2);
  const [ming, ben] = pages;
  try {
    const handle = freshName("ming");
    const benName = freshName("ben");
    await signIn(ben, benName);
    await signUp(ming, handle, "小明");

    const hello = `大家好 ${Date.now()}`;
    await send(ming, hello);
    const row = message(ben, hello);
    await expect(row.locator(".sender")).toHaveText("小明");
    await expect(row.locator(".sender")).toHaveAttribute("title", `@${handle}`);
    // The online list shows the display name with the handle beside it.
    const online = sidebar(ben).getByRole("list", { name: "Online" });
    const entry = online.getByRole("link", { name: new RegExp(`小明.*@${handle}`) });
    await expect(entry).toBeVisible();
    // A direct conversation is titled with the display name.
    await entry.click();
    await expect(ben.getByTestId("conversation-title")).toHaveText("小明");
    await expect(ben.locator(".conv-heading .hint")).toHaveText(`Online · @${handle}`);
    await send(ben, "你好小明");
    await expect(convLink(ming, benName)).toBeVisible();

    // A new name from the account menu reaches the other tab at once.
    await ming.getByRole("button", { name: `Your account (${handle})` }).click();
    const dialog = ming.getByRole("dialog", { name: "Your account" });
    await dialog.getByLabel("What people see, in any language").fill("小明 Zoë");
    await dialog.getByRole("button", { name: "Save name" }).click();
    await expect(dialog.getByRole("status")).toHaveText("Saved.");
    await expect(ben.getByTestId("conversation-title")).toHaveText("小明 Zoë");
    await dialog.getByRole("button", { name: "Close" }).click();
    await ben.screenshot({ path: testInfo.outputPath("display-name-desktop-light.png") });
  } finally {
    await close();
  }
});

test("the password rule is stated before typing, and a weak password is refused with its reason", async ({
  page,
}) => {
  await page.goto("/");
  await expect(page.locator('[data-hydrated="true"]')).toHaveCount(1);
  await page.getByRole("tab", { name: "Create account" }).click();
  await expect(page.getByTestId("password-rule")).toContainText("At least 8 characters");
  await page.getByLabel("Username").fill(freshName("weak"));
  for (const [password, reason] of [
    ["a", "at least 8 characters"],
    ["password1", "too easy to guess"],
  ]) {
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Create account" }).click();
    await expect(page.getByRole("alert")).toContainText(reason);
  }
  // Nothing was created: a good password then creates the account.
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByTestId("connection-status")).toHaveText("Online");
});

let seed: { url: string; close: () => Promise<void> } | undefined;

test.beforeAll(async ({ baseURL }) => {
  seed = await startSeedPages(baseURL!);
});

test.afterAll(async () => {
  await seed?.close();
});

/** Open the seed's direct page and log in with `nickname`. */
async function seedGuest(page: Page, nickname: string): Promise<void> {
  await page.goto(`${seed!.url}/direct`);
  await page.locator("#username").fill(nickname);
  await page.getByRole("button", { name: "登录聊天室" }).click();
  await seedSocketOpen(page);
}

async function seedSend(page: Page, receiver: string, text: string): Promise<void> {
  await page.locator("#receiver").fill(receiver);
  await page.locator("#content").fill(text);
  await page.getByRole("button", { name: "发送消息" }).click();
}

test("the seed's pages with Chinese nicknames: group, guest to guest, and guest to a signed-in user", async ({
  browser,
  baseURL,
}) => {
  const { pages, close } = await people(browser, baseURL, 4);
  const [groupA, groupB, ming, user] = pages;
  try {
    // Group chat.
    for (const p of [groupA, groupB]) {
      await p.goto(`${seed!.url}/group`);
      await seedSocketOpen(p);
    }
    const cheer = `小明：大家好 ${Date.now()}`;
    await groupA.locator("#content").fill(cheer);
    await groupA.getByRole("button", { name: "发送消息" }).click();
    await expect(groupB.locator("#content_list")).toContainText(cheer);

    // Direct chat between two guests with Chinese nicknames (unique per run).
    const suffix = Date.now().toString(36).slice(-4);
    const xiaoming = `小明${suffix}`;
    const xiaohong = `小红${suffix}`;
    await seedGuest(ming, xiaoming);
    await seedGuest(groupB, xiaohong);
    await seedSend(ming, xiaohong, "你好，小红");
    await expect(groupB.locator("#content_list")).toContainText(`${xiaoming} : 你好，小红`);
    await seedSend(groupB, xiaoming, "你好，小明");
    await expect(ming.locator("#content_list")).toContainText(`${xiaohong} : 你好，小明`);

    // Guest to a signed-in user, and the answer back.
    const me = freshName("hana");
    await signIn(user, me);
    await seedSend(ming, me, "我是小明");
    const link = convLink(user, `${xiaoming} (guest)`);
    await expect(link.getByTestId("unread")).toContainText("1");
    await link.click();
    await expect(user.getByTestId("conversation-title")).toHaveText(`${xiaoming} (guest)`);
    await expect(message(user, "我是小明").locator(".sender")).toHaveText(xiaoming);
    await send(user, "欢迎");
    await expect(ming.locator("#content_list")).toContainText(`${me} : 欢迎`);
  } finally {
    await close();
  }
});

test("screenshots with Chinese and right-to-left names and a room title: desktop and 360 px, light and dark", async ({
  browser,
  baseURL,
}, testInfo) => {
  const { pages, close } = await people(browser, baseURL, 3);
  const [ming, layla, zoe] = pages;
  try {
    await signUp(ming, freshName("ming"), "小明");
    await signUp(layla, freshName("layla"), "ليلى حسن");
    await signUp(zoe, freshName("zoe"), "Zoë Müller");
    const room = freshName("dev").toLowerCase();
    await createRoom(ming, room, { topic: "构建、发布与值班", title: "技术讨论" });
    await expect(ming.getByTestId("conversation-title")).toHaveText("技术讨论");
    await joinRoom(layla, room);
    await joinRoom(zoe, room);
    await send(ming, "今天下午三点发布新版本，大家准备好了吗？");
    await send(layla, "مرحبا! أنا جاهزة 👍");
    await send(zoe, "Ja, alles bereit. 🚀");
    await expect(message(ming, "alles bereit").locator(".sender")).toHaveText("Zoë Müller");
    await expect(message(ming, "أنا جاهزة").locator(".sender")).toHaveText("ليلى حسن");
    for (const [scheme, width, height] of [
      ["light", 1280, 800],
      ["dark", 1280, 800],
      ["light", 360, 740],
      ["dark", 360, 740],
    ] as const) {
      await ming.setViewportSize({ width, height });
      await setColorScheme(ming, scheme);
      const size = width < 400 ? "mobile" : "desktop";
      await ming.screenshot({ path: testInfo.outputPath(`names-${size}-${scheme}.png`) });
    }
  } finally {
    await close();
  }
});
