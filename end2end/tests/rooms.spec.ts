import { expect, type Page } from "@playwright/test";

import {
  convLink,
  createRoom,
  freshName,
  joinRoom,
  message,
  send,
  setColorScheme,
  sidebar,
  signIn,
  test,
} from "./helpers";

/** The room's settings panel, opened from its header. */
async function openSettings(page: Page, room: string) {
  await page.getByRole("button", { name: "Room settings" }).click();
  const panel = page.getByRole("dialog", { name: `#${room} settings` });
  await expect(panel).toBeVisible();
  return panel;
}

/** In the settings panel, do `action` (its menu text) to `user`. */
async function moderate(page: Page, room: string, user: string, action: string) {
  const panel = await openSettings(page, room);
  const row = panel.locator(`.member-row[data-user="${user}"]`);
  await row.getByLabel(`What to do with ${user}`).selectOption({ label: action });
  await row.getByRole("button", { name: "Apply" }).click();
  await panel.getByRole("button", { name: "Close" }).click();
}

function line(page: Page, text: string | RegExp) {
  return page.getByTestId("system-line").filter({ hasText: text });
}

test("a private room: created, an invitation accepted live, a mute with its reason, and a ban that takes the room away", async ({
  pair,
}) => {
  const [ann, ben] = pair;
  const annName = freshName("ann");
  const benName = freshName("ben");
  await signIn(ann, annName);
  await signIn(ben, benName);
  const room = freshName("plans").toLowerCase();
  await createRoom(ann, room, { topic: "Launch plans", private: true });
  await expect(ann.getByTestId("topic")).toHaveText("Launch plans");
  await expect(line(ann, `${annName} created the room`)).toHaveCount(1);

  // Ben cannot find it, by link or in the directory.
  await ben.goto(`/c/room/${room}`);
  await expect(ben.getByTestId("conversation-problem")).toContainText(`There is no room #${room}`);
  await sidebar(ben).getByRole("button", { name: "Browse rooms" }).click();
  const directory = ben.getByRole("dialog", { name: "Browse rooms" });
  await directory.getByLabel("Search rooms").fill(room);
  await expect(directory.getByText("No public room matches.")).toBeVisible();
  await directory.getByRole("button", { name: "Close" }).click();

  // Ann invites him; the invitation reaches his sidebar live.
  const panel = await openSettings(ann, room);
  await expect(panel.getByTestId("visibility")).toContainText("Private");
  await panel.getByLabel("Invite someone").fill(benName);
  await panel.getByRole("button", { name: "Invite", exact: true }).click();
  await panel.getByRole("button", { name: "Close" }).click();
  await expect(line(ann, `${benName} was invited by ${annName}`)).toHaveCount(1);
  const invitation = ben.getByTestId("invitations");
  await expect(invitation).toContainText(`#${room}`);
  await expect(invitation).toContainText(`from ${annName}`);
  await ben.getByRole("button", { name: `Accept the invitation to #${room}` }).click();
  await expect(ben).toHaveURL(new RegExp(`/c/room/${room}$`));
  await expect(invitation).toHaveCount(0);
  await expect(line(ann, `${benName} joined`)).toHaveCount(1);
  await send(ben, "Thanks for having me");
  await expect(message(ann, "Thanks for having me")).toBeVisible();

  // Muted: his composer says why and until when.
  await moderate(ann, room, benName, "Mute for 10 minutes");
  await expect(line(ben, `${benName} was muted by ${annName} for 10 minutes`)).toHaveCount(1);
  const box = ben.getByLabel("Message", { exact: true });
  await expect(box).toBeDisabled();
  await expect(ben.locator("#composer-note")).toContainText(
    new RegExp(`muted you in #${room}: you can read, but not write, until Today at \\d\\d:\\d\\d`),
  );
  const settings = await openSettings(ann, room);
  await expect(settings.locator(`.member-row[data-user="${benName}"]`)).toContainText("muted until");
  await expect(settings.getByTestId("moderation-log")).toContainText(
    `${benName} was muted by ${annName} for 10 minutes`,
  );
  await settings.getByRole("button", { name: "Close" }).click();

  // Banned: the room leaves his sidebar at once, and says why.
  await expect(convLink(ben, room)).toBeVisible();
  await moderate(ann, room, benName, "Ban");
  await expect(convLink(ben, room)).toHaveCount(0);
  await expect(ben.getByTestId("conversation-problem")).toContainText(`${annName} banned you from #${room}`);
  await expect(line(ann, `${benName} was banned by ${annName}`)).toHaveCount(1);
});

