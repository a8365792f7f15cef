import { expect, type APIRequestContext, type Browser, type Page } from "@playwright/test";
import { ADMIN_PASSWORD, hydrated, login, shot, test } from "./helpers";

// Every page is opened by full page loads (as when a link is opened in a new tab, or a page is
// reloaded), many times, as ADMIN and as VIEWER: each load must hydrate without a panic and show
// the data the server rendered, and what is typed right after a load must be kept.
// HYDRATION_LOADS sets the loads per page and user (default 20).
const LOADS = Number(process.env.HYDRATION_LOADS ?? 20);
const TAG = "feature-dark-mode";

let loads = 0;
const problems: string[] = [];

/** Records panics and uncaught errors of every page of `page`'s context. */
function watch(page: Page) {
  page.on("console", (m) => {
    if (m.text().includes("panicked")) problems.push(`${page.url()}: console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`${page.url()}: pageerror: ${e.message}`));
}

/** A full load of `path` (a navigation, or a reload when the page is there already). */
async function fullLoad(page: Page, path: string) {
  if (new URL(page.url(), "http://x").pathname === path && loads % 2 === 1) {
    await page.reload();
  } else {
    await page.goto(path);
  }
  await hydrated(page);
  loads += 1;
}

interface Demo {
  project: number;
  version: number;
}

/** The demo project (seeded in the background at start) and its version `TAG`, deployed. */
async function deployDemo(api: APIRequestContext): Promise<Demo> {
  let hit: { project: number; version: number; version_name: string; state: string } | undefined;
  await expect(async () => {
    const res = await api.post("/api/search_versions", { data: { text: "Demo shop" } });
    const hits = await res.json();
    expect(hits.length).toBe(3);
    hit = hits.find((h: { version_name: string }) => h.version_name === TAG);
  }).toPass({ timeout: 60_000 });
  const demo = { project: hit!.project, version: hit!.version };
  const deployed = await api.post("/api/deploy_version", { data: { id: demo.version } });
  expect(deployed.status()).toBe(200);
  await expect(async () => {
    const res = await api.post("/api/get_deployment", { data: { id: demo.version } });
    expect((await res.json()).status.state).toBe("running");
  }).toPass({ timeout: 60_000 });
  return demo;
}

async function stopDemo(api: APIRequestContext, demo: Demo) {
  await api.post("/api/stop_version", { data: { id: demo.version } });
  await expect(async () => {
    const res = await api.post("/api/get_deployment", { data: { id: demo.version } });
    expect((await res.json()).status.state).toBe("not_deployed");
  }).toPass({ timeout: 60_000 });
}

/** What each page must show after a load: rendered data, and inputs filled from it. */
function routes(demo: Demo, admin: boolean): [string, (page: Page) => Promise<void>][] {
  const name = `Demo shop:${TAG}`;
  const viewer = [
    ["/", async (page: Page) => {
      const row = page.getByRole("table", { name: /deployed version/ }).getByRole("row", { name: new RegExp(name) });
      await expect(row).toBeVisible();
      await expect(row.getByLabel(`Backend of ${name}`)).toHaveValue(/^https:/);
    }],
    ["/projects", async (page: Page) => {
      await expect(page.getByRole("table", { name: /projects?$/ }).getByRole("link", { name: "Demo shop" })).toBeVisible();
    }],
    [`/projects/${demo.project}`, async (page: Page) => {
      await expect(page.getByRole("heading", { name: "Demo shop", level: 1 })).toBeVisible();
      const shop = page.getByRole("group", { name: "shop" });
      await expect(shop.getByLabel("Template name")).toHaveValue("shop");
      await expect(shop.getByLabel("Chart", { exact: true })).toHaveValue("o-neko-demo");
      await expect(page.locator("#templates-0-content")).toHaveValue(/replicas: \{\{ REPLICAS \}\}/);
      await expect(page.getByLabel("URL templates (one per line)")).toHaveValue(/shop\.demo\.o-neko\.test/);
      await expect(page.getByRole("group", { name: "BACKEND" }).getByLabel("Variable name")).toHaveValue("BACKEND");
      await expect(page.getByRole("table", { name: /^Versions/ }).getByRole("rowheader", { name: TAG })).toBeVisible();
    }],
    [`/projects/${demo.project}/versions/${demo.version}`, async (page: Page) => {
      await expect(page.getByRole("heading", { name: `Demo shop : ${TAG}` })).toBeVisible();
      await expect(page.locator(".deployment-status")).toContainText("Running");
      await expect(page.getByRole("table", { name: "Pods" })).toContainText("sha256:");
      await expect(page.getByLabel("Backend", { exact: true })).toHaveValue(/^https:/);
      if (admin) {
        await expect(page.getByLabel("When the image changes")).toHaveValue("automatic");
        await expect(page.getByLabel("Greeting (MESSAGE)")).toHaveAttribute("placeholder", /Hello from the O-Neko demo/);
      }
    }],
    ["/activity", async (page: Page) => {
      await expect(page.getByRole("table", { name: /^Entries/ }).getByRole("row").nth(1)).toBeVisible();
    }],
    ["/account", async (page: Page) => {
      await expect(page.getByRole("heading", { name: "Your account" })).toBeVisible();
      await expect(page.getByLabel("Current password")).toBeEditable();
    }],
  ] as [string, (page: Page) => Promise<void>][];
  const adminPages: [string, (page: Page) => Promise<void>][] = [
    ["/admin/users", async (page) => {
      await expect(page.getByRole("row", { name: /^admin / })).toContainText("ADMIN");
    }],
    ["/admin/docker-registries", async (page) => {
      await expect(page.getByRole("row", { name: /Demo registry/ })).toBeVisible();
    }],
    ["/admin/helm-registries", async (page) => {
      await expect(page.getByRole("row", { name: /Demo charts/ })).toContainText("OCI");
    }],
    ["/admin/namespaces", async (page) => {
      await expect(page.getByRole("status").filter({ hasText: "Cluster: connected" })).toBeVisible();
    }],
  ];
  const refused: [string, (page: Page) => Promise<void>][] = adminPages.map(([path]) => [
    path,
    async (page: Page) => {
      await expect(page.getByRole("heading", { name: "Access denied" })).toBeVisible();
    },
  ]);
  return [...viewer, ...(admin ? adminPages : refused)];
}

async function loadEvery(page: Page, demo: Demo, admin: boolean) {
  for (const [path, check] of routes(demo, admin)) {
    for (let i = 0; i < LOADS; i++) {
      await fullLoad(page, path);
      await check(page);
    }
  }
}

/**
 * Creates a VIEWER in the browser, right after a full load of the users page and with no retry:
 * what is typed there must be kept and sent. Returns the username (the password is derived).
 */
async function createViewer(admin: Page): Promise<string> {
  const viewer = `hviewer${Date.now() % 100000}`;
  await fullLoad(admin, "/admin/users");
  await admin.getByLabel("Username").fill(viewer);
  await admin.getByLabel("Role").selectOption("VIEWER");
  await admin.getByLabel("Initial password").fill(`${viewer}-password`);
  await admin.getByRole("button", { name: "Create user" }).click();
  await expect(admin.getByText(`User ${viewer} created.`)).toBeVisible();
  await expect(admin.getByRole("row", { name: new RegExp(`^${viewer} `) })).toContainText("VIEWER");
  return viewer;
}

/** A page of its own (a second browser context) logged in as `viewer`. */
async function viewerPage(browser: Browser, viewer: string): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  watch(page);
  await login(page, viewer, `${viewer}-password`);
  return page;
}

test.describe.configure({ mode: "serial" });

let demo: Demo;
let admin: Page;
let viewer = "";

test.beforeAll(async ({ browser }) => {
  test.setTimeout(180_000);
  const context = await browser.newContext();
  admin = await context.newPage();
  watch(admin);
  await login(admin, "admin", ADMIN_PASSWORD);
  demo = await deployDemo(admin.request);
});

test.afterAll(async () => {
  console.log(`hydration: ${loads} full page loads, ${problems.length} panics or page errors`);
  for (const p of problems) console.log(`  ${p}`);
  if (demo) await stopDemo(admin.request, demo);
  await admin?.context().close();
});

test("typing right after a full load is kept", async () => {
  test.setTimeout(120_000);
  // The dashboard's search answers what was typed at once after the load.
  await fullLoad(admin, "/");
  await admin.getByLabel("Search versions").fill(TAG);
  await expect(admin.getByRole("table", { name: /versions? match/ }).getByRole("row", { name: new RegExp(TAG) })).toBeVisible();

  // The project's configuration form keeps an edit through the page's own refreshes (the
  // project's facts are read again every few seconds; the live stream opens).
  await fullLoad(admin, `/projects/${demo.project}`);
  await admin.getByRole("group", { name: "shop" }).getByLabel("Template name").fill("shop-edited");
  await admin.getByLabel("Filter tags").fill("dark");
  await admin.waitForResponse((r) => r.url().endsWith("/api/get_project"));
  await expect(admin.getByRole("group", { name: "shop-edited" }).getByLabel("Template name")).toHaveValue("shop-edited");
  await expect(admin.getByRole("table", { name: /^Versions/ }).getByRole("rowheader")).toHaveCount(1);
  await admin.screenshot({ path: shot("hydration-project"), fullPage: true });

  // The VIEWER is created through the users page's form right after a full load.
  viewer = await createViewer(admin);
  expect(problems).toEqual([]);
});

test(`every page hydrates on ${LOADS} full loads each, as ADMIN`, async () => {
  test.setTimeout(LOADS * 10 * 5_000 + 60_000);
  await loadEvery(admin, demo, true);
  await fullLoad(admin, `/projects/${demo.project}/versions/${demo.version}`);
  await admin.screenshot({ path: shot("hydration-version"), fullPage: true });
  expect(problems).toEqual([]);
});

test(`every page hydrates on ${LOADS} full loads each, as VIEWER`, async ({ browser }) => {
  test.setTimeout(LOADS * 10 * 5_000 + 60_000);
  expect(viewer, "the first test creates the VIEWER").not.toBe("");
  const page = await viewerPage(browser, viewer);
  await loadEvery(page, demo, false);
  await page.context().close();
  expect(problems).toEqual([]);
});
