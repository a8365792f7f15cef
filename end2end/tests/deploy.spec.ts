import { expect } from "@playwright/test";
import { demoViewer, deployFromDashboard, hydrated, searchDashboard, shot, test } from "./helpers";

// tools/test starts the server in demo mode: the sample project "Demo shop" with the tags main,
// v1.0.0 and feature-dark-mode, deploying into the simulated cluster.
test("a VIEWER deploys from the dashboard, watches it run live, reads its logs and stops it", async ({ page }) => {
  test.setTimeout(120_000);
  const viewer = await demoViewer(page);
  await deployFromDashboard(page, "main");
  await expect(page.getByRole("note")).toContainText("simulated Kubernetes cluster");
  await expect(page.getByText("Live: statuses update as they change.")).toBeVisible();

  // The new deployment appears and turns Running without a reload.
  const deployed = page.getByRole("table", { name: /deployed version/ });
  const row = deployed.getByRole("row", { name: /Demo shop:main/ });
  await expect(row).toContainText(/Deploying|Running/);
  await expect(row.getByText(/^Running/)).toBeVisible({ timeout: 30_000 });
  await expect(row.getByRole("link", { name: "main.shop.demo.o-neko.test" })).toBeVisible();
  await page.screenshot({ path: shot("dashboard"), fullPage: true });

  // A dashboard select variable: switched by the VIEWER, the version is then outdated.
  // (To the value it does not have: an earlier run of this test may have switched it.)
  const backend = row.getByLabel("Backend of Demo shop:main");
  const staging = "https://staging-api.example.com";
  await backend.selectOption((await backend.inputValue()) === staging ? "https://api.example.com" : staging);
  await expect(row).toContainText("configuration changed since it was deployed");

  // The version page: live status, pods with the image they run, logs.
  await row.getByRole("link", { name: "Demo shop:main" }).click();
  await expect(page.getByRole("heading", { name: "Demo shop : main" })).toBeVisible();
  await hydrated(page);
  const status = page.locator(".deployment-status");
  await expect(status).toContainText("Running");
  const pods = page.getByRole("table", { name: "Pods" });
  // The web pod, and the pre-install migration hook's finished one.
  await expect(pods.getByRole("row", { name: /^shop-migrate-/ })).toContainText("Succeeded");
  const web = pods.getByRole("row").filter({ has: page.getByRole("cell", { name: "Running", exact: true }) });
  await expect(web).toHaveCount(1);
  await expect(web).toContainText("1/1");
  await expect(pods).toContainText("sha256:");
  await page.getByRole("button", { name: "Show logs" }).click();
  const log = page.getByLabel(/^Log of /);
  await expect(log).toContainText("simulated by kube-sim");
  await page.getByRole("button", { name: "Follow live" }).click();
  await expect(page.getByRole("button", { name: "Stop following" })).toHaveAttribute("aria-pressed", "true");
  await expect(log).toContainText(/GET \/healthz 200 \(\d+\)/, { timeout: 10_000 });
  await page.screenshot({ path: shot("version-status-logs"), fullPage: true });
  await page.getByRole("button", { name: "Stop following" }).click();

  // The demo's lifetime is two days; every role may extend it or choose a stop time.
  await expect(page.getByText(/Stops in (4[78] h|2 days)/)).toBeVisible();
  await page.getByRole("button", { name: "Extend Demo shop:main" }).click();
  await page.getByText("Stop at…").click();
  // More than a year ahead is refused, with the reason.
  const stopTime = page.getByLabel("Stop time of Demo shop:main (UTC)");
  const setStop = page.getByRole("button", { name: "Set the stop time of Demo shop:main" });
  await stopTime.fill(`${new Date().getUTCFullYear() + 2}-01-01T12:00`);
  await setStop.click();
  const tooLate = page.getByRole("alert").filter({ hasText: "At most a year from now" });
  await expect(tooLate).toBeVisible();
  // A month ahead, at noon (UTC), is taken.
  const day = new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10);
  await stopTime.fill(`${day}T12:00`);
  await setStop.click();
  await expect(page.locator(`time[datetime^='${day}T12:00']`)).toBeVisible();
  await expect(tooLate).toHaveCount(0);

  // Redeploy clears "outdated"; Stop removes it: Stopping, then Not deployed.
  await page.getByRole("button", { name: "Redeploy Demo shop:main" }).click();
  await expect(status).not.toContainText("configuration changed", { timeout: 30_000 });
  await expect(status).toContainText("Running", { timeout: 30_000 });
  await page.getByRole("button", { name: "Stop Demo shop:main" }).click();
  await expect(status).toContainText(/Stopping|Not deployed/);
  await expect(status).toContainText("Not deployed", { timeout: 30_000 });
  await page.screenshot({ path: shot("version-stopped"), fullPage: true });

  // The activity log, filtered to what this VIEWER did.
  await page.getByRole("link", { name: "Activity" }).click();
  await hydrated(page);
  await page.getByLabel("Actor").fill(viewer);
  await page.getByLabel("Actor").press("Enter");
  const entries = page.getByRole("table", { name: /^Entries/ });
  await expect(entries.getByRole("row", { name: /version\.extended/ }).first()).toContainText(`${day} 12:00`);
  await expect(entries.getByRole("row", { name: /version\.stopped/ })).toContainText(viewer);
  await expect(entries.getByRole("row", { name: /user\.created/ })).toHaveCount(0);
  await page.screenshot({ path: shot("activity-filtered"), fullPage: true });
});

test("a VIEWER deploys two versions at once from the search, filters by project, and stops both at once", async ({ page }) => {
  test.setTimeout(120_000);
  await demoViewer(page);
  const found = await searchDashboard(page, "Demo shop");
  await found.getByRole("checkbox", { name: "Select Demo shop:main" }).check();
  await found.getByRole("checkbox", { name: "Select Demo shop:feature-dark-mode" }).check();
  await page.getByRole("button", { name: "Deploy or redeploy selected (2)" }).click();
  await expect(page.getByRole("status").filter({ hasText: "2 of 2 accepted." })).toBeVisible();

  const deployed = page.getByRole("table", { name: /deployed version/ });
  for (const tag of ["main", "feature-dark-mode"]) {
    await expect(deployed.getByRole("row", { name: new RegExp(`Demo shop:${tag}`) }).getByText(/^Running/)).toBeVisible({
      timeout: 30_000,
    });
  }
  await page.getByLabel("Project", { exact: true }).selectOption({ label: "Demo shop" });
  await expect(deployed.getByRole("row", { name: /Demo shop:/ })).toHaveCount(2);
  await page.screenshot({ path: shot("dashboard-selected"), fullPage: true });

  await deployed.getByRole("checkbox", { name: "Select Demo shop:main" }).check();
  await deployed.getByRole("checkbox", { name: "Select Demo shop:feature-dark-mode" }).check();
  await page.getByRole("button", { name: "Stop selected (2)" }).click();
  await expect(page.getByText("Nothing is deployed.")).toBeVisible({ timeout: 30_000 });
});
