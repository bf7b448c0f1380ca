// The web portal in headless Chromium (issue 8), run by tests/e2e/portal.sh, which sets up the
// partners, users, reviewer and referral and passes them in the environment. Each step checks
// what a person would see; any failed check ends the run with a non-zero status.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run tests/e2e/portal.sh)`);
  return v;
};
const base = env("ACE_ENDPOINT");
const shots = env("ACE_SCREENSHOTS");
// Typed into a textarea: escaping must keep it from closing the element and running.
const XSS = `</textarea><img src=x onerror="window.__xss=1">Probe`;
const PII_PROBLEM = "Move forty virtual machines to the cloud; call the CFO's assistant on +49 30 1234 5678 or jane.doe@gmail.com.";
const CLEAN_PROBLEM = "Move forty virtual machines to the cloud this year and retire the old data centre.";

let step = 0;
async function check(name, fn) {
  step += 1;
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    console.log(`FAIL ${name}`);
    throw e;
  }
}
const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
const audited = [];
// axe-core in the page (the page's own CSP would refuse the injected script: this context
// bypasses it for the check only). Serious and critical findings fail the run.
async function accessible(page, name) {
  await page.addScriptTag({ path: axePath });
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  audited.push(name);
  const found = bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  assert.ok(found.length === 0, `${name}: accessibility: ${found.join(" | ")}`);
}
const shot = (page, name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
const field = (page, name) => page.locator(`[id="${name}"]`);
const fieldError = (page, name) => page.locator(`[id="${name}-error"]`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
let failed = false;
try {
  const partner = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  const dialogs = [];
  partner.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });

  async function signIn(page, email, password, landing) {
    await page.goto(`${base}/login`);
    await page.getByLabel("E-mail address").fill(email);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${base}${landing}`);
  }

  await check("the sign-in page refuses a wrong password", async () => {
    await partner.goto(`${base}/login`);
    await shot(partner, "sign-in");
    await partner.getByLabel("E-mail address").fill(env("PARTNER_EMAIL"));
    await partner.getByLabel("Password").fill("not the password");
    await partner.getByRole("button", { name: "Sign in" }).click();
    await partner.getByText("The e-mail address or the password is not right.").waitFor();
    assert.equal(await partner.getByLabel("E-mail address").inputValue(), env("PARTNER_EMAIL"), "keeps what was typed");
  });

  await check("a partner signs in and lands on the pipeline", async () => {
    await signIn(partner, env("PARTNER_EMAIL"), env("PARTNER_PASSWORD"), "/portal");
    await partner.getByRole("heading", { name: /Pipeline/ }).waitFor();
  });

  let id;
  await check("the partner creates an opportunity (HTML typed into next steps)", async () => {
    await partner.getByRole("link", { name: "New opportunity" }).first().click();
    await field(partner, "Customer.Account.CompanyName").fill("Example Retail GmbH");
    await field(partner, "Customer.Account.WebsiteUrl").fill("https://example-retail.com");
    await field(partner, "Customer.Account.Industry").selectOption("Retail");
    await field(partner, "Customer.Account.Address.CountryCode").selectOption("DE");
    await field(partner, "Customer.Account.Address.PostalCode").fill("10115");
    await field(partner, "Project.Title").fill("Migration to AWS");
    await field(partner, "LifeCycle.NextSteps").fill(XSS);
    await field(partner, "Project.CustomerBusinessProblem").fill(PII_PROBLEM);
    await field(partner, "LifeCycle.Stage").selectOption("Qualified");
    await field(partner, "LifeCycle.TargetCloseDate").fill("2099-01-31");
    await partner.getByLabel("Your solution").selectOption({ index: 1 });
    await shot(partner, "new-opportunity");
    await partner.getByRole("button", { name: "Create opportunity" }).click();
    await partner.waitForURL(/\/portal\/opportunities\/O\d+/);
    id = partner.url().match(/opportunities\/(O\d+)/)[1];
    assert.equal(await field(partner, "LifeCycle.NextSteps").inputValue(), XSS, "kept as typed, shown as text");
  });

  await check("the XSS probe renders inert in a form field", async () => {
    assert.equal(await partner.evaluate(() => window.__xss), undefined, "no script ran");
    assert.equal(await partner.locator('img[src="x"]').count(), 0, "no element was injected");
    assert.deepEqual(dialogs, []);
  });

  await check("the partner attests pre-sales effort and consent", async () => {
    await field(partner, "PreSalesEffort.Description").fill("Two workshops with the CIO; agreed a migration plan for forty VMs.");
    await field(partner, "PreSalesEffort.DecisionMakerEngaged").fill("CIO");
    await partner.getByLabel("Workshop").check();
    await field(partner, "CustomerConsent.Method").selectOption("Email");
    await field(partner, "CustomerConsent.ObtainedAt").fill("2026-01-15");
    await field(partner, "CustomerConsent.ObtainedBy").fill("alice");
    await partner.getByRole("button", { name: "Record attestation" }).click();
    await partner.getByText("Attestation recorded.").waitFor();
  });

  await check("submitting is refused for personal data, shown at the problem statement", async () => {
    await partner.getByRole("button", { name: "Submit for co-sell" }).click();
    const error = fieldError(partner, "Project.CustomerBusinessProblem");
    await error.waitFor();
    assert.match(await error.innerText(), /SUB-5/);
    assert.equal(await field(partner, "Project.CustomerBusinessProblem").getAttribute("aria-invalid"), "true");
    await shot(partner, "submission-refused");
  });

  await check("the partner fixes the problem statement and submits", async () => {
    await field(partner, "Project.CustomerBusinessProblem").fill(CLEAN_PROBLEM);
    await partner.getByRole("button", { name: "Save changes" }).click();
    await partner.getByText("Saved.").waitFor();
    await partner.getByRole("button", { name: "Submit for co-sell" }).click();
    await partner.getByText("Submitted for review.").waitFor();
    assert.equal(await partner.locator("#review-status").innerText(), "Submitted");
    assert.ok(await field(partner, "Project.Title").isDisabled(), "the record is locked during review");
    await partner.getByText(/cannot be changed until the review ends/).waitFor();
  });

  const reviewer = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await check("a reviewer signs in and approves it from the queue", async () => {
    await signIn(reviewer, env("REVIEWER_EMAIL"), env("REVIEWER_PASSWORD"), "/console");
    await reviewer.getByRole("link", { name: id }).waitFor();
    await shot(reviewer, "console-queue");
    await reviewer.getByRole("link", { name: id }).click();
    await reviewer.getByText("Two workshops with the CIO").waitFor();
    await reviewer.getByLabel("Decision").selectOption("approve");
    await reviewer.getByLabel("Comment to the partner").fill("Validated: welcome to co-sell");
    await shot(reviewer, "console-review");
    await reviewer.getByRole("button", { name: "Record decision" }).click();
    await reviewer.locator("#review-status", { hasText: "Approved" }).waitFor();
  });

  await check("the partner sees Approved with the reviewer's comment", async () => {
    await partner.goto(`${base}/portal/opportunities/${id}?catalog=AWS`);
    assert.equal(await partner.locator("#review-status").innerText(), "Approved");
    await partner.getByText("Validated: welcome to co-sell").waitFor();
    // Approved: the domain's locked fields are disabled, each saying why; the rest stay editable.
    assert.ok(await field(partner, "Project.Title").isDisabled(), "the title is locked once approved");
    await partner.getByText("Project.Title is locked once the opportunity is Approved").waitFor();
    assert.ok(!(await field(partner, "LifeCycle.Stage").isDisabled()), "the stage stays editable");
    await partner.goto(`${base}/portal`);
    await partner.getByRole("link", { name: id }).waitFor();
    assert.equal(await partner.locator(".alert").count(), 0, "the pipeline lists without error");
    await shot(partner, "pipeline");
  });

  await check("the operator's dashboard draws its pictures without script", async () => {
    await reviewer.getByRole("link", { name: "Dashboard" }).click();
    await reviewer.getByRole("img", { name: "Pipeline by stage (AWS catalog)" }).waitFor();
    assert.match(await reviewer.locator("#funnel-summary").innerText(), /^\d+ opportunities in all\.$/);
    assert.match(await reviewer.locator("#reviews-summary").innerText(), /Median review time: \d+ h/);
    assert.ok(await reviewer.locator("#chart-funnel rect.bar").count() >= 7, "one bar per stage");
    await shot(reviewer, "console-dashboard");
  });

  const admin = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await check("an admin signs up from the CLI's invitation link, sees partners' eligibility and refers through the gate", async () => {
    // The invitation link the CLI printed: the admin chooses a password and is signed in.
    await admin.goto(env("ADMIN_INVITE"));
    await admin.getByText("adam@operator.example").waitFor();
    await admin.getByLabel("New password").fill("a password of my own");
    await admin.getByLabel("The same again").fill("a password of my own");
    await admin.getByRole("button", { name: "Set password and sign in" }).click();
    await admin.waitForURL(`${base}/console`);
    const reused = await (await browser.newContext()).newPage();
    await reused.goto(env("ADMIN_INVITE"));
    await reused.getByText("already used or has expired").waitFor();
    await admin.getByRole("link", { name: "Partners" }).click();
    await admin.getByRole("row", { name: /P-ACME/ }).getByText("eligible").waitFor();
    await admin.getByRole("row", { name: /P-OTHER/ }).getByText(/requirements? missing/).waitFor();
    await admin.getByRole("link", { name: "P-OTHER" }).click();
    await admin.locator("#gate").waitFor();
    await admin.getByRole("link", { name: "Partners" }).click();
    await admin.getByRole("link", { name: "P-ACME" }).click();
    await admin.getByLabel("Company *").fill("Fabrikam Inc");
    await admin.getByLabel("Website *").fill("https://fabrikam.example.com");
    await admin.getByLabel("Country code *").fill("US");
    await admin.getByLabel("Contact e-mail").fill("ops@fabrikam.example.com");
    await shot(admin, "console-partner");
    await admin.getByRole("button", { name: "Send referral" }).click();
    await admin.getByText(/Referral engi-\w+ sent/).waitFor();
  });

  await check("the audit log shows the chain verified and the console's actions", async () => {
    await admin.getByRole("link", { name: "Audit log" }).click();
    await admin.getByText(/Chain verified: \d+ entries/).waitFor();
    await admin.getByLabel("Partner").fill("P-ACME");
    await admin.getByRole("button", { name: "Filter" }).click();
    await admin.getByRole("cell", { name: "operator:adam@operator.example" }).first().waitFor();
    await shot(admin, "console-audit");
  });

  await check("a referral is accepted: the contact appears only then", async () => {
    await partner.getByRole("link", { name: "Referrals" }).click();
    await partner.getByRole("link", { name: env("REFERRAL_ID") }).click();
    await partner.getByText("Shown once you accept").waitFor();
    assert.equal(await partner.getByText("jane@northwind.example.com").count(), 0, "masked before acceptance");
    await partner.getByRole("button", { name: "Accept referral" }).click();
    await partner.getByText(/Accepted\. Contact the customer/).waitFor();
    await partner.getByText("jane@northwind.example.com").waitFor();
    assert.match(await partner.locator(".days").innerText(), /^\d+ business days? left$/);
    assert.match(await partner.locator(".countdown").innerText(), /\d+ h \d+ min/);
  });

  await check("the partner records the contact", async () => {
    await partner.getByLabel("Channel").selectOption("Email");
    await partner.getByLabel("Note").fill("Intro e-mail sent");
    await shot(partner, "referral");
    await partner.getByRole("button", { name: "Record contact (now)" }).click();
    await partner.getByText("Contact recorded.").waitFor();
    await partner.getByText(/^contacted /).waitFor();
  });

  await check("the eligibility scorecard lists each requirement", async () => {
    await partner.getByRole("link", { name: "Eligibility" }).click();
    assert.equal(await partner.locator("#eligible").innerText(), "Eligible for referrals");
    assert.ok(await partner.locator("tbody tr").count() >= 3, "one row per requirement");
    await shot(partner, "eligibility");
  });

  await check("the partner reads and accepts the program terms", async () => {
    await partner.getByRole("link", { name: "Terms" }).click();
    await partner.getByText("Partners contact referred customers within 3 business days.").waitFor();
    // Version 1 was in force while the partner worked: accepted by taking part (MOD-3).
    assert.match(await partner.locator("#acceptance").innerText(), /accepted by continuing to take part/);
    // The operator publishes version 2 (effective on posting); the partner accepts it here.
    execFileSync(env("ACE_BIN"), ["terms", "publish", "--file", env("TERMS_V2"), "--summary", "contact channels"]);
    await partner.reload();
    await partner.getByText("Version two: referrals are contacted by e-mail or phone only.").waitFor();
    await shot(partner, "terms");
    await partner.getByRole("button", { name: "Accept version 2" }).click();
    await partner.getByText("Thank you: your acceptance is recorded.").waitFor();
    assert.match(await partner.locator("#acceptance").innerText(), /accepted on .* by alice/);
  });

  await check("the user makes a second access key, sees its secret once, and deactivates it", async () => {
    await partner.getByRole("link", { name: "Access keys" }).click();
    assert.equal(await partner.locator("tbody tr").count(), 1);
    await partner.getByRole("button", { name: "Create a key" }).click();
    const secret = await partner.locator("#secret").innerText();
    assert.match(secret, /^[A-Za-z0-9\/+]{40}$/);
    assert.equal(await partner.locator("tbody tr").count(), 2);
    assert.equal(await partner.getByRole("button", { name: "Create a key" }).count(), 0, "two keys at most");
    await partner.getByRole("button", { name: /^Deactivate / }).last().click();
    await partner.waitForURL(`${base}/portal/keys`);
    assert.equal(await partner.getByText(secret).count(), 0, "the secret is not shown again");
    assert.equal(await partner.locator(".status", { hasText: "inactive" }).count(), 1);
    await shot(partner, "access-keys");
  });

  await check("a webhook needs https; a loopback receiver is accepted", async () => {
    await partner.getByRole("link", { name: "Webhooks" }).click();
    await partner.getByLabel("Endpoint URL").fill("http://crm.example.com/hook");
    await partner.getByRole("button", { name: "Subscribe" }).click();
    await fieldError(partner, "Url").waitFor();
    assert.equal(await partner.getByLabel("Endpoint URL").inputValue(), "http://crm.example.com/hook", "kept as typed");
    await partner.getByLabel("Endpoint URL").fill("http://127.0.0.1:9/hook");
    await partner.getByRole("button", { name: "Subscribe" }).click();
    await partner.locator("#new-webhook").waitFor();
    assert.equal(await partner.getByRole("cell", { name: "http://127.0.0.1:9/hook" }).count(), 1);
  });

  await check("another partner's opportunity is a 404 page", async () => {
    const response = await partner.goto(`${base}/portal/opportunities/${env("OTHER_OPPORTUNITY")}?catalog=AWS`);
    assert.equal(response.status(), 404);
    await partner.getByRole("heading", { name: "Not found" }).waitFor();
    assert.equal(await partner.getByText("Secret Customer Ltd").count(), 0);
  });

  await check("the partner console is not the operator's: /console is a 404 for a partner", async () => {
    const response = await partner.goto(`${base}/console`);
    assert.equal(response.status(), 404);
  });

  await check("a narrow screen shows the pipeline without sideways scrolling of the page", async () => {
    const phone = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
    await signIn(phone, env("PARTNER_EMAIL"), env("PARTNER_PASSWORD"), "/portal");
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
    await shot(phone, "pipeline-narrow");
  });

  await check("the main pages have no serious accessibility violations (axe-core)", async () => {
    const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 900 } });
    const a11y = await context.newPage();
    await a11y.goto(`${base}/login`);
    await accessible(a11y, "sign-in");
    await signIn(a11y, env("PARTNER_EMAIL"), env("PARTNER_PASSWORD"), "/portal");
    for (const path of ["/portal", `/portal/opportunities/${id}?catalog=AWS`, "/portal/opportunities/new", "/portal/referrals",
                        `/portal/referrals/${env("REFERRAL_ID")}`, "/portal/eligibility", "/portal/terms", "/portal/keys", "/portal/webhooks", "/portal/checks"]) {
      await a11y.goto(`${base}${path}`);
      await accessible(a11y, path);
    }
    const staffPage = await (await browser.newContext({ bypassCSP: true })).newPage();
    await signIn(staffPage, env("REVIEWER_EMAIL"), env("REVIEWER_PASSWORD"), "/console");
    for (const path of ["/console", `/console/reviews/${id}`, "/console/dashboard", "/console/partners", "/console/partners/P-ACME", "/console/terms", "/console/checks"]) {
      await staffPage.goto(`${base}${path}`);
      await accessible(staffPage, path);
    }
  });

  await check("signing out ends the session", async () => {
    await partner.goto(`${base}/portal`);
    await partner.getByRole("button", { name: "Sign out" }).click();
    await partner.waitForURL(`${base}/login`);
    await partner.goto(`${base}/portal`);
    await partner.waitForURL(`${base}/login`);
  });
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  await browser.close();
}
console.log(`portal browser test: ${step} steps, ${failed ? "FAILED" : "all passed"}; screenshots in ${shots}`);
process.exit(failed ? 1 : 0);
