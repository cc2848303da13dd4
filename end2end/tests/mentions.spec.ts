import { expect, test, type BrowserContext, type Page } from "@playwright/test";

import {
  convLink,
  createRoom,
  freshName,
  joinRoom,
  message,
  setColorScheme,
  setHidden,
  signIn,
} from "./helpers";

/**
 * Record every notification the page creates, while still creating it
 * with Chromium's own Notification API (a Proxy around the real
 * constructor: the app's code is not replaced).
 */
async function recordNotifications(context: BrowserContext): Promise<void> {
  await context.grantPermissions(["notifications"]);
  await context.addInitScript(() => {
    const Real = window.Notification;
    const seen: {
      title: string;
      body: string;
      tag: string;
      note: Notification;
      closed: boolean;
    }[] = [];
    (window as unknown as { __notes: typeof seen }).__notes = seen;
    window.Notification = new Proxy(Real, {
      construct(target, args: [string, NotificationOptions?]) {
        const note = Reflect.construct(target, args) as Notification;
        const entry = { title: args[0], body: args[1]?.body ?? "", tag: args[1]?.tag ?? "", note, closed: false };
        const close = note.close.bind(note);
        note.close = () => {
          entry.closed = true;
          close();
        };
        seen.push(entry);
        return note;
      },
    });
  });
}

function notes(page: Page) {
  return page.evaluate(() =>
    (
      window as unknown as { __notes: { title: string; body: string; tag: string; closed: boolean }[] }
    ).__notes.map(({ title, body, tag, closed }) => ({ title, body, tag, closed })),
  );
}

test("mention someone by keyboard: a chip, a highlighted message, a badge and the title", async ({
  browser,
  baseURL,
}, testInfo) => {
  const annCtx = await browser.newContext({ baseURL });
  const benCtx = await browser.newContext({ baseURL });
  const [ann, ben] = [await annCtx.newPage(), await benCtx.newPage()];
  try {
    const annName = freshName("ann");
    const benName = freshName("ben");
    await signIn(ann, annName);
    await signIn(ben, benName);
    const room = freshName("crew").toLowerCase();
    await createRoom(ann, room);
    await joinRoom(ben, room);
    // Ben looks elsewhere.
    await convLink(ben, /^lobby/).click();
    await expect(ben.getByTestId("conversation-title")).toHaveText("#lobby");

    const box = ann.getByLabel("Message", { exact: true });
    await box.click();
    await box.pressSequentially(`Hi @${benName.slice(0, 5)}`);
    const list = ann.getByRole("listbox", { name: "People to mention" });
    await expect(list).toBeVisible();
    await expect(box).toHaveAttribute("aria-expanded", "true");
    const options = list.getByRole("option");
    await expect(options).toHaveCount(1);
    await expect(options.first()).toHaveAttribute("aria-selected", "true");
    await expect(options.first()).toContainText(benName);
    // Escape closes the list; typing opens it again; Tab picks.
    await box.press("Escape");
    await expect(list).toBeHidden();
    await box.press("Backspace");
    await expect(list).toBeVisible();
    await box.press("Tab");
    await expect(list).toBeHidden();
    await expect(box).toHaveValue(`Hi @${benName} `);
    await box.pressSequentially("can you look?");
    await box.press("Enter");
    const sent = message(ann, "can you look?");
    await expect(sent.locator(".mention")).toHaveText(`@${benName}`);

    // Ben: a mention badge beside the unread count, and the title says so.
    const link = convLink(ben, new RegExp(room));
    await expect(link.getByTestId("mentions")).toHaveText(/@1/);
    await expect(link.getByTestId("unread")).toHaveText(/1/);
    await expect(ben).toHaveTitle(/^\(1 · @1\) /);
    await link.click();
    const row = message(ben, "can you look?");
    await expect(row).toHaveClass(/mentioned/);
    await expect(row.locator(".mention.me")).toHaveText(`@${benName}`);
    await expect(link.getByTestId("mentions")).toHaveCount(0);
    await expect(ben).toHaveTitle(new RegExp(`^#${room} · Parley$`));
    for (const scheme of ["light", "dark"] as const) {
      await setColorScheme(ben, scheme);
      await ben.screenshot({ path: testInfo.outputPath(`mention-desktop-${scheme}.png`) });
    }
    await ben.setViewportSize({ width: 360, height: 740 });
    // (The sidebar slides away at this width: the picture after it has.)
    await setColorScheme(ben, "dark");
    await ben.screenshot({ path: testInfo.outputPath("mention-360-dark.png") });
  } finally {
    await Promise.all([annCtx.close(), benCtx.close()]);
  }
});

