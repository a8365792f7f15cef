import { expect, type Page } from "@playwright/test";
import { ADMIN_PASSWORD, hydrated, login, logout, shot, test } from "./helpers";

// The OpenID Provider tools/test starts (npm oidc-provider, end2end/idp.mjs) beside O-Neko.
const idp = process.env.E2E_IDP_URL;
test.skip(!idp, "needs the OpenID Provider that tools/test starts (E2E_IDP_URL)");

/** From O-Neko's login page through the provider's own login form, as `login`. */
async function signIn(page: Page, login: string) {
  await page.goto("/login");
  await hydrated(page);
  await page.getByRole("link", { name: "Log in with single sign-on" }).click();
  await expect(page).toHaveURL(new RegExp(`^${idp}/interaction/`));
  // The provider's page has placeholders, not labels.
  await page.getByPlaceholder("Enter any login").fill(login);
  await page.getByPlaceholder("and password").fill("any password");
  await page.getByRole("button", { name: "Sign-in" }).click();
}

test("a developer signs in through the identity provider as a DOER, and out again", async ({ page }) => {
  await page.goto("/login");
  await hydrated(page);
  await expect(page.getByRole("link", { name: "Log in with single sign-on" })).toBeVisible();
  await expect(page.getByLabel("Username")).toBeVisible();
  await page.screenshot({ path: shot("login-single-sign-on"), fullPage: true });

  await signIn(page, "bob");
  await expect(page.getByRole("button", { name: "Log out" })).toBeVisible();
  // A full load of another page keeps the session; the role came from bob's group.
  await page.goto("/account");
  await hydrated(page);
  await expect(page.getByRole("definition").filter({ hasText: /^bob$/ })).toBeVisible();
  await expect(page.getByRole("definition").filter({ hasText: /^DOER$/ })).toBeVisible();
  // A DOER may create projects.
  await page.goto("/projects");
  await hydrated(page);
  await expect(page.getByRole("button", { name: "New project" })).toBeVisible();

  await logout(page);
  await page.goto("/account");
  await hydrated(page);
  await expect(page.getByRole("definition").filter({ hasText: /^bob$/ })).toHaveCount(0);

  // An admin sees bob as a single sign-on user, created with the provider's name and email.
  await login(page, "admin", ADMIN_PASSWORD);
  await page.goto("/admin/users");
  await hydrated(page);
  const bob = page.getByRole("row").filter({ has: page.getByRole("rowheader", { name: "bob", exact: true }) });
  await expect(bob.getByRole("cell", { name: "Single sign-on" })).toBeVisible();
  await expect(bob.getByRole("cell", { name: "bob@example.test" })).toBeVisible();
  await expect(bob.getByRole("cell", { name: "DOER" })).toBeVisible();
  await page.screenshot({ path: shot("users-single-sign-on"), fullPage: true });
});

test("someone whose groups map to no role is sent back with the reason", async ({ page }) => {
  await signIn(page, "mallory");
  await expect(page).toHaveURL(/\/login$/);
  await hydrated(page);
  const alert = page.getByRole("alert");
  await expect(alert).toContainText("Single sign-on failed: mallory has no O-Neko role (groups: marketing)");
  await expect(page.getByRole("button", { name: "Log out" })).toHaveCount(0);
  await page.screenshot({ path: shot("login-single-sign-on-refused"), fullPage: true });
  // The message is shown once.
  await page.reload();
  await hydrated(page);
  await expect(page.getByRole("alert")).toHaveCount(0);
});
