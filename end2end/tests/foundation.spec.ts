import { expect } from "@playwright/test";
import { ADMIN_PASSWORD, hydrated, login, logout, shot, test } from "./helpers";

test("the release build hydrates", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto("/login");
  await hydrated(page);
  expect(errors).toEqual([]);
});

test("admin creates a viewer; the viewer is refused admin pages and changes their password", async ({ page }) => {
  expect(ADMIN_PASSWORD, "tools/test sets ONEKO_ADMIN_PASSWORD").not.toBe("");
  const viewer = `viewer${Date.now() % 100000}`;

  await page.goto("/login");
  await hydrated(page);
  await page.screenshot({ path: shot("login"), fullPage: true });

  // A wrong password shows a clear message next to the form.
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill("definitely-wrong");
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page.getByText("Wrong username or password.")).toBeVisible();

  await login(page, "admin", ADMIN_PASSWORD);
  await page.getByRole("link", { name: "Users" }).click();
  await expect(page.getByRole("heading", { name: "Users", level: 1 })).toBeVisible();

  // Bad input first: the error sits next to the field and nothing is created.
  await page.getByLabel("Username").fill(viewer);
  await page.getByLabel("Initial password").fill("short");
  await page.getByRole("button", { name: "Create user" }).click();
  await expect(page.locator("#new-password-error")).toContainText("At least 8 characters");

  await page.getByLabel("Name (optional)").fill("Vera Viewer");
  await page.getByLabel("Role").selectOption("VIEWER");
  await page.getByLabel("Initial password").fill("viewer-password-1");
  await page.getByRole("button", { name: "Create user" }).click();
  await expect(page.getByRole("status")).toContainText(`User ${viewer} created.`);
  const row = page.getByRole("row", { name: new RegExp(viewer) });
  await expect(row).toContainText("VIEWER");
  await expect(row).toContainText("Vera Viewer");
  await page.screenshot({ path: shot("users"), fullPage: true });
  await logout(page);

  await login(page, viewer, "viewer-password-1");
  await expect(page.getByRole("link", { name: "Users" })).toHaveCount(0);
  await page.goto("/admin/users");
  await hydrated(page);
  await expect(page.getByRole("heading", { name: "Access denied" })).toBeVisible();
  await expect(page.getByText("This page needs the ADMIN role.")).toBeVisible();
  await page.screenshot({ path: shot("users-refused"), fullPage: true });

  // The server refuses too, whatever the UI shows.
  const res = await page.request.post("/api/list_users", { data: {} });
  expect(res.status()).toBe(403);
  expect((await res.json()).kind).toBe("forbidden");

  await page.getByRole("link", { name: /Vera Viewer/ }).click();
  await expect(page.getByRole("heading", { name: "Your account" })).toBeVisible();
  await page.getByLabel("Current password").fill("viewer-password-1");
  await page.getByLabel("New password", { exact: true }).fill("viewer-password-2");
  await page.getByLabel("Repeat new password").fill("viewer-password-2");
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page.getByRole("status")).toContainText("Your password was changed.");
  await page.screenshot({ path: shot("account"), fullPage: true });
  await logout(page);

  await login(page, viewer, "viewer-password-2");
  await logout(page);

  // The logout page works as a link target too.
  await login(page, viewer, "viewer-password-2");
  await page.goto("/logout");
  await hydrated(page);
  await expect(page.getByText("You are logged out.")).toBeVisible();
  const me = await page.request.post("/api/get_current_user", { data: {} });
  expect(await me.json()).toBeNull();
});

test("unknown pages say so", async ({ page }) => {
  const res = await page.goto("/no/such/page");
  expect(res?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
});
