import { expect } from "@playwright/test";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ADMIN_PASSWORD, hydrated, login, shot, test } from "./helpers";
import { pushImage } from "./registry-push";

const REGISTRY_URL = process.env.E2E_REGISTRY_URL ?? "";

/** Packages helm's starter chart as `demo` 0.3.0 and pushes it to the registry with real helm. */
function pushChart(ociBase: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oneko-e2e-chart-"));
  const env = { ...process.env, HELM_CONFIG_HOME: dir, HELM_CACHE_HOME: dir, HELM_DATA_HOME: dir };
  execFileSync("helm", ["create", path.join(dir, "demo")], { env });
  execFileSync("helm", ["package", path.join(dir, "demo"), "--version", "0.3.0", "--destination", dir], { env });
  execFileSync("helm", ["push", path.join(dir, "demo-0.3.0.tgz"), ociBase, "--plain-http"], { env });
  fs.rmSync(dir, { recursive: true, force: true });
}

test("an ADMIN adds an OCI Helm registry; its chart is picked in a template and rendered by helm", async ({ page }) => {
  expect(REGISTRY_URL, "tools/test starts a docker-registry and sets E2E_REGISTRY_URL").not.toBe("");
  const suffix = Date.now() % 100000;
  const host = REGISTRY_URL.replace(/^http:\/\//, "");
  const oci = `oci://${host}/charts${suffix}`;
  pushChart(oci);
  const repo = `e2e/helm${suffix}`;
  await pushImage(REGISTRY_URL, repo, "main", "helm layer", "2026-05-01T10:00:00Z");

  await login(page, "admin", ADMIN_PASSWORD);
  await page.goto("/admin/helm-registries");
  await hydrated(page);
  const helmName = `charts-${suffix}`;
  await page.getByLabel("Name", { exact: true }).fill(helmName);
  await page.getByLabel("Kind").selectOption({ label: "OCI registry" });
  await page.getByLabel("Location").fill(oci);
  await page.getByLabel("Allow plain HTTP (insecure)").check();
  await page.getByRole("button", { name: "Save Helm registry" }).click();
  await expect(page.getByText(`Helm registry ${helmName} saved.`)).toBeVisible();
  const saved = page.getByRole("row", { name: new RegExp(helmName) });
  await expect(saved).toBeVisible();
  await page.getByRole("button", { name: `Show charts of ${helmName}` }).click();
  const charts = page.getByRole("table", { name: /charts, read/ });
  await expect(charts.getByRole("row", { name: /demo/ })).toContainText("0.3.0");
  await expect(charts.getByRole("row", { name: /demo/ })).toContainText("A Helm chart for Kubernetes");
  await page.screenshot({ path: shot("helm-registries"), fullPage: true });

  // A project whose template uses the chart, picked in the browser.
  const dockerName = `helm-images-${suffix}`;
  const reg = await page.request.post("/api/save_docker_registry", {
    data: { registry: { id: null, name: dockerName, url: REGISTRY_URL, insecure_http: true, auth: "anonymous",
      username: "", secret: null, ca_pem: "", skip_tls_verify: false } },
  });
  expect(reg.status()).toBe(200);
  const name = `Helm ${suffix}`;
  const created = await page.request.post("/api/save_project", {
    data: { project: { id: null, name, registry: (await reg.json()).id, image_repository: repo,
      redeploy_policy: "automatic", lifetime: "infinite", tag_include: "", tag_exclude: "",
      ignore_signature_tags: true, poll_interval_secs: "" } },
  });
  expect(created.status()).toBe(200);
  await page.goto(`/projects/${(await created.json()).id}`);
  await hydrated(page);
  await expect(page.getByRole("heading", { name, level: 1 })).toBeVisible();
  await page.getByRole("button", { name: "Add template" }).click();
  await page.getByRole("group", { name: "Template 1" }).getByLabel("Template name").fill("web");
  const t = page.getByRole("group", { name: "web" });
  await t.getByLabel("Helm registry").selectOption({ label: `${helmName} (OCI registry)` });
  await expect(t.getByText(/1 charts in this registry/)).toBeVisible();
  await t.getByLabel("Chart", { exact: true }).fill("demo");
  await expect(t.getByText("demo: 1 version, newest 0.3.0 (app 1.16.0).")).toBeVisible();
  // Checked as it is typed: a misspelt variable is named before anything is saved.
  await t.getByLabel(/^Values/).fill("replicaCount: 2\nimage:\n  tag: \"{{ IMAGE_TAGG }}\"\n");
  await expect(t.locator("#templates-0-content-check")).toContainText("IMAGE_TAGG");
  await t.getByLabel(/^Values/).fill("replicaCount: 2\nimage:\n  tag: \"{{ IMAGE_TAG }}\"\n");
  await expect(t.locator("#templates-0-content-check")).toHaveText("No problems found.");
  // The values are edited in the YAML editor (CodeMirror); the textarea behind it is hidden.
  const editor = t.getByRole("textbox", { name: /^Values/ });
  await expect(editor).toHaveClass(/cm-content/);
  await expect(editor.locator(".cm-line")).toHaveCount(4);
  await expect(t.locator("textarea#templates-0-content")).toBeHidden();
  await page.getByRole("button", { name: "Save configuration" }).click();
  await expect(page.getByText("Configuration saved.")).toBeVisible();
  await page.screenshot({ path: shot("template-chart-picker"), fullPage: true });

  await expect(page.getByRole("link", { name: "main", exact: true })).toBeVisible({ timeout: 20000 });
  await page.getByRole("link", { name: "main", exact: true }).click();
  await expect(page.getByRole("heading", { name: `${name} : main` })).toBeVisible();
  await hydrated(page);
  await page.getByRole("button", { name: "Show configuration" }).click();
  await expect(page.getByRole("heading", { name: /web \(release web, chart demo 0\.3\.0/ })).toBeVisible();
  await page.getByText(/Kubernetes manifests of web \(\d+ objects, from helm template\)/).click();
  const manifests = page.getByLabel("Manifests of web");
  await expect(manifests).toContainText("kind: Deployment");
  await expect(manifests).toContainText("replicas: 2");
  await expect(manifests).toContainText(':main"');
  await page.screenshot({ path: shot("configuration-manifests"), fullPage: true });

  // Export the project and import it again as a copy, in the browser.
  await page.getByRole("link", { name: `← ${name}` }).click();
  await hydrated(page);
  await page.getByRole("button", { name: "Export project" }).click();
  const exported = page.getByLabel("Exported project (JSON)");
  await expect(exported).toHaveValue(/"imageName": "e2e\/helm/);
  await expect(page.getByRole("link", { name: /^Download project-\d+\.o-neko\.json$/ })).toBeVisible();
  const json = await exported.inputValue();
  await page.getByRole("link", { name: "Projects" }).click();
  await hydrated(page);
  await page.getByRole("button", { name: "Import project" }).click();
  await page.getByLabel("Exported project (JSON)").fill(json);
  await page.getByRole("button", { name: "Import", exact: true }).click();
  // The name is taken: the form says so next to the name field.
  await expect(page.locator("#import-name-error")).toContainText("already exists");
  await page.getByLabel("Name (empty: as in the export)").fill(`${name} copy`);
  await page.getByRole("button", { name: "Import", exact: true }).click();
  await expect(page.getByRole("status").getByRole("link", { name: `${name} copy` })).toBeVisible();
  await expect(page.getByRole("table", { name: /projects/ }).getByRole("link", { name: `${name} copy` })).toBeVisible();
  await page.screenshot({ path: shot("project-import"), fullPage: true });
});
