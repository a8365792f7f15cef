import { expect } from "@playwright/test";
import { demoViewer, deployFromDashboard, hydrated, shot, test } from "./helpers";

// A stop time a few seconds ahead: the scheduler (every 10 s by default) stops the version on its
// own, the open page shows it without a reload, and the activity log says the scheduler did it.
test("a version whose stop time comes is stopped by the scheduler, with an activity entry", async ({ page }) => {
  test.setTimeout(120_000);
  await demoViewer(page);
  await deployFromDashboard(page, "v1.0.0");
  const row = page.getByRole("table", { name: /deployed version/ }).getByRole("row", { name: /Demo shop:v1\.0\.0/ });
  await expect(row.getByText(/^Running/)).toBeVisible({ timeout: 30_000 });
  // The project list shows each project's worst state.
  await page.getByRole("link", { name: "Projects" }).click();
  const projectRow = page.getByRole("row", { name: /Demo shop/ });
  await expect(projectRow.getByRole("cell", { name: "Running", exact: true })).toBeVisible();
  await page.screenshot({ path: shot("projects-status"), fullPage: true });
  await page.goBack();

  await row.getByRole("link", { name: "Demo shop:v1.0.0" }).click();
  await expect(page.getByRole("heading", { name: "Demo shop : v1.0.0" })).toBeVisible();
  await hydrated(page);
  const status = page.locator(".deployment-status");
  await expect(status).toContainText("Running");

  await page.getByText("Stop at…").click();
  // datetime-local in UTC, to the second: 20 s from now.
  const at = new Date(Date.now() + 20_000).toISOString().slice(0, 19);
  await page.getByLabel("Stop time of Demo shop:v1.0.0 (UTC)").fill(at);
  await page.getByRole("button", { name: "Set the stop time of Demo shop:v1.0.0" }).click();
  await expect(page.locator(`time[datetime^='${at}']`)).toBeVisible();
  await page.screenshot({ path: shot("version-stop-soon"), fullPage: true });

  // Nobody clicks Stop: Stopping, then Not deployed, pushed live.
  await expect(status).toContainText("Not deployed", { timeout: 60_000 });

  await page.getByRole("link", { name: "Activity" }).click();
  await hydrated(page);
  await page.getByLabel("Actor").fill("scheduler");
  await page.getByLabel("Actor").press("Enter");
  const entries = page.getByRole("table", { name: /^Entries/ });
  const stopped = entries.getByRole("row", { name: /version\.stopped/ }).filter({ hasText: "Demo shop:v1.0.0" });
  await expect(stopped.first()).toContainText("its lifetime ended");
  await expect(stopped.first()).toContainText("scheduler");
  await page.screenshot({ path: shot("activity-scheduler-stop"), fullPage: true });
});
