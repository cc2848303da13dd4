import { expect } from "@playwright/test";

import {
  chip,
  DELETED,
  deleteMessage,
  editMessage,
  meetInRoom,
  menuAction,
  message,
  messageAction,
  postMany,
  react,
  send,
  signIn,
  test,
  tombstones,
  setColorScheme,
} from "./helpers";

test("an edit and a deletion show live to the other person, and after a reload", async ({ pair }) => {
  const [ann, ben] = pair;
  await meetInRoom(ann, ben, "edits");
  const stamp = Date.now();
  const draft = `first draft ${stamp}`;
  const final = `final words ${stamp}`;
  await send(ann, draft);
  await expect(message(ben, draft)).toHaveCount(1);
  // Only one's own messages can be edited.
  await message(ben, draft).hover();
  await expect(message(ben, draft).getByRole("button", { name: "Edit" })).toHaveCount(0);

  await messageAction(ann, draft, "Edit");
  const editor = ann.getByRole("textbox", { name: "Edit message" });
  await expect(editor).toBeFocused();
  await expect(editor).toHaveValue(draft);
  await editor.fill(final);
  await editor.press("Enter");
  await expect(editor).toHaveCount(0);

  for (const page of [ann, ben]) {
    const row = message(page, final);
    await expect(row.locator(".body")).toHaveText(final);
    const marker = row.locator(".edited");
    await expect(marker).toContainText("(edited)");
    await expect(marker).toHaveAttribute("title", /^Edited Today at \d\d:\d\d$/);
    await expect(message(page, draft)).toHaveCount(0);
  }
  // The marker can be reached by keyboard and tells when.
  const marker = message(ben, final).locator(".edited");
  await marker.focus();
  await expect(marker).toBeFocused();
  await expect(marker.locator(".visually-hidden")).toHaveText(/^Edited Today at/);

  // The author sees what it said before.
  await menuAction(ann, final, "Edit history");
  const history = ann.getByRole("dialog", { name: "Edit history" });
  await expect(history.getByRole("listitem")).toHaveCount(2);
  await expect(history.getByRole("listitem").first()).toContainText(draft);
  await expect(history.getByRole("listitem").last()).toContainText(final);
  await ann.keyboard.press("Escape");
  await expect(history).toHaveCount(0);
  // Others cannot ask for it.
  await message(ben, final).hover();
  await message(ben, final).getByRole("button", { name: "More actions" }).click();
  await expect(ben.getByRole("menuitem", { name: "Edit history" })).toHaveCount(0);
  await expect(ben.getByRole("menuitem", { name: "Delete" })).toHaveCount(0);
  await ben.keyboard.press("Escape");
  await expect(ben.getByRole("menu")).toHaveCount(0);

  // Deleting asks first, in the page; cancelling keeps the message.
  const dialogs: string[] = [];
  ann.on("dialog", (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  await menuAction(ann, final, "Delete");
  const confirm = ann.getByRole("dialog", { name: "Delete message" });
  await expect(confirm).toBeVisible();
  await confirm.getByRole("button", { name: "Cancel" }).click();
  await expect(confirm).toHaveCount(0);
  await expect(message(ann, final)).toHaveCount(1);
  await menuAction(ann, final, "Delete");
  await confirm.getByRole("button", { name: "Delete" }).click();
  for (const page of [ann, ben]) {
    await expect(tombstones(page)).toHaveCount(1);
    await expect(message(page, final)).toHaveCount(0);
    // The tombstone keeps its place and its time.
    await expect(tombstones(page).locator("time")).toHaveText(/^\d\d:\d\d$/);
  }
  expect(dialogs).toEqual([]);

  await ben.reload();
  await expect(tombstones(ben)).toHaveCount(1);
  await expect(message(ben, final)).toHaveCount(0);
  await expect(message(ben, draft)).toHaveCount(0);
});

test("Up in an empty composer edits one's last message; Escape cancels, Shift+Enter adds a line", async ({ pair }) => {
  const [ann, ben] = pair;
  await meetInRoom(ann, ben, "uparrow");
  const stamp = Date.now();
  await send(ann, `older ${stamp}`);
  await send(ann, `newest ${stamp}`);
  await send(ben, `not mine ${stamp}`);
  await expect(message(ann, `not mine ${stamp}`)).toHaveCount(1);

  const box = ann.getByLabel("Message", { exact: true });
  await box.focus();
  await box.press("ArrowUp");
  const editor = ann.getByRole("textbox", { name: "Edit message" });
  await expect(editor).toBeFocused();
  await expect(editor).toHaveValue(`newest ${stamp}`);
  await editor.press("Escape");
  await expect(editor).toHaveCount(0);
  await expect(box).toBeFocused();
  await expect(message(ann, `newest ${stamp}`).locator(".edited")).toHaveCount(0);

  // Not in a composer with text in it.
  await box.fill("draft");
  await box.press("ArrowUp");
  await expect(editor).toHaveCount(0);
  await box.fill("");

  await box.press("ArrowUp");
  await expect(editor).toBeFocused();
  await editor.press("End");
  await editor.pressSequentially(" (fixed)");
  await editor.press("Shift+Enter");
  await editor.pressSequentially("second line");
  await editor.press("Enter");
  for (const page of [ann, ben]) {
    const row = message(page, `newest ${stamp} (fixed)`);
    await expect(row.locator(".body")).toHaveText(`newest ${stamp} (fixed)\nsecond line`);
    await expect(row.locator(".edited")).toBeVisible();
  }
});

test("a reply quotes its original, jumps to it when it is far back, and follows its changes", async ({ pair }) => {
  test.setTimeout(60_000);
  const [ann, ben] = pair;
  const { names, room } = await meetInRoom(ann, ben, "replies");
  const stamp = Date.now();
  const original = `the original question ${stamp}`;
  await send(ann, original);
  await expect(message(ben, original)).toHaveCount(1);

  // Starting a reply shows the quote in the composer; Escape drops it.
  await messageAction(ben, original, "Reply");
  const replying = ben.getByTestId("replying");
  await expect(replying).toContainText(names[0]);
  await expect(replying).toContainText(original);
  const box = ben.getByLabel("Message", { exact: true });
  await expect(box).toBeFocused();
  await box.press("Escape");
  await expect(replying).toHaveCount(0);

  // Many messages later, Ben answers it.
  await postMany(
    ann,
    room,
    Array.from({ length: 65 }, (_, i) => `filler ${String(i).padStart(2, "0")} ${stamp}`),
  );
  await expect(message(ben, `filler 64 ${stamp}`)).toHaveCount(1);
  await messageAction(ben, original, "Reply");
  await expect(replying).toContainText(original);
  // The cancel button works too.
  await ben.getByRole("button", { name: "Cancel reply" }).click();
  await expect(replying).toHaveCount(0);
  await messageAction(ben, original, "Reply");
  const answer = `the answer ${stamp}`;
  await send(ben, answer);
  await expect(replying).toHaveCount(0);

  for (const page of [ann, ben]) {
    const quote = message(page, answer).getByRole("button", { name: /^Reply to / });
    await expect(quote).toContainText(names[0]);
    await expect(quote).toContainText(original);
  }

  // After a reload Ann holds only the newest page: the original is not there.
  await ann.reload();
  await expect(message(ann, answer)).toHaveCount(1);
  await expect(message(ann, original)).toHaveCount(0);
  await message(ann, answer).getByRole("button", { name: /^Reply to / }).click();
  await expect(message(ann, original)).toHaveCount(1);
  await expect(message(ann, original)).toBeInViewport();

  // The quote shows the original as it is now: edited, then deleted. It
  // is text without the Markdown: what the message shows, on one line.
  const edited = `the original question, **rephrased**\n\n- with _a list_ ${stamp}`;
  const shown = `the original question, rephrased with a list ${stamp}`;
  await editMessage(ann, original, edited);
  const benQuote = message(ben, answer).getByRole("button", { name: /^Reply to / });
  await expect(benQuote.locator(".quote-body")).toHaveText(shown);
  // (Chromium puts a space around the hidden ": ", a positioned element.)
  await expect(benQuote).toHaveAccessibleName(new RegExp(`^Reply to ${names[0]} ?: ${shown}$`));
  await messageAction(ben, "rephrased", "Reply");
  await expect(replying).toContainText(shown);
  await box.press("Escape");
  await deleteMessage(ann, "rephrased");
  await expect(benQuote).toContainText(DELETED);
  await expect(benQuote).not.toContainText("rephrased");
  // The reply still leads to the tombstone.
  await ben.reload();
  await expect(benQuote).toContainText(DELETED);
  await benQuote.click();
  await expect(tombstones(ben)).toBeInViewport();
});

test("reactions: chips with counts, ours pressed, toggled by a click, live and after a reload", async ({ pair }) => {
  const [ann, ben] = pair;
  const { names } = await meetInRoom(ann, ben, "reactions");
  const text = `react to me ${Date.now()}`;
  await send(ann, text);
  await expect(message(ben, text)).toHaveCount(1);

  await messageAction(ben, text, "Add reaction");
  const picker = ben.getByRole("dialog", { name: "Add reaction" });
  await expect(picker).toBeVisible();
  // Escape closes it without a choice.
  await ben.keyboard.press("Escape");
  await expect(picker).toHaveCount(0);
  await messageAction(ben, text, "Add reaction");
  await picker.getByRole("button", { name: "👍" }).click();
  await expect(picker).toHaveCount(0);

  await expect(chip(ben, text, "👍")).toHaveText("👍1");
  await expect(chip(ben, text, "👍")).toHaveAttribute("aria-pressed", "true");
  await expect(chip(ann, text, "👍")).toHaveText("👍1");
  await expect(chip(ann, text, "👍")).toHaveAttribute("aria-pressed", "false");
  await expect(chip(ann, text, "👍")).toHaveAttribute("title", `${names[1]} reacted with 👍`);

  // Ann adds hers by clicking the chip; any emoji can be typed.
  await chip(ann, text, "👍").click();
  await expect(chip(ann, text, "👍")).toHaveText("👍2");
  await expect(chip(ann, text, "👍")).toHaveAttribute("aria-pressed", "true");
  await expect(chip(ben, text, "👍")).toHaveText("👍2");
  await expect(chip(ben, text, "👍")).toHaveAttribute(
    "title",
    `you and ${names[0]} reacted with 👍`,
  );
  await messageAction(ann, text, "Add reaction");
  const annPicker = ann.getByRole("dialog", { name: "Add reaction" });
  const field = annPicker.getByLabel("Any emoji");
  await field.fill("not one");
  await field.press("Enter");
  await expect(annPicker.getByRole("alert")).toHaveText("Type one emoji.");
  await field.fill("🦀");
  await field.press("Enter");
  await expect(chip(ben, text, "🦀")).toHaveText("🦀1");

  // Ben takes his thumb back.
  await chip(ben, text, "👍").click();
  await expect(chip(ben, text, "👍")).toHaveAttribute("aria-pressed", "false");
  await expect(chip(ann, text, "👍")).toHaveText("👍1");

  for (const page of [ann, ben]) {
    await page.reload();
    await expect(chip(page, text, "👍")).toHaveText("👍1");
    await expect(chip(page, text, "🦀")).toHaveText("🦀1");
  }
  await expect(chip(ann, text, "👍")).toHaveAttribute("aria-pressed", "true");
  await expect(chip(ben, text, "👍")).toHaveAttribute("aria-pressed", "false");
});

test("changes made while someone is away are there when they come back", async ({
  pair,
  browser,
  baseURL,
}) => {
  const [ann, ben] = pair;
  const { names, room } = await meetInRoom(ann, ben, "away");
  const stamp = Date.now();
  await send(ann, `will change ${stamp}`);
  await send(ann, `will go ${stamp}`);
  await expect(message(ben, `will go ${stamp}`)).toHaveCount(1);
  await ben.context().close();

  await editMessage(ann, `will change ${stamp}`, `changed ${stamp}`);
  await expect(message(ann, `changed ${stamp}`).locator(".edited")).toBeVisible();
  await react(ann, `changed ${stamp}`, "🎉");
  await expect(chip(ann, `changed ${stamp}`, "🎉")).toHaveText("🎉1");
  await deleteMessage(ann, `will go ${stamp}`);
  await expect(tombstones(ann)).toHaveCount(1);

  const context = await browser.newContext({ baseURL });
  try {
    const back = await context.newPage();
    await signIn(back, names[1], `/c/room/${room}`);
    await expect(message(back, `changed ${stamp}`).locator(".edited")).toBeVisible();
    await expect(message(back, `will change ${stamp}`)).toHaveCount(0);
    await expect(chip(back, `changed ${stamp}`, "🎉")).toHaveText("🎉1");
    await expect(tombstones(back)).toHaveCount(1);
    await expect(message(back, `will go ${stamp}`)).toHaveCount(0);
  } finally {
    await context.close();
  }
});

test("at 360 px every message has a visible ⋯ menu, usable by keyboard", async ({ pair }) => {
  const [ann, ben] = pair;
  await meetInRoom(ann, ben, "narrow");
  const text = `small screen ${Date.now()}`;
  await send(ben, text);
  await ann.setViewportSize({ width: 360, height: 740 });
  const row = message(ann, text);
  const more = row.getByRole("button", { name: "More actions" });
  await expect(more).toBeVisible();
  // Visible without hovering: not faded out (once its fade-in is over).
  await expect(row.locator(".actions")).toHaveCSS("opacity", "1");
  // The quick buttons are left to the menu.
  await expect(row.getByRole("button", { name: "Reply", exact: true })).toBeHidden();

  await more.focus();
  await ann.keyboard.press("Enter");
  const menu = ann.getByRole("menu", { name: "Message actions" });
  await expect(menu).toBeVisible();
  await expect(menu.getByRole("menuitem", { name: "Reply" })).toBeFocused();
  await ann.keyboard.press("ArrowDown");
  await expect(menu.getByRole("menuitem", { name: "Add reaction" })).toBeFocused();
  await ann.keyboard.press("Escape");
  await expect(menu).toHaveCount(0);
  await expect(more).toBeFocused();
  const overflow = await ann.evaluate(
    () => document.documentElement.scrollWidth - window.innerWidth,
  );
  expect(overflow).toBeLessThanOrEqual(0);

  await more.click();
  await menu.getByRole("menuitem", { name: "Add reaction" }).click();
  const picker = ann.getByRole("dialog", { name: "Add reaction" });
  await expect(picker).toBeVisible();
  const box = await picker.boundingBox();
  expect(box).not.toBeNull();
  expect(box!.x).toBeGreaterThanOrEqual(0);
  expect(box!.x + box!.width).toBeLessThanOrEqual(360);
  await picker.getByRole("button", { name: "❤️" }).click();
  await expect(chip(ben, text, "❤️")).toHaveText("❤️1");

  await more.click();
  await menu.getByRole("menuitem", { name: "Reply" }).click();
  await expect(ann.getByTestId("replying")).toContainText(text);

  // On a wide screen the bar shows when the keyboard reaches the message.
  await ann.setViewportSize({ width: 1280, height: 800 });
  await ann.mouse.move(0, 0);
  const bar = row.getByRole("group", { name: "Message actions" });
  await expect(bar).toHaveCSS("opacity", "0");
  await row.getByRole("button", { name: "Reply", exact: true }).focus();
  await expect(bar).toHaveCSS("opacity", "1");
});

test("rich text renders as formatting, and markup, images and script links stay inert", async ({ pair }) => {
  const [ann, ben] = pair;
  const dialogs: string[] = [];
  for (const page of pair) {
    page.on("dialog", async (dialog) => {
      dialogs.push(dialog.message());
      await dialog.dismiss();
    });
  }
  await meetInRoom(ann, ben, "richtext");
  await ben.context().grantPermissions(["clipboard-read", "clipboard-write"]);
  const stamp = Date.now();
  await send(ann, `**bold ${stamp}** and *slanted* and ~~struck~~ and \`inline()\``);
  await send(ann, `code ${stamp}:\n\`\`\`\nfn main() {\n    println!("hi");\n}\n\`\`\``);
  await send(ann, `> quoted ${stamp}\n\n- one\n- two`);
  const attack = `<b>x</b> <img src=x onerror=alert(1)> [a](javascript:alert(1)) inert ${stamp}`;
  await send(ann, attack);
  await send(ann, "🎉🎉");

  for (const page of [ann, ben]) {
    const bold = message(page, `bold ${stamp}`);
    await expect(bold.locator("strong")).toHaveText(`bold ${stamp}`);
    await expect(bold.locator("em")).toHaveText("slanted");
    await expect(bold.locator("del")).toHaveText("struck");
    await expect(bold.locator("code")).toHaveText("inline()");

    const code = message(page, `code ${stamp}`).locator("pre code");
    await expect(code).toHaveText('fn main() {\n    println!("hi");\n}');
    await expect(code).toHaveCSS("font-family", /mono/i);

    const quoted = message(page, `quoted ${stamp}`);
    await expect(quoted.locator("blockquote")).toHaveText(`quoted ${stamp}`);
    await expect(quoted.locator("ul > li")).toHaveText(["one", "two"]);

    const inert = message(page, `inert ${stamp}`);
    await expect(inert.locator(".body")).toHaveText(
      `<b>x</b> <img src=x onerror=alert(1)> a inert ${stamp}`,
    );
    await expect(inert.locator(".body b")).toHaveCount(0);
    await expect(inert.locator("img")).toHaveCount(0);
    await expect(inert.locator("a")).toHaveCount(0);
    await expect(page.locator('a[href^="javascript" i]')).toHaveCount(0);
    await expect(page.getByTestId("messages").locator("img")).toHaveCount(0);

    await expect(message(page, "🎉🎉").locator(".body")).toHaveClass(/jumbo/);
  }

  // The copy button puts the code on the clipboard.
  const block = message(ben, `code ${stamp}`);
  await block.locator(".code-block").hover();
  await block.getByRole("button", { name: "Copy code" }).click();
  await expect(block.getByRole("button", { name: "Copy code" })).toHaveText("Copied");
  expect(await ben.evaluate(() => navigator.clipboard.readText())).toBe(
    'fn main() {\n    println!("hi");\n}',
  );

  await ben.reload();
  await expect(message(ben, `bold ${stamp}`).locator("strong")).toHaveText(`bold ${stamp}`);
  await expect(ben.locator('a[href^="javascript" i]')).toHaveCount(0);
  expect(dialogs).toEqual([]);
});

test("screenshots: formatting, an edit, a tombstone, a reply and reactions; light and dark, desktop and 360 px", async ({ pair }, testInfo) => {
  test.setTimeout(60_000);
  const [ann, ben] = pair;
  await meetInRoom(ann, ben, "design");
  await send(ann, "Morning! The **new build** is up on staging: https://example.com/parley");
  await send(ben, "Nice. Does the deploy script still need `--force`?");
  await send(
    ann,
    "Only the first time:\n```\n./deploy.sh --env staging --force --verbose --region eu-west-1\n```",
  );
  await send(ann, "> Does the deploy script still need `--force`?\n\nNo, it detects a fresh host now.");
  await send(ben, "Lunch at noon?");
  await send(ben, "Scratch that, I have a call");
  await send(ann, "Release notes:\n- faster sync\n- *edits* and ~~no~~ deletes\n- reactions");
  await expect(message(ben, "Release notes")).toHaveCount(1);

  // An edit, a deletion, a reply and reactions.
  await editMessage(ben, "Lunch at noon?", "Lunch at 12:30?");
  await deleteMessage(ben, "Scratch that");
  await expect(tombstones(ann)).toHaveCount(1);
  await messageAction(ann, "Lunch at 12:30?", "Reply");
  await send(ann, "Sure, see you there 🎉");
  for (const [page, emoji] of [
    [ben, "🎉"],
    [ann, "👍"],
    [ben, "👍"],
    [ann, "❤️"],
  ] as const) {
    await react(page, "Release notes", emoji);
  }
  await expect(chip(ann, "Release notes", "👍")).toHaveText("👍2");
  await expect(chip(ann, "Release notes", "❤️")).toHaveText("❤️1");
  await expect(chip(ann, "Release notes", "🎉")).toHaveText("🎉1");
  await expect(message(ann, "Lunch at 12:30?").locator(".edited")).toBeVisible();
  await expect(message(ann, "Sure, see you there").getByRole("button", { name: /^Reply to / })).toContainText("Lunch at 12:30?");

  const shots: [string, number, number, "light" | "dark"][] = [
    ["messages-desktop-light", 1280, 800, "light"],
    ["messages-desktop-dark", 1280, 800, "dark"],
    ["messages-mobile-light", 360, 740, "light"],
    ["messages-mobile-dark", 360, 740, "dark"],
  ];
  for (const [name, width, height, colorScheme] of shots) {
    await ann.setViewportSize({ width, height });
    await setColorScheme(ann, colorScheme);
    await ann.mouse.move(0, 0);
    const overflow = await ann.evaluate(
      () => document.documentElement.scrollWidth - window.innerWidth,
    );
    expect(overflow).toBeLessThanOrEqual(0);
    await ann.screenshot({ path: testInfo.outputPath(`${name}.png`) });
  }
  // The actions on hover, and the menu, on a desktop.
  await ann.setViewportSize({ width: 1280, height: 800 });
  await setColorScheme(ann, "light");
  await message(ann, "Release notes").hover();
  await ann.screenshot({ path: testInfo.outputPath("messages-desktop-hover.png") });
  await message(ann, "Release notes").getByRole("button", { name: "More actions" }).click();
  await expect(ann.getByRole("menu")).toBeVisible();
  await ann.screenshot({ path: testInfo.outputPath("messages-desktop-menu.png") });
  await ann.keyboard.press("Escape");
  await messageAction(ann, "Release notes", "Add reaction");
  await expect(ann.getByRole("dialog", { name: "Add reaction" })).toBeVisible();
  await setColorScheme(ann, "dark");
  await ann.screenshot({ path: testInfo.outputPath("messages-desktop-dark-picker.png") });
  await ann.keyboard.press("Escape");
  await ann.setViewportSize({ width: 360, height: 740 });
  await menuAction(ann, "Release notes", "Delete");
  await expect(ann.getByRole("dialog", { name: "Delete message" })).toBeVisible();
  await ann.screenshot({ path: testInfo.outputPath("messages-mobile-dark-delete.png") });
  await ann.keyboard.press("Escape");
  await expect(ann.getByRole("dialog", { name: "Delete message" })).toHaveCount(0);
  await expect(message(ann, "Release notes")).toHaveCount(1);
});

test("formatting comes with the parser's module; a browser that cannot fetch it still shows every message, as typed", async ({
  pair,
}) => {
  const [ann, ben] = pair;
  // Ben's browser cannot fetch the parser's module (`cargo leptos --split`).
  let blocked = 0;
  await ben.route(/\/pkg\/split_markdown[^/]*\.wasm$/, async (route) => {
    blocked += 1;
    await route.abort();
  });
  await meetInRoom(ann, ben, "plain");
  const stamp = Date.now();
  const text = `**plain ${stamp}** and \`code\``;
  await send(ann, text);
  await expect(message(ann, `plain ${stamp}`).locator("strong")).toHaveText(`plain ${stamp}`);
  await expect(message(ben, `plain ${stamp}`).locator(".body")).toHaveText(text);
  await expect(message(ben, `plain ${stamp}`).locator("strong")).toHaveCount(0);
  expect(blocked).toBeGreaterThan(0);
  // Nothing else is affected.
  await send(ben, `still here ${stamp}`);
  await expect(message(ann, `still here ${stamp}`)).toHaveCount(1);
});
