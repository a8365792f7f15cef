import { expect, type BrowserContext, type Page } from "@playwright/test";
import { ADMIN_PASSWORD, hydrated, login, test } from "./helpers";

// The page weight as Chromium sees it: bytes transferred (headers and encoded bodies, from the
// DevTools protocol) for a first load with an empty cache, and for a repeat visit. Prints the
// figures; the README's "Page weight" section records them.

interface Transfer {
  url: string;
  bytes: number;
  status: number;
  encoding: string;
}

/** Loads `path` in `page` and returns what went over the wire until the page was idle. */
async function measure(context: BrowserContext, page: Page, path: string): Promise<Transfer[]> {
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  const responses = new Map<string, { url: string; status: number; encoding: string }>();
  const done: Transfer[] = [];
  cdp.on("Network.responseReceived", (e) => {
    const headers = Object.fromEntries(Object.entries(e.response.headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
    responses.set(e.requestId, { url: e.response.url, status: e.response.status, encoding: headers["content-encoding"] ?? "" });
  });
  cdp.on("Network.loadingFinished", (e) => {
    const r = responses.get(e.requestId);
    if (r) done.push({ ...r, bytes: e.encodedDataLength });
  });
  await page.goto(path);
  await hydrated(page);
  await cdp.detach();
  return done;
}

function report(label: string, transfers: Transfer[]): number {
  const total = transfers.reduce((n, t) => n + t.bytes, 0);
  console.log(`${label}: ${(total / 1024).toFixed(1)} KiB transferred in ${transfers.length} responses`);
  for (const t of [...transfers].sort((a, b) => b.bytes - a.bytes)) {
    const path = new URL(t.url).pathname;
    console.log(`  ${String(t.bytes).padStart(9)}  ${t.status} ${t.encoding || "identity"}  ${path}`);
  }
  return total;
}

const named = (transfers: Transfer[], suffix: string) => transfers.filter((t) => new URL(t.url).pathname.endsWith(suffix));

test("a first load is compressed and under 600 KB, a repeat visit is revalidated, and the YAML editor waits for a YAML page", async ({ browser }) => {
  // /login with an empty cache, then again (the browser revalidates every file: 304s).
  const context = await browser.newContext();
  const page = await context.newPage();
  const first = await measure(context, page, "/login");
  // The targets, in bytes as Chromium transferred them (headers and encoded bodies).
  expect(report("first load of /login", first), "a first load of /login stays within 600 KB").toBeLessThanOrEqual(600_000);
  const wasm = named(first, ".wasm");
  expect(wasm).toHaveLength(1);
  expect(wasm[0].encoding, "the WASM bundle is sent compressed").toMatch(/^(br|gzip)$/);
  expect(named(first, ".js").every((t) => t.encoding !== ""), "scripts are sent compressed").toBe(true);
  expect(named(first, "/login")[0]?.encoding, "the page is sent compressed").toMatch(/^(br|gzip)$/);
  expect(named(first, "yaml-editor.js"), "the login page does not load the YAML editor").toHaveLength(0);

  const repeat = await measure(context, page, "/login");
  const repeatTotal = report("repeat visit of /login", repeat);
  // Revalidated (304), not sent again; Chromium reports the cached answer's status.
  expect(named(repeat, ".wasm")[0]?.bytes, "the bundle is not sent again").toBeLessThan(1024);
  expect(repeatTotal, "a repeat visit stays within 100 KB").toBeLessThanOrEqual(100_000);

  // The dashboard, logged in, with an empty cache.
  await login(page, "admin", ADMIN_PASSWORD);
  const state = await context.storageState();
  await context.close();
  const fresh = await browser.newContext({ storageState: state });
  const dashboard = await fresh.newPage();
  const firstDashboard = await measure(fresh, dashboard, "/");
  expect(report("first load of the dashboard (logged in)", firstDashboard)).toBeLessThanOrEqual(600_000);
  await expect(dashboard.getByRole("button", { name: "Log out" })).toBeVisible();
  expect(named(firstDashboard, "yaml-editor.js"), "the dashboard does not load the YAML editor").toHaveLength(0);

  // A page that edits YAML loads it, and its editor takes the values textarea's label.
  await dashboard.goto("/projects");
  await hydrated(dashboard);
  await dashboard.getByRole("link", { name: "Demo shop" }).first().click();
  const editor = dashboard.getByRole("group", { name: "shop" }).getByRole("textbox", { name: /^Values/ });
  await expect(editor).toHaveClass(/cm-content/);
  await fresh.close();
});
