import { expect, test, type Page } from "@playwright/test";

import { convLink, freshName, send as sendToLobby, sidebar, signIn } from "./helpers";

function lobbyMessage(page: Page, text: string) {
  return page.getByTestId("message").filter({ hasText: text });
}

test("signs in, goes online and posts to the lobby", async ({ page }) => {
  const me = freshName("alice");
  await signIn(page, me);
  await expect(page.getByText(me, { exact: true }).first()).toBeVisible();

  // Markup in a message is shown as typed, never interpreted.
  const text = `hello <b>lobby</b> ${Date.now()}`;
  await sendToLobby(page, text);

  const mine = lobbyMessage(page, text);
  await expect(mine).toHaveAttribute("data-status", "sent");
  await expect(mine.locator(".body")).toHaveText(text);
  await expect(mine.locator("b")).toHaveCount(0);
  await expect(mine.locator(".sender")).toHaveText(me);
});

test("the session survives a reload and ends on sign-out", async ({
  page,
}) => {
  const me = freshName("dave");
  await signIn(page, me);

  await page.reload();
  await expect(page.locator('[data-hydrated="true"]')).toHaveCount(1);
  await expect(page.getByTestId("connection-status")).toHaveAttribute(
    "data-ready-state",
    "open",
  );

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("button", { name: "Sign in" })).toBeVisible();
  await expect(page.getByTestId("connection-status")).toHaveCount(0);

  await page.reload();
  await expect(page.locator('[data-hydrated="true"]')).toHaveCount(1);
  await expect(page.getByRole("button", { name: "Sign in" })).toBeEnabled();
});

test("a second user sees the first user's lobby message", async ({
  browser,
  baseURL,
}) => {
  const contextA = await browser.newContext({ baseURL });
  const contextB = await browser.newContext({ baseURL });
  try {
    const [pageA, pageB] = await Promise.all([
      contextA.newPage(),
      contextB.newPage(),
    ]);
    const ann = freshName("ann");
    const ben = freshName("ben");
    await signIn(pageA, ann);
    await signIn(pageB, ben);

    const fromAnn = `hi from ${ann}`;
    await sendToLobby(pageA, fromAnn);
    await expect(lobbyMessage(pageA, fromAnn)).toHaveAttribute(
      "data-status",
      "sent",
    );
    const seenByBen = lobbyMessage(pageB, fromAnn);
    await expect(seenByBen).toBeVisible();
    await expect(seenByBen.locator(".sender")).toHaveText(ann);

    const fromBen = `hello back from ${ben}`;
    await sendToLobby(pageB, fromBen);
    await expect(lobbyMessage(pageA, fromBen)).toBeVisible();

    await pageA.screenshot({
      path: test.info().outputPath("lobby-ann.png"),
      fullPage: true,
    });
    await pageB.screenshot({
      path: test.info().outputPath("lobby-ben.png"),
      fullPage: true,
    });
  } finally {
    await contextA.close();
    await contextB.close();
  }
});

test("the sign-in page fits a 360 px wide screen", async ({ page }) => {
  await page.setViewportSize({ width: 360, height: 740 });
  await page.goto("/");
  await expect(page.locator('[data-hydrated="true"]')).toHaveCount(1);
  await expect(page.getByRole("button", { name: "Sign in" })).toBeEnabled();
  // The page says that a new name registers itself.
  await expect(page.getByText(/account is created as you sign in/)).toBeVisible();

  const overflow = await page.evaluate(
    () => document.documentElement.scrollWidth - window.innerWidth,
  );
  expect(overflow).toBeLessThanOrEqual(0);
  await page.screenshot({
    path: test.info().outputPath("sign-in-360.png"),
    fullPage: true,
  });
});

test("a wrong password is refused inline", async ({ browser, baseURL }) => {
  const me = freshName("carol");
  const first = await browser.newContext({ baseURL });
  const second = await browser.newContext({ baseURL });
  try {
    await signIn(await first.newPage(), me);

    const page = await second.newPage();
    await page.goto("/");
    await expect(page.locator('[data-hydrated="true"]')).toHaveCount(1);
    await page.getByLabel("Username").fill(me);
    await page.getByLabel("Password").fill("not the password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("alert")).not.toBeEmpty();
    await expect(page.getByLabel("Password")).toBeVisible();
    await expect(page.getByTestId("connection-status")).toHaveCount(0);
  } finally {
    await first.close();
    await second.close();
  }
});

test("on a 360 px screen the sidebar opens by keyboard and closes with Escape", async ({
  page,
}) => {
  await page.setViewportSize({ width: 360, height: 740 });
  await signIn(page, freshName("kim"));
  const menu = page.getByRole("button", { name: "Conversations" });
  const nav = sidebar(page);
  await expect(nav).toBeHidden();
  await expect(menu).toHaveAttribute("aria-expanded", "false");

  await menu.focus();
  await page.keyboard.press("Enter");
  await expect(nav).toBeVisible();
  await expect(menu).toHaveAttribute("aria-expanded", "true");
  // Focus moves into the sidebar, onto the conversation on screen.
  await expect(convLink(page, "lobby")).toBeFocused();
  await page.keyboard.press("Tab");
  await expect(nav.locator(":focus")).toHaveCount(1);

  await page.keyboard.press("Escape");
  await expect(nav).toBeHidden();
  await expect(menu).toBeFocused();
  await expect(menu).toHaveAttribute("aria-expanded", "false");
});
