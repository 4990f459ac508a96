// Opens each API's /docs in headless Chromium as a person would: the page
// draws every operation of the API's document, asks nothing of any other
// origin, breaks none of its Content-Security-Policy, and "Try it out" with
// a key typed into "Authorize" gets a real answer. Saves a screenshot of
// each. Run by tests/integration/docs_page.rs, which starts the system.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const apis = { command: env("COMMAND_URL"), query: env("QUERY_URL") };
const apiKey = env("API_KEY");
const shots = env("SCREENSHOTS");
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
try {
  for (const [name, base] of Object.entries(apis)) {
    const origin = new URL(base).origin;
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    page.setDefaultTimeout(15000);
    const elsewhere = [];
    const problems = [];
    page.on("request", (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith("data:")) elsewhere.push(r.url()); });
    page.on("console", (m) => { if (m.type() === "error") problems.push(`${m.text()} ${m.location().url}`); });
    page.on("pageerror", (e) => problems.push(String(e)));

    await page.goto(`${base}/docs`);
    const spec = await (await page.request.get(`${base}/openapi.json`)).json();
    const operations = Object.values(spec.paths).reduce((n, item) => n + Object.keys(item).length, 0);
    await page.waitForSelector(".opblock");
    await page.waitForFunction((n) => document.querySelectorAll(".opblock").length === n, operations);
    assert.equal(await page.locator(".opblock").count(), operations, `${name}: every operation is drawn`);
    assert.match(await page.locator(".info .title").innerText(), /Stockroom/);

    // Authorize with the key, then try the readiness probe and a read that needs the key.
    await page.getByRole("button", { name: /Authorize/ }).first().click();
    await page.locator(".auth-container input").first().fill(apiKey);
    await page.locator(".auth-btn-wrapper button.authorize").click();
    await page.locator(".auth-btn-wrapper button.btn-done").click();
    const probe = page.locator(".opblock-get", { has: page.locator('[data-path="/metrics"]') });
    await probe.locator(".opblock-summary").click();
    await probe.getByRole("button", { name: "Try it out" }).click();
    await probe.getByRole("button", { name: "Execute" }).click();
    await probe.locator(".live-responses-table tbody .response-col_status").first().waitFor();
    assert.equal((await probe.locator(".live-responses-table tbody .response-col_status").first().innerText()).trim(), "200",
      `${name}: /metrics answered the key given to Authorize`);

    await page.screenshot({ path: `${shots}/docs-${name}.png`, fullPage: false });
    assert.deepEqual(elsewhere, [], `${name}: nothing is fetched from another origin`);
    assert.deepEqual(problems, [], `${name}: no script error or CSP violation`);
    console.log(`${name}: ${operations} operations drawn, /metrics tried with the key`);
  }
} finally {
  await browser.close();
}
