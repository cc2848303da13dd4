import { expect } from "@playwright/test";

import { createRoom, freshName, setColorScheme, signIn, test } from "./helpers";

/** The admin the browser suite's server names with ADMINS (scripts/test.sh). */
const ADMIN = process.env.PARLEY_E2E_ADMIN ?? "e2e_admin";

test("the admin page is refused to everyone but the server's admins", async ({ pair }) => {
  const [ann] = pair;
  const anonymous = await ann.request.get("/admin");
  expect(anonymous.status()).toBe(401);
  const annName = freshName("ann");
  await signIn(ann, annName);
  await ann.getByRole("button", { name: `Your account (${annName})` }).click();
  const account = ann.getByRole("dialog", { name: "Your account" });
  await expect(account.getByRole("heading", { name: "Signed-in devices" })).toBeVisible();
  await expect(account.getByRole("button", { name: "Open the admin page" })).toHaveCount(0);
  const refused = await ann.goto("/admin");
  expect(refused?.status()).toBe(403);
  await expect(ann.locator("body")).toContainText("for the server's admins only");
  const api = await ann.request.get("/api/admin/users");
  expect(api.status()).toBe(403);
});

test("an admin sees the nodes, finds a user and disables them, archives a room, and reads the log", async ({
  pair,
}, testInfo) => {
  const [admin, ben] = pair;
  const benName = freshName("ben");
  await signIn(ben, benName);
  const room = freshName("ops").toLowerCase();
  await createRoom(ben, room, { topic: "Incidents" });
  await signIn(admin, ADMIN);
  await admin.getByRole("button", { name: `Your account (${ADMIN})` }).click();
  await admin.getByRole("button", { name: "Open the admin page" }).click();
  await expect(admin).toHaveURL(/\/admin$/);
  await expect(admin.getByRole("heading", { name: "Admin", level: 1 })).toBeVisible();
  const nodes = admin.getByTestId("admin-nodes");
  await expect(nodes.getByRole("row")).toHaveCount(2);
  await expect(nodes).toContainText("this node");
  // Both people's sockets are counted (the numbers refresh by themselves).
  await admin.getByRole("button", { name: "Refresh" }).click();
  await expect(nodes.getByRole("row").nth(1).getByRole("cell").first()).toHaveText("2");

  // Users: search, disable; the person is signed out at once.
  await admin.getByLabel("Search users").fill(benName);
  const row = admin.locator(`.admin-row[data-user="${benName}"]`);
  await expect(row).toContainText("online");
  await row.getByRole("button", { name: `Disable ${benName}` }).click();
  await expect(row).toContainText("disabled");
  await expect(ben.getByTestId("connection-status")).toHaveAttribute("data-ready-state", "closed");
  await row.getByRole("button", { name: `Enable ${benName}` }).click();
  await expect(row).not.toContainText("disabled");

  // Rooms: archive (read-only), and the log says so.
  await admin.getByLabel("Search rooms").fill(room);
  const roomRow = admin.locator(`.admin-row[data-room="${room}"]`);
  await roomRow.getByRole("button", { name: `Archive #${room}` }).click();
  await expect(roomRow).toContainText("archived");
  await admin.reload();
  await expect(admin.getByTestId("admin-log")).toContainText(`${ADMIN} archived the room`);
  await expect(admin.getByTestId("admin-log")).toContainText(`${ADMIN} disabled ${benName}'s account`);

  for (const [scheme, width, height] of [
    ["light", 1280, 800],
    ["dark", 1280, 800],
    ["light", 360, 740],
    ["dark", 360, 740],
  ] as const) {
    await admin.setViewportSize({ width, height });
    await setColorScheme(admin, scheme);
    await expect(admin.getByTestId("admin-nodes")).toBeVisible();
    const size = width < 400 ? "mobile" : "desktop";
    await admin.screenshot({ path: testInfo.outputPath(`admin-${size}-${scheme}.png`) });
  }
});
