// Drives the console in headless Chromium as a person would: signs in and
// replaces the one-time password, registers a product, receives stock, sees
// an order placed through the API on the dashboard and in its history,
// cancels it and sees the stock come back; registers a second location,
// receives stock there, and ships an order split over both locations in two
// shipments; a wrong password and a forged form are refused. Saves a screenshot of each page. Run by
// tests/integration/console.rs, which starts the system and passes where
// everything is in the environment.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const consoleUrl = env("CONSOLE_URL");
const commandUrl = env("COMMAND_URL");
const apiKey = env("API_KEY");
const email = env("CONSOLE_EMAIL");
const password = env("CONSOLE_PASSWORD");
const sku = env("SKU");
const shots = env("SCREENSHOTS");
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
page.setDefaultTimeout(15000);
const shot = (name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
const step = (text) => console.log(`- ${text}`);

// Calls the command API as the admin key.
const command = (path, body) =>
  fetch(`${commandUrl}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${apiKey}` },
    body: JSON.stringify(body),
  });

async function reloadUntil(what, check, seconds = 30) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await page.waitForTimeout(300);
    await page.reload();
  }
}

try {
  step("an unknown session is sent to sign in");
  let response = await page.goto(`${consoleUrl}/`);
  assert.match(page.url(), /\/login$/);

  step("a wrong password is refused");
  await page.fill("input[name=email]", email);
  await page.fill("input[name=password]", "not the password");
  response = await Promise.all([page.waitForResponse((r) => r.request().method() === "POST"), page.click("button[type=submit]")]).then(([r]) => r);
  assert.equal(response.status(), 401);
  assert.match(await page.textContent("[role=alert]"), /Wrong e-mail address or password/);
  await shot("login-refused");

  step("the right one-time password signs in to the change form, and nothing else");
  await page.fill("input[name=password]", password);
  await Promise.all([page.waitForURL(`${consoleUrl}/password`), page.click("button[type=submit]")]);
  await page.goto(`${consoleUrl}/orders`);
  assert.match(page.url(), /\/password$/);
  await shot("password-change");

  step("choosing a password opens the console");
  const form = page.locator("form#password");
  await form.locator("input[name=current]").fill(password);
  await form.locator("input[name=new]").fill(`${password} mine`);
  await form.locator("input[name=repeat]").fill(`${password} mine`);
  await Promise.all([page.waitForURL(`${consoleUrl}/`), form.locator("button[type=submit]").click()]);
  assert.match(await page.textContent("h1"), /Dashboard/);

  step("a bad price shows next to its field and registers nothing");
  await page.goto(`${consoleUrl}/products`);
  const register = page.locator("form#register");
  await register.locator("input[name=sku]").fill(sku);
  await register.locator("input[name=name]").fill("Green tea, 100 g");
  await register.locator("input[name=unit_price]").fill("twelve");
  await register.locator("input[name=currency]").fill("EUR");
  await register.locator("button[type=submit]").click();
  assert.match(await page.textContent("#unit_price-error"), /amount/);
  assert.equal(await page.locator(`#products tr[data-sku="${sku}"]`).count(), 0);
  await shot("products-error");

  step("a product is registered");
  await register.locator("input[name=unit_price]").fill("12.50");
  await Promise.all([page.waitForURL(/done=registered/), register.locator("button[type=submit]").click()]);
  assert.match(await page.textContent(".notice"), /Product registered/);
  assert.match(await page.textContent(`#products tr[data-sku="${sku}"]`), /12\.50 EUR/);
  await shot("products");

  step("stock is received");
  await page.goto(`${consoleUrl}/stock/${sku}`);
  await page.fill("form#receive input[name=quantity]", "10");
  await page.fill("form#receive input[name=reference]", "PO-1");
  await Promise.all([page.waitForURL(/done=received/), page.click("form#receive button[type=submit]")]);
  assert.equal((await page.textContent("#movements tbody tr:last-child .on-hand")).trim(), "10");

  step("a forged form is refused and changes nothing");
  await page.fill("form#receive input[name=quantity]", "5");
  await page.evaluate(() => { document.querySelector("form#receive input[name=csrf]").value = "forged"; });
  response = await Promise.all([page.waitForResponse((r) => r.request().method() === "POST"), page.click("form#receive button[type=submit]")]).then(([r]) => r);
  assert.equal(response.status(), 403);
  assert.match(await page.textContent("[role=alert]"), /did not come from this console/);
  await page.goto(`${consoleUrl}/stock/${sku}`);
  assert.equal(await page.locator("#movements tbody tr").count(), 1, "only the first receipt");

  step("an order placed through the API shows on the dashboard");
  const placed = await command("/v1/orders", { customer_id: "0b6c1f7e-3c1d-4f7a-9f3e-2a5d8c4b1e90", lines: [{ sku, quantity: 3 }] });
  assert.equal(placed.status, 202);
  const { order_id: orderId } = await placed.json();
  await page.goto(`${consoleUrl}/`);
  await reloadUntil("the order on the dashboard", async () => (await page.textContent("#orders-today .big")).trim() === "1");
  assert.match(await page.content(), /<svg[^>]*aria-label="Orders placed per hour/);
  await shot("dashboard");

  step("the order's detail sits beside its history");
  await page.goto(`${consoleUrl}/orders?q=${orderId}`);
  assert.match(page.url(), new RegExp(`/orders/${orderId}$`));
  await reloadUntil("the order to be confirmed", async () => (await page.textContent("#order-status")) === "confirmed");
  const history = await page.locator("#history .event-type").allTextContents();
  assert.deepEqual(history, ["OrderPlaced", "OrderConfirmed"]);
  await shot("order");

  step("cancelling without a reason shows the field's error");
  await page.click("form#cancel button[type=submit]");
  assert.match(await page.textContent("#reason-error"), /1 to 500 characters/);
  assert.equal(await page.textContent("#order-status"), "confirmed");

  step("the order is cancelled");
  await page.fill("form#cancel input[name=reason]", "customer changed their mind");
  await Promise.all([page.waitForURL(/done=cancelled/), page.click("form#cancel button[type=submit]")]);
  assert.equal(await page.textContent("#order-status"), "cancelled");
  const cancelled = page.locator("#history li").last();
  assert.match(await cancelled.textContent(), /OrderCancelled[\s\S]*by user:/);
  await shot("order-cancelled");

  step("the stock comes back");
  await page.goto(`${consoleUrl}/stock/${sku}`);
  await reloadUntil("the release", async () => (await page.textContent("#movements tbody tr:last-child .event-type")) === "StockReleased");
  const last = page.locator("#movements tbody tr:last-child");
  assert.equal((await last.locator(".on-hand").textContent()).trim(), "10");
  assert.equal((await last.locator(".reserved").textContent()).trim(), "0");
  await shot("stock");

  step("a second location is registered");
  await page.goto(`${consoleUrl}/locations`);
  const newLocation = page.locator("form#register");
  await newLocation.locator("input[name=code]").fill("shop-1");
  await newLocation.locator("input[name=name]").fill("Corner shop");
  await newLocation.locator("input[name=priority]").fill("200");
  await Promise.all([page.waitForURL(/done=location-registered/), newLocation.locator("button[type=submit]").click()]);
  assert.match(await page.textContent('#locations tr[data-location="shop-1"]'), /Corner shop\s*200\s*all\s*yes/);
  await shot("locations");

  step("stock is received there");
  await page.goto(`${consoleUrl}/stock/${sku}`);
  await page.selectOption("form#receive select[name=location]", "shop-1");
  await page.fill("form#receive input[name=quantity]", "4");
  await Promise.all([page.waitForURL(/done=received/), page.click("form#receive button[type=submit]")]);
  assert.equal(await page.textContent("#movements tbody tr:last-child .location"), "shop-1");
  await reloadUntil("the units at shop-1", async () => (await page.locator('#levels tr[data-location="shop-1"] .on-hand').count()) === 1);
  assert.equal(await page.textContent('#levels tr[data-location="shop-1"] .on-hand'), "4");
  assert.equal(await page.textContent('#levels tr[data-location="default"] .available'), "10");
  await shot("stock-locations");

  step("an order larger than either location is split over both, and paid");
  const split = await command("/v1/orders", { customer_id: "0b6c1f7e-3c1d-4f7a-9f3e-2a5d8c4b1e90", lines: [{ sku, quantity: 12 }] });
  assert.equal(split.status, 202);
  const { order_id: splitId } = await split.json();
  const deadline = Date.now() + 30000;
  for (;;) {
    // Payment is refused until the order is confirmed.
    const paid = await command(`/v1/orders/${splitId}/payments`, { amount: 15000, currency: "EUR" });
    if (paid.ok) break;
    if (Date.now() > deadline) throw new Error(`the order was never paid: ${paid.status} ${await paid.text()}`);
    await page.waitForTimeout(300);
  }
  await page.goto(`${consoleUrl}/orders/${splitId}`);
  await reloadUntil("the order to be paid", async () => (await page.textContent("#order-status")) === "paid");
  assert.equal(await page.textContent(`#allocations tr[data-location="default"] td.n`), "10");
  assert.equal(await page.textContent(`#allocations tr[data-location="shop-1"] td.n`), "2");

  step("part of it ships from the shop");
  await page.selectOption("form#ship select[name=location]", "shop-1");
  await page.fill(`form#ship input[name="ship-${sku}"]`, "2");
  await Promise.all([page.waitForURL(/done=partly-shipped/), page.click("form#ship button[type=submit]")]);
  assert.equal(await page.textContent("#order-status"), "partially_shipped");
  assert.equal(await page.textContent("#shipments tbody tr .location"), "shop-1");
  assert.match(await page.textContent("form#ship"), /10 left/);
  await shot("order-partly-shipped");

  step("the rest ships from where it is allocated");
  await Promise.all([page.waitForURL(/done=shipped/), page.click("form#ship button[type=submit]")]);
  assert.equal(await page.textContent("#order-status"), "shipped");
  assert.equal(await page.locator("#shipments tbody tr").count(), 2);
  assert.equal(await page.textContent("#shipments tbody tr:last-child .location"), "default");
  assert.equal(await page.locator("form#ship").count(), 0, "nothing left to ship");
  await shot("order-shipped");

  step("a return arrives: restocked units, then a refund");
  const asked = await command(`/v1/orders/${splitId}/returns`, {
    lines: [{ sku, quantity: 2, reason: "too big" }],
  });
  const askedBody = await asked.text();
  assert.equal(asked.status, 201, askedBody);
  const { return_id: returnId } = JSON.parse(askedBody);
  await reloadUntil("the return to show", async () => (await page.locator(`#returns tr[data-return="${returnId}"]`).count()) === 1);
  await page.selectOption("form#return-receipt select[name=return_id]", returnId);
  await page.fill("form#return-receipt input[name=return_quantity]", "2");
  await page.selectOption("form#return-receipt select[name=disposition]", "restock");
  await Promise.all([page.waitForURL(/done=received/), page.click("form#return-receipt button[type=submit]")]);
  await reloadUntil("the return to be received", async () =>
    (await page.textContent(`#returns tr[data-return="${returnId}"] .status`)) === "received");
  await page.fill("form#refund input[name=refund_amount]", "100");
  await page.fill("form#refund input[name=refund_reason]", "returned");
  await Promise.all([page.waitForURL(/done=refunded/), page.click("form#refund button[type=submit]")]);
  await reloadUntil("the refund to show", async () => (await page.textContent("#refunded")) === "1.00 EUR");
  await shot("order-refunded");

  step("a cart hold is released from the holds page");
  const held = await command("/v1/holds", { lines: [{ sku, quantity: 1 }] });
  const heldBody = await held.text();
  assert.equal(held.status, 201, heldBody);
  const { hold_id: holdId } = JSON.parse(heldBody);
  await page.goto(`${consoleUrl}/holds`);
  assert.equal(await page.locator(`#holds tr[data-hold="${holdId}"]`).count(), 1);
  await shot("holds");
  await page.fill(`#holds tr[data-hold="${holdId}"] input[name=reason]`, "abandoned cart");
  await Promise.all([page.waitForURL(/done=released/), page.click(`#holds tr[data-hold="${holdId}"] button[type=submit]`)]);
  assert.equal(await page.locator(`#holds tr[data-hold="${holdId}"]`).count(), 0, "no longer active");

  step("operators' pages");
  await page.goto(`${consoleUrl}/projections`);
  assert.ok(await page.locator("#projections tr[data-projection=orders]").count());
  await shot("projections");
  await page.goto(`${consoleUrl}/parked`);
  await shot("parked");

  step("signing out ends the session");
  await Promise.all([page.waitForURL(/\/login$/), page.click("header button[type=submit]")]);
  await page.goto(`${consoleUrl}/orders`);
  assert.match(page.url(), /\/login$/);
  console.log("console journey passed");
} catch (error) {
  await shot("failure").catch(() => {});
  console.error(error);
  process.exitCode = 1;
} finally {
  await browser.close();
}
