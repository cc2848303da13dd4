import { expect, test } from "@playwright/test";

import {
  convLink,
  meetInRoom,
  message,
  people,
  send,
  setHidden,
} from "./helpers";

test("typing shows to the others in the conversation, then goes", async ({
  browser,
  baseURL,
}) => {
  const { pages, close } = await people(browser, baseURL, 2);
  const [ann, ben] = pages;
  try {
    const { names } = await meetInRoom(ann, ben, "typing");

    const annTyping = ann.getByTestId("typing");
    const benTyping = ben.getByTestId("typing");
    const box = ann.getByLabel("Message", { exact: true });
    await box.pressSequentially("hel");
    await expect(benTyping).toHaveText(`${names[0]} is typing…`);
    // Nobody is told about themselves.
    await expect(annTyping).toHaveText("");

    // Without more keystrokes the notice runs out (after 5 s).
    await expect(benTyping).toHaveText("", { timeout: 10_000 });

    // Typing again shows it again; the message itself ends it.
    await box.pressSequentially("lo");
    await expect(benTyping).toHaveText(`${names[0]} is typing…`);
    await box.press("Enter");
    await expect(message(ben, "hello")).toHaveCount(1);
    await expect(benTyping).toHaveText("");
  } finally {
    await close();
  }
});

test("a conversation counts as read only while its page is visible", async ({
  browser,
  baseURL,
}) => {
  const { pages, close } = await people(browser, baseURL, 2);
  const [ann, ben] = pages;
  try {
    const { room } = await meetInRoom(ann, ben, "unseen");

    // Ben's tab goes to the background, still showing the room.
    await setHidden(ben, true);
    const first = `while hidden ${Date.now()}`;
    await send(ann, first);
    await expect(message(ben, first)).toHaveCount(1);
    await expect(convLink(ben, room).getByTestId("unread")).toContainText("1");

    // The count is the server's too: a second tab of Ben's sees it.
    const second = await ben.context().newPage();
    await second.goto("/");
    await expect(convLink(second, room).getByTestId("unread")).toContainText("1");

    // Back in front: read, here and on the server.
    await setHidden(ben, false);
    await expect(convLink(ben, room).getByTestId("unread")).toHaveCount(0);
    await expect(convLink(second, room).getByTestId("unread")).toHaveCount(0);
  } finally {
    await close();
  }
});
