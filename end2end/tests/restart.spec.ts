import { expect } from "@playwright/test";
import { ADMIN_PASSWORD, deployFromDashboard, login, test } from "./helpers";

// tools/test runs these alone, around a restart: "@before-restart" after the main suite, then it
// stops tools/run and starts it again in the same working directory, then "@after-restart". The
// second start reuses ./data (database, registry port and images, the demo project) while the
// simulated cluster starts empty.
const row = (page: import("@playwright/test").Page) =>
  page.getByRole("table", { name: /deployed version/ }).getByRole("row", { name: /Demo shop:v1\.0\.0/ });

test("@before-restart a version is left running", async ({ page }) => {
  await login(page, "admin", ADMIN_PASSWORD);
  await deployFromDashboard(page, "v1.0.0");
  await expect(row(page).getByText(/^Running/)).toBeVisible({ timeout: 30_000 });
});

test("@after-restart the second start reuses ./data and deploys the running version again", async ({ page }) => {
  test.setTimeout(120_000);
  await login(page, "admin", ADMIN_PASSWORD);
  await page.goto("/projects");
  await expect(page.getByRole("link", { name: "Demo shop" })).toBeVisible();
  // The empty simulated cluster lacks the version's namespace: the scheduler deploys it again.
  await page.goto("/");
  await expect(row(page).getByText(/^Running/)).toBeVisible({ timeout: 60_000 });
  await page.goto("/activity");
  await expect(page.getByText(/was missing from the cluster/).first()).toBeVisible();
  await page.goto("/");
  await row(page).getByRole("button", { name: "Stop Demo shop:v1.0.0" }).click();
  await expect(row(page)).toHaveCount(0, { timeout: 30_000 });
});
