import { expect } from "@playwright/test";
import { ADMIN_PASSWORD, hydrated, login, logout, shot, test } from "./helpers";
import { pushImage } from "./registry-push";

const REGISTRY_URL = process.env.E2E_REGISTRY_URL ?? "";

test("a DOER configures two templates and a select variable; a VIEWER switches it but cannot edit", async ({ page }) => {
  expect(REGISTRY_URL, "tools/test starts a docker-registry and sets E2E_REGISTRY_URL").not.toBe("");
  const suffix = Date.now() % 100000;
  const repo = `e2e/conf${suffix}`;
  await pushImage(REGISTRY_URL, repo, "main", "main layer", "2026-05-01T10:00:00Z");

  await login(page, "admin", ADMIN_PASSWORD);
  const registryName = `conf-registry-${suffix}`;
  const reg = await page.request.post("/api/save_docker_registry", {
    data: { registry: { id: null, name: registryName, url: REGISTRY_URL, insecure_http: true, auth: "anonymous",
      username: "", secret: null, ca_pem: "", skip_tls_verify: false } },
  });
  expect(reg.status()).toBe(200);
  for (const [user, role] of [[`cdoer${suffix}`, "DOER"], [`cviewer${suffix}`, "VIEWER"]]) {
    const r = await page.request.post("/api/create_user", {
      data: { user: { username: user, display_name: "", email: "", role, password: `${user}-password` } },
    });
    expect(r.status()).toBe(200);
  }
  await logout(page);

  // The DOER creates the project and configures it in the browser.
  await login(page, `cdoer${suffix}`, `cdoer${suffix}-password`);
  await page.goto("/projects");
  await hydrated(page);
  await page.getByRole("button", { name: "New project" }).click();
  const name = `Conf ${suffix}`;
  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.getByLabel("Docker registry").selectOption({ label: registryName });
  await page.getByLabel("Image repository").fill(repo);
  await page.getByRole("button", { name: "Save project" }).click();
  await expect(page.getByRole("heading", { name, level: 1 })).toBeVisible();
  await hydrated(page);

  await page.getByLabel("URL templates (one per line)").fill("shop-{{ SAFE_VERSION_NAME }}.example.com");
  await page.getByRole("button", { name: "Add template" }).click();
  let t = page.getByRole("group", { name: "Template 1" });
  await t.getByLabel("Template name").fill("web");
  t = page.getByRole("group", { name: "web" });
  await t.getByLabel("Chart", { exact: true }).fill("shop");
  await t.getByLabel("Chart version").fill("1.2.3");
  await t.getByLabel(/^Values/).fill("image:\n  tag: \"{{ IMAGE_TAG }}\"\nbackend: {{ BACKEND }}\nhost: {{ URLS[0] }}\n");
  await page.getByRole("button", { name: "Add template" }).click();
  t = page.getByRole("group", { name: "Template 2" });
  await t.getByLabel("Template name").fill("worker");
  t = page.getByRole("group", { name: "worker" });
  await t.getByLabel("Chart", { exact: true }).fill("worker");
  await t.getByLabel(/^Values/).fill("queue: {{ SAFE_VERSION_NAME }}\nbroken: {{ oops\n");

  await page.getByRole("button", { name: "Add variable" }).click();
  const v = page.getByRole("group", { name: "Variable 1" });
  await v.getByLabel("Variable name").fill("BACKEND");
  const backend = page.getByRole("group", { name: "BACKEND" });
  await backend.getByLabel("Label").fill("Backend");
  await backend.getByLabel("Select variable (a fixed list of values)").check();
  await backend.getByLabel("Allowed values (one per line)").fill("https://test.example\nhttps://staging.example");
  await backend.getByLabel("Default value").fill("https://test.example");
  await backend.getByLabel(/Show on the dashboard/).check();
  await page.getByRole("button", { name: "Save configuration" }).click();
  // The syntax error is reported next to the template's values.
  await expect(page.locator("#templates-1-content-error")).toContainText("syntax error");
  await page.getByRole("group", { name: "worker" }).getByLabel(/^Values/).fill("queue: {{ SAFE_VERSION_NAME }}\n");
  await page.getByRole("button", { name: "Save configuration" }).click();
  await expect(page.getByText("Configuration saved.")).toBeVisible();
  await page.screenshot({ path: shot("project-configuration"), fullPage: true });

  await page.getByRole("link", { name: "main", exact: true }).click();
  await expect(page.getByRole("heading", { name: `${name} : main` })).toBeVisible();
  await hydrated(page);
  await page.getByRole("button", { name: "Show configuration" }).click();
  const web = page.getByLabel("Values of web");
  await expect(web).toContainText("backend: https://test.example");
  await expect(web).toContainText('tag: "main"');
  await expect(web).toContainText("host: shop-main.example.com");
  await expect(page.getByLabel("Values of worker")).toContainText("queue: main");
  await page.screenshot({ path: shot("configuration-preview"), fullPage: true });
  const versionUrl = page.url();
  await logout(page);

  // The VIEWER switches the select variable on the version, and sees it rendered.
  await login(page, `cviewer${suffix}`, `cviewer${suffix}-password`);
  await page.goto(versionUrl);
  await hydrated(page);
  await expect(page.getByRole("heading", { name: `${name} : main` })).toBeVisible();
  await expect(page.getByRole("button", { name: "Save version settings" })).toHaveCount(0);
  await page.getByLabel("Backend").selectOption("https://staging.example");
  await expect(page.getByText("Variable switched.")).toBeVisible();
  await page.getByRole("button", { name: "Show configuration" }).click();
  await expect(page.getByLabel("Values of web")).toContainText("backend: https://staging.example");
  await page.screenshot({ path: shot("version-viewer"), fullPage: true });

  // ... but cannot edit the project: the editor is read-only and the server refuses.
  await page.getByRole("link", { name: `← ${name}` }).click();
  await hydrated(page);
  await expect(page.getByRole("button", { name: "Save configuration" })).toHaveCount(0);
  await expect(page.getByRole("group", { name: "web" }).getByLabel("Template name")).toBeDisabled();
  await expect(page.getByRole("group", { name: "web" }).getByRole("textbox", { name: /^Values/ }))
    .toHaveAttribute("contenteditable", "false");
  const refused = await page.request.post("/api/save_project_config", {
    data: { id: 1, config: { url_templates: [], templates: [], variables: [] } },
  });
  expect(refused.status()).toBe(403);
  await logout(page);
});
