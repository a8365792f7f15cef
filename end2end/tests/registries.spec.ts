import { expect, type Page } from "@playwright/test";
import { ADMIN_PASSWORD, hydrated, login, logout, shot, test } from "./helpers";

const REGISTRY_URL = process.env.E2E_REGISTRY_URL ?? "";
const SECRET = "s3cret-Registry-pass!";

async function createUser(page: Page, username: string, role: string, password: string) {
  await page.goto("/admin/users");
  await hydrated(page);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Role").selectOption(role);
  await page.getByLabel("Initial password").fill(password);
  await page.getByRole("button", { name: "Create user" }).click();
  await expect(page.getByText(`User ${username} created.`)).toBeVisible();
}

test("admin adds a registry with credentials, tests it, never sees the secret again; a DOER cannot edit", async ({ page }) => {
  expect(REGISTRY_URL, "tools/test starts a docker-registry and sets E2E_REGISTRY_URL").not.toBe("");
  const name = `local-${Date.now() % 100000}`;
  await login(page, "admin", ADMIN_PASSWORD);
  await page.goto("/admin/docker-registries");
  await hydrated(page);
  await expect(page.getByRole("heading", { name: "Docker registries", level: 1 })).toBeVisible();

  // http without the insecure switch is refused next to the URL field.
  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.getByLabel("Base URL").fill(REGISTRY_URL);
  await page.getByLabel("Credentials", { exact: true }).selectOption("basic");
  await page.getByLabel("Username").fill("robot");
  await page.getByLabel("Password").fill(SECRET);
  await page.getByRole("button", { name: "Save registry" }).click();
  await expect(page.locator("#reg-url-error")).toContainText("insecure HTTP");

  await page.getByLabel("Password").fill(SECRET);
  await page.getByLabel("Allow plain HTTP (insecure)").check();
  await page.getByRole("button", { name: "Save registry" }).click();
  await expect(page.getByText(`Registry ${name} saved.`)).toBeVisible();
  const row = page.getByRole("row", { name: new RegExp(name) });
  await expect(row).toContainText("secret set");
  await expect(row).toContainText("Plain HTTP (insecure)");

  await page.getByRole("button", { name: `Test connection to ${name}` }).click();
  await expect(page.getByText(/Connection OK/)).toBeVisible();

  // Editing shows that a secret is set, never the secret itself.
  await page.getByRole("button", { name: `Edit ${name}` }).click();
  await expect(page.getByRole("heading", { name: "Edit registry" })).toBeVisible();
  await expect(page.getByLabel("Password")).toHaveValue("");
  await expect(page.getByText("A secret is set. Leave empty to keep it.")).toBeVisible();
  expect(await page.content()).not.toContain(SECRET);
  await page.screenshot({ path: shot("docker-registries"), fullPage: true });
  const api = await page.request.post("/api/list_docker_registries", { data: {} });
  expect(await api.text()).not.toContain(SECRET);

  // The change shows in the activity log.
  await page.getByRole("link", { name: "Activity" }).click();
  await hydrated(page);
  await expect(page.getByRole("cell", { name: new RegExp(`Registry ${name} \\(`) })).toBeVisible();
  await page.screenshot({ path: shot("activity"), fullPage: true });

  const doer = `doer${Date.now() % 100000}`;
  await createUser(page, doer, "DOER", "doer-password-1");
  await logout(page);
  await login(page, doer, "doer-password-1");
  await page.goto("/admin/docker-registries");
  await hydrated(page);
  await expect(page.getByRole("heading", { name: "Access denied" })).toBeVisible();
  await expect(page.getByRole("button", { name: "Save registry" })).toHaveCount(0);
  const refused = await page.request.post("/api/save_docker_registry", {
    data: { registry: { id: null, name: "x", url: "https://x.example", insecure_http: false, auth: "anonymous",
      username: "", secret: null, ca_pem: "", skip_tls_verify: false } },
  });
  expect(refused.status()).toBe(403);
  const names = await page.request.post("/api/list_docker_registry_names", { data: {} });
  expect(names.status()).toBe(200);
  expect(JSON.stringify(await names.json())).toContain(name);
  await logout(page);
});
