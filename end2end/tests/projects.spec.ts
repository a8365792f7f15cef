import { expect } from "@playwright/test";
import { ADMIN_PASSWORD, hydrated, login, logout, shot, test } from "./helpers";
import { pushImage } from "./registry-push";

const REGISTRY_URL = process.env.E2E_REGISTRY_URL ?? "";

test("a DOER creates a project, its tags become versions, Poll now finds a new one; a VIEWER only views", async ({ page }) => {
  expect(REGISTRY_URL, "tools/test starts a docker-registry and sets E2E_REGISTRY_URL").not.toBe("");
  const suffix = Date.now() % 100000;
  const repo = `e2e/app${suffix}`;
  await pushImage(REGISTRY_URL, repo, "main", "main layer", "2026-05-01T10:00:00Z");
  await pushImage(REGISTRY_URL, repo, "feature-login", "feature layer", "2026-05-02T10:00:00Z");

  // Set-up through the API as the admin: a registry, a DOER and a VIEWER.
  await login(page, "admin", ADMIN_PASSWORD);
  const registryName = `e2e-registry-${suffix}`;
  const reg = await page.request.post("/api/save_docker_registry", {
    data: { registry: { id: null, name: registryName, url: REGISTRY_URL, insecure_http: true, auth: "anonymous",
      username: "", secret: null, ca_pem: "", skip_tls_verify: false } },
  });
  expect(reg.status()).toBe(200);
  for (const [user, role] of [[`pdoer${suffix}`, "DOER"], [`pviewer${suffix}`, "VIEWER"]]) {
    const r = await page.request.post("/api/create_user", {
      data: { user: { username: user, display_name: "", email: "", role, password: `${user}-password` } },
    });
    expect(r.status()).toBe(200);
  }
  await logout(page);

  await login(page, `pdoer${suffix}`, `pdoer${suffix}-password`);
  await page.getByRole("link", { name: "Projects" }).click();
  await hydrated(page);
  await page.getByRole("button", { name: "New project" }).click();
  const name = `Shop ${suffix}`;
  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.getByLabel("Docker registry").selectOption({ label: registryName });
  await page.getByLabel("Image repository").fill(`registry.example.com/${repo}:main`);
  await page.getByRole("button", { name: "Save project" }).click();
  // A host or tag in the repository is explained next to the field.
  await expect(page.locator("#project-repository-error")).toContainText("Leave out");
  await page.getByLabel("Image repository").fill(repo);
  await page.getByLabel("Skip tags matching (regular expression)").fill("^nightly-");
  await page.getByRole("button", { name: "Save project" }).click();

  await expect(page.getByRole("heading", { name, level: 1 })).toBeVisible();
  await hydrated(page);
  const versions = page.getByRole("table", { name: /Versions/ });
  await expect(versions.getByRole("rowheader", { name: "main" })).toBeVisible({ timeout: 15000 });
  await expect(versions.getByRole("rowheader", { name: "feature-login" })).toBeVisible();
  await expect(versions.getByRole("row", { name: /main/ })).toContainText("2026-05-01 10:00:00 UTC");

  await pushImage(REGISTRY_URL, repo, "v2", "v2 layer", "2026-05-03T10:00:00Z");
  await pushImage(REGISTRY_URL, repo, "nightly-1", "nightly layer", "2026-05-03T10:00:00Z");
  await page.getByRole("button", { name: "Poll now" }).click();
  await expect(page.getByRole("status").filter({ hasText: "tags seen" })).toContainText("1 new: v2");
  await expect(versions.getByRole("rowheader", { name: "v2" })).toBeVisible();
  await expect(versions.getByRole("rowheader", { name: "nightly-1" })).toHaveCount(0);
  await expect(page.getByText(/Polled at/)).toBeVisible();
  await page.getByLabel("Filter tags").fill("feat");
  await expect(versions.getByRole("rowheader")).toHaveCount(1);
  await page.screenshot({ path: shot("project"), fullPage: true });

  await page.getByRole("link", { name: "Activity of this project" }).click();
  await hydrated(page);
  await expect(page.getByRole("cell", { name: /new version/ }).first()).toBeVisible();
  await page.screenshot({ path: shot("project-activity"), fullPage: true });
  await logout(page);

  // A VIEWER sees the project and its versions but no editing or polling.
  await login(page, `pviewer${suffix}`, `pviewer${suffix}-password`);
  await page.getByRole("link", { name: "Projects" }).click();
  await hydrated(page);
  await expect(page.getByRole("button", { name: "New project" })).toHaveCount(0);
  await page.getByRole("link", { name }).click();
  await hydrated(page);
  await expect(page.getByRole("rowheader", { name: "v2" })).toBeVisible();
  await expect(page.getByRole("button", { name: "Poll now" })).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Edit project" })).toHaveCount(0);
  await page.goto("/projects");
  await hydrated(page);
  await page.screenshot({ path: shot("projects"), fullPage: true });
  await logout(page);
});