test("a notification while the page is hidden: one for two tabs, it opens the message, and the setting follows the person", async ({
  browser,
  baseURL,
}) => {
  const annCtx = await browser.newContext({ baseURL });
  const benCtx = await browser.newContext({ baseURL });
  await recordNotifications(benCtx);
  const ann = await annCtx.newPage();
  const [ben, benTab] = [await benCtx.newPage(), await benCtx.newPage()];
  try {
    const annName = freshName("ann");
    const benName = freshName("ben");
    await signIn(ann, annName);
    await signIn(ben, benName);
    const room = freshName("ping").toLowerCase();
    await createRoom(ann, room);
    await joinRoom(ben, room);
    await benTab.goto(`/c/room/${room}`);
    await expect(benTab.getByTestId("connection-status")).toHaveText("Online");

    // Browser notifications are asked for from the bell only; granted here.
    await ben.getByRole("button", { name: /^Notifications:/ }).click();
    const dialog = ben.getByRole("dialog", { name: "Notifications" });
    await expect(dialog.getByText("Browser notifications are on.")).toBeVisible();
    await expect(dialog.getByLabel(/Mentions and direct messages/)).toBeChecked();
    await dialog.getByRole("button", { name: "Done" }).click();

    // Visible: no notification. Hidden: one, with who and what.
    await ann.getByLabel("Message", { exact: true }).fill(`@${benName} first`);
    await ann.getByLabel("Message", { exact: true }).press("Enter");
    await expect(message(ben, "first")).toBeVisible();
    await setHidden(ben, true);
    await setHidden(benTab, true);
    await ann.getByLabel("Message", { exact: true }).fill("no mention here");
    await ann.getByLabel("Message", { exact: true }).press("Enter");
    await ann.getByLabel("Message", { exact: true }).fill(`@${benName} are you there?`);
    await ann.getByLabel("Message", { exact: true }).press("Enter");
    await expect.poll(() => notes(ben)).toHaveLength(1);
    await expect.poll(() => notes(benTab)).toHaveLength(1);
    const [note] = await notes(ben);
    expect(note.title).toBe(`${annName} in #${room}`);
    expect(note.body).toBe(`@${benName} are you there?`);
    // Both tabs used the same tag: the browser shows it once.
    expect((await notes(benTab))[0].tag).toBe(note.tag);
    expect(note.closed).toBe(false);
    // Read in one tab: the other tab's notification goes too.
    await setHidden(benTab, false);
    await expect.poll(async () => (await notes(ben))[0].closed).toBe(true);
    await expect.poll(async () => (await notes(benTab))[0].closed).toBe(true);

    // Clicking a notification opens its message.
    await setHidden(benTab, true);
    await ann.getByLabel("Message", { exact: true }).fill(`@${benName} still there?`);
    await ann.getByLabel("Message", { exact: true }).press("Enter");
    await expect.poll(() => notes(ben)).toHaveLength(2);
    await convLink(ben, /^lobby/).click();
    await ben.evaluate(() =>
      (window as unknown as { __notes: { note: Notification }[] }).__notes[1].note.dispatchEvent(
        new Event("click"),
      ),
    );
    await expect(ben).toHaveURL(new RegExp(`/c/room/${room}$`));
    await expect(message(ben, "still there?")).toBeInViewport();

    // "Nothing" here, chosen in one tab: the other tab (and a reload) know.
    await ben.getByRole("button", { name: /^Notifications:/ }).click();
    await ben.getByRole("dialog", { name: "Notifications" }).getByLabel(/^Nothing/).check();
    await expect(benTab.getByRole("button", { name: "Notifications: nothing" })).toBeVisible();
    await ben.reload();
    await expect(ben.getByRole("button", { name: "Notifications: nothing" })).toBeVisible();
    await setHidden(ben, true);
    await ann.getByLabel("Message", { exact: true }).fill(`@${benName} quiet now`);
    await ann.getByLabel("Message", { exact: true }).press("Enter");
    await expect(message(benTab, "quiet now")).toHaveCount(1);
    await expect(message(ben, "quiet now")).toHaveCount(1);
    expect(await notes(ben)).toHaveLength(0);
  } finally {
    await Promise.all([annCtx.close(), benCtx.close()]);
  }
});
