import { expect, type Page } from "@playwright/test";
import * as path from "node:path";

export const ADMIN_PASSWORD = process.env.ONEKO_ADMIN_PASSWORD ?? "";

/** Screenshots land in end2end/test-results/screenshots/ for people to look at. */
export function shot(name: string): string {
  return path.join(__dirname, "..", "test-results", "screenshots", `${name}.png`);
}

/** Waits until the WASM bundle has hydrated the page (a marker only client code sets). */
export async function hydrated(page: Page) {
  await expect(page.locator("div.layout")).toHaveAttribute("data-hydrated", "true");
  // Suspended parts of a page (role-gated content, data loaded in the browser) finish after the
  // root hydrated; input typed before that is overwritten. Wait until the page stops fetching.
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
