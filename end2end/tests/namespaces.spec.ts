import { expect } from "@playwright/test";
import { ADMIN_PASSWORD, hydrated, login, shot, test } from "./helpers";

const REGISTRY_URL = process.env.E2E_REGISTRY_URL ?? "";

test("an ADMIN defines a shared namespace in the (simulated) cluster and deletes it", async ({ page }) => {
  const suffix = Date.now() % 100000;
  await login(page, "admin", ADMIN_PASSWORD);
  await page.goto("/admin/namespaces");
  await hydrated(page);
  await expect(page.getByRole("status").filter({ hasText: "Cluster: connected through kubeconfig" })).toContainText("Kubernetes v1.35.0");
  await page.getByLabel("Name", { exact: true }).fill(`Shared QA ${suffix}`);
  await page.getByRole("button", { name: "Create namespace" }).click();
  const name = `on-shared-qa-${suffix}`;
  await expect(page.getByText(`Namespace ${name} created.`)).toBeVisible();
  const row = page.getByRole("row", { name: new RegExp(name) });
  await expect(row).toContainText("Active");
  await expect(row).toContainText("No project");
  await page.screenshot({ path: shot("namespaces"), fullPage: true });

  // A project targets it; while it does, the namespace cannot be deleted.
  const reg = await page.request.post("/api/save_docker_registry", {
    data: { registry: { id: null, name: `ns-images-${suffix}`, url: REGISTRY_URL, insecure_http: true, auth: "anonymous",
      username: "", secret: null, ca_pem: "", skip_tls_verify: false } },
  });
  expect(reg.status()).toBe(200);
  const project = `Shared ${suffix}`;
  const created = await page.request.post("/api/save_project", {
    data: { project: { id: null, name: project, registry: (await reg.json()).id, image_repository: `e2e/ns${suffix}`,
      redeploy_policy: "automatic", lifetime: "infinite", tag_include: "", tag_exclude: "",
      ignore_signature_tags: true, poll_interval_secs: "" } },
  });
  expect(created.status()).toBe(200);
  await page.getByRole("link", { name: "Projects" }).click();
  await page.getByRole("link", { name: project }).click();
  await hydrated(page);
  await page.getByRole("button", { name: "Edit project" }).click();
  await page.getByLabel("Target namespace").selectOption({ label: `Shared: ${name}` });
  await page.getByRole("button", { name: "Save project" }).click();
  await expect(page.getByText(`the shared namespace ${name}`)).toBeVisible();
  await page.getByRole("link", { name: "Namespaces" }).click();
  await hydrated(page);
  await expect(row).toContainText(project);
  await row.getByRole("button", { name: `Delete ${name}` }).click();
  await row.getByRole("button", { name: `Confirm delete ${name} and everything in it` }).click();
  await expect(page.getByRole("alert")).toContainText(`is used by these projects and versions: ${project}`);
  const p = await created.json();
  const back = await page.request.post("/api/save_project", {
    data: { project: { id: p.id, name: project, registry: p.registry.id, image_repository: p.image_repository,
      redeploy_policy: "automatic", lifetime: "infinite", tag_include: "", tag_exclude: "",
      ignore_signature_tags: true, poll_interval_secs: "", namespace: "" } },
  });
  expect(back.status()).toBe(200);
  await page.reload();
  await hydrated(page);

  await row.getByRole("button", { name: `Delete ${name}` }).click();
  await row.getByRole("button", { name: `Confirm delete ${name} and everything in it` }).click();
  await expect(page.getByText("Namespace deleted.")).toBeVisible();
  await expect(page.getByRole("row", { name: new RegExp(name) })).toHaveCount(0);
});