test("the directory finds public rooms by name or topic and joins in one click", async ({ pair }) => {
  const [ann, ben] = pair;
  await signIn(ann, freshName("ann"));
  await signIn(ben, freshName("ben"));
  const tag = freshName("x").toLowerCase();
  const garden = `garden-${tag}`.slice(0, 32);
  const kitchen = `kitchen-${tag}`.slice(0, 32);
  await createRoom(ann, garden, { topic: `Tomatoes and ${tag} compost` });
  await createRoom(ann, kitchen, { topic: "Recipes" });
  await createRoom(ann, `hidden-${tag}`.slice(0, 32), { topic: `Also ${tag}`, private: true });

  await sidebar(ben).getByRole("button", { name: "Browse rooms" }).click();
  const directory = ben.getByRole("dialog", { name: "Browse rooms" });
  await directory.getByLabel("Search rooms").fill(`${tag} compost`);
  const rooms = directory.getByTestId("directory").getByRole("listitem");
  await expect(rooms).toHaveCount(1);
  await expect(rooms.first()).toContainText(`#${garden}`);
  await expect(rooms.first()).toContainText("1 member");
  await directory.getByLabel("Search rooms").fill(tag);
  await expect(rooms).toHaveCount(2);
  await expect(directory).not.toContainText("hidden-");
  await directory.getByRole("button", { name: `Join #${kitchen}` }).click();
  await expect(ben).toHaveURL(new RegExp(`/c/room/${kitchen}$`));
  await expect(ben.getByLabel("Message", { exact: true })).toBeEnabled();
  await expect(convLink(ben, kitchen)).toBeVisible();
});

test("screenshots: the directory, a new room and the settings panel; light and dark, desktop and 360 px", async ({
  pair,
}, testInfo) => {
  const [ann, ben] = pair;
  const annName = freshName("ann");
  const benName = freshName("ben");
  await signIn(ann, annName);
  await signIn(ben, benName);
  const tag = freshName("s").toLowerCase();
  const room = `design-${tag}`.slice(0, 32);
  await createRoom(ann, room, { topic: "Design reviews every Thursday" });
  await createRoom(ann, `support-${tag}`.slice(0, 32), { topic: "Questions from customers" });
  await joinRoom(ben, room);
  await ann.getByRole("link", { name: room }).first().click();
  await send(ann, "Welcome! Reviews start at 10:00.");
  await moderate(ann, room, benName, "Make moderator");
  await expect(line(ann, `${annName} made ${benName} a moderator`)).toHaveCount(1);

  for (const [scheme, width, height] of [
    ["light", 1280, 800],
    ["dark", 1280, 800],
    ["light", 360, 740],
    ["dark", 360, 740],
  ] as const) {
    await ann.setViewportSize({ width, height });
    await setColorScheme(ann, scheme);
    const size = width < 400 ? "mobile" : "desktop";
    const panel = await openSettings(ann, room);
    await expect(panel.locator(`.member-row[data-user="${benName}"]`)).toContainText("moderator");
    await ann.screenshot({ path: testInfo.outputPath(`settings-${size}-${scheme}.png`) });
    await panel.getByRole("button", { name: "Close" }).click();
    if (width < 400) {
      await ann.locator("#menu-button").click();
    }
    await sidebar(ann).getByRole("button", { name: "Browse rooms" }).click();
    const directory = ann.getByRole("dialog", { name: "Browse rooms" });
    await directory.getByLabel("Search rooms").fill(tag);
    await expect(directory.getByTestId("directory").getByRole("listitem")).toHaveCount(2);
    await ann.screenshot({ path: testInfo.outputPath(`directory-${size}-${scheme}.png`) });
    await directory.getByRole("button", { name: "Close" }).click();
    await sidebar(ann).getByRole("button", { name: "New room" }).click();
    const create = ann.getByRole("dialog", { name: "New room" });
    await create.getByLabel("Name").fill("product-launch");
    await create.getByLabel("Private: only people you invite").check();
    await ann.screenshot({ path: testInfo.outputPath(`new-room-${size}-${scheme}.png`) });
    await create.getByRole("button", { name: "Cancel" }).click();
    if (width < 400) {
      await ann.locator("#menu-button").click();
      await expect(sidebar(ann)).not.toHaveClass(/open/);
    }
  }
});
