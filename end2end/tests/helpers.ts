import { test as base, expect, type Page } from "@playwright/test";
import * as path from "node:path";

/**
 * Playwright's `test`, failing any test in whose pages the WASM panicked or a script threw: a
 * panic leaves a page half alive (buttons inert, statuses no longer live), which a test's own
 * assertions may not notice. Pages of contexts a test makes itself are watched by that test.
 */
export const test = base.extend<{ noPanics: void }>({
  noPanics: [
    async ({ context }, use) => {
      const seen: string[] = [];
      const watch = (page: Page) => {
        page.on("console", (m) => {
          if (m.text().includes("panicked")) seen.push(`${page.url()}: ${m.text()}`);
        });
        page.on("pageerror", (e) => seen.push(`${page.url()}: ${e.message}`));
      };
      context.pages().forEach(watch);
      context.on("page", watch);
      await use();
      expect(seen, "WASM panics or script errors in the test's pages").toEqual([]);
    },
    { auto: true },
  ],
});

export const ADMIN_PASSWORD = process.env.ONEKO_ADMIN_PASSWORD ?? "";

/** Screenshots land in end2end/test-results/screenshots/ for people to look at. */
export function shot(name: string): string {
  return path.join(__dirname, "..", "test-results", "screenshots", `${name}.png`);
}

/**
 * Waits until the WASM bundle has hydrated the page (a marker only client code sets, once the
 * whole page has hydrated), then until the page stops fetching (data only the browser loads,
 * such as a select's options).
 */
export async function hydrated(page: Page) {
  await expect(page.locator("div.layout")).toHaveAttribute("data-hydrated", "true");
  await page.waitForLoadState("networkidle");
}

export async function login(page: Page, username: string, password: string) {
  await page.goto("/login");
  await hydrated(page);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page.getByRole("button", { name: "Log out" })).toBeVisible();
}

export async function logout(page: Page) {
  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page.getByRole("heading", { name: "Log in to O-Neko" })).toBeVisible();
}

/**
 * As admin, creates a VIEWER and waits until the demo project's three tags are polled (the demo
 * is seeded in the background at start); then logs in as that VIEWER. Returns the username.
 */
export async function demoViewer(page: Page): Promise<string> {
  const viewer = `viewer${Date.now() % 100000}`;
  await login(page, "admin", ADMIN_PASSWORD);
  const created = await page.request.post("/api/create_user", {
    data: { user: { username: viewer, display_name: "", email: "", role: "VIEWER", password: `${viewer}-password` } },
  });
  expect(created.status()).toBe(200);
  await expect(async () => {
    const res = await page.request.post("/api/search_versions", { data: { text: "Demo shop" } });
    expect((await res.json()).length).toBe(3);
  }).toPass({ timeout: 60_000 });
  await logout(page);
  await login(page, viewer, `${viewer}-password`);
  return viewer;
}

/** Opens the dashboard and searches versions for `text`; returns the table of matches. */
export async function searchDashboard(page: Page, text: string) {
  await page.goto("/");
  await hydrated(page);
  await expect(page.getByText("Live: statuses update as they change.")).toBeVisible();
  const found = page.getByRole("table", { name: /versions? match/ });
  await page.getByLabel("Search versions").fill(text);
  await expect(found).toBeVisible();
  return found;
}

/** On the dashboard, finds `tag` of the demo project by search and clicks its Deploy button. */
export async function deployFromDashboard(page: Page, tag: string) {
  const found = await searchDashboard(page, tag);
  await found.getByRole("button", { name: `Deploy Demo shop:${tag}` }).click();
}
