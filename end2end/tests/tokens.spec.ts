import { expect } from "@playwright/test";
import { ADMIN_PASSWORD, demoViewer, hydrated, login, shot, test } from "./helpers";

test("a user creates an API token, a script uses it, the user revokes it", async ({ page, browser, playwright }) => {
  const viewer = await demoViewer(page);
  await page.goto("/account");
  await hydrated(page);
  await expect(page.getByText("No API tokens.")).toBeVisible();
  await page.getByLabel("Token name").fill("ci-deploy");
  await page.getByLabel("Expires after (days; empty: never)").fill("30");
  await page.getByLabel("Acts as").selectOption({ label: "My role (VIEWER)" });
  await page.getByRole("button", { name: "Create token" }).click();
  const secretField = page.getByLabel("New token");
  await expect(secretField).toHaveValue(/^onk_\d+_[0-9a-f]{64}$/);
  const secret = await secretField.inputValue();
  await expect(page.getByRole("row", { name: /ci-deploy/ })).toContainText("Not yet");
  await page.screenshot({ path: shot("account-api-tokens"), fullPage: true });

  // A script without the browser's cookies, with the token only.
  const script = await playwright.request.newContext({ baseURL: page.url() });
  const headers = { Authorization: `Bearer ${secret}` };
  const listed = await script.get("/api/v1/projects?name=Demo%20shop", { headers });
  expect(listed.status()).toBe(200);
  expect((await listed.json()).items[0].name).toBe("Demo shop");

  // An ADMIN sees everyone's tokens on the users page.
  const adminContext = await browser.newContext({ baseURL: page.url() });
  const admin = await adminContext.newPage();
  await login(admin, "admin", ADMIN_PASSWORD);
  await admin.goto("/admin/users");
  await hydrated(admin);
  await expect(admin.getByRole("heading", { name: "API tokens of all users" })).toBeVisible();
  await expect(admin.getByRole("button", { name: `Revoke token ci-deploy of ${viewer}` })).toBeVisible();
  await admin.screenshot({ path: shot("admin-api-tokens"), fullPage: true });
  await adminContext.close();

  // A full reload shows the use; revoking ends it.
  await page.reload();
  await hydrated(page);
  const row = page.getByRole("row", { name: /ci-deploy/ });
  await expect(row).not.toContainText("Not yet");
  await expect(page.getByLabel("New token")).toHaveCount(0);
  await page.getByRole("button", { name: "Revoke token ci-deploy" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Token revoked" })).toBeVisible();
  await expect(page.getByText("No API tokens.")).toBeVisible();
  const refused = await script.get("/api/v1/projects", { headers });
  expect(refused.status()).toBe(401);
  expect((await refused.json()).kind).toBe("unauthenticated");
  await script.dispose();
});
