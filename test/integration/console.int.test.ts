// Names carry a ui- prefix: every test file of a run shares one database (and the bootstrap admin).
// The web console at /ui, in Debian's Chromium driven by playwright-core (no browser download), on the
// real stack: sign in, create a server from the example git repository, watch both platforms' build
// logs arrive live, see it run, read its decisions, call a tool through the gateway and find the call
// in the gateway audit, move a governance step and find the run in the run list, approve a promotion,
// keep a secret whose value never comes back, create a track and a certification through their
// forms; read which certifications and which promotion a gated server waits on, and create a server
// from an npm package, with the API's field error shown at its field. axe-core checks every page
// (no serious or critical violation), each main page is seen at phone width (390 px) too, where the
// page must not be wider than the viewport, and a screenshot of each is written to test-artifacts/console/.
// A viewer sees no mutating action, and a forged one (the viewer's role lied about in the browser)
// shows the API's 403 in the console's error display.
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import axe from 'axe-core';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../scripts/stack/paths.js';
import { startBuildStack, type BuildStack } from '../support/build-stack.js';
import { helloMcpRepo } from '../support/example-repo.js';
import { startHarness, type Harness } from '../support/harness.js';
import { eventually, httpClient } from '../support/http.js';

const ARTIFACTS = join(PROJECT_ROOT, 'test-artifacts', 'console');
// Only linked to, never fetched: the console builds workflow links from it.
const TEMPORAL_UI = 'http://127.0.0.1:9/temporal';
// The machine's closed network refuses Chromium's own connections; these flags keep it from making them.
// playwright-core gives every launch a fresh, temporary profile of its own (it refuses --user-data-dir).
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let stack: BuildStack;
let h: Harness;
let call: ReturnType<typeof httpClient>;
let browser: Browser;
let serverId: number;
const requestedUrls: string[] = [];

async function signIn(page: Page, token: string) {
  page.on('request', (r) => requestedUrls.push(r.url()));
  await page.goto(`${h.apiUrl}/ui/`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Sections' }).waitFor();
}

const PHONE = { width: 390, height: 844 };
const LAPTOP = { width: 1280, height: 900 };

/**
 * axe-core on the page as it is now: no serious or critical violation; at phone width, no page wider
 * than the viewport (a wide table or log scrolls in its own box); then a screenshot.
 */
async function check(page: Page, name: string) {
  if (page.viewportSize()!.width <= PHONE.width) {
    // The elements sticking out past the right edge, outside any box that scrolls: what widened the page.
    const overflow = (await page.evaluate(`(() => {
      const inScroller = (el) => {
        for (let p = el.parentElement; p; p = p.parentElement)
          if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(p).overflowX)) return true;
        return false;
      };
      const wide = [...document.body.querySelectorAll('*')]
        .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 0.5 && !inScroller(el))
        .slice(0, 5)
        .map((el) => el.tagName.toLowerCase() + (el.className ? '.' + el.className : '') + ' ' + Math.round(el.getBoundingClientRect().right) + 'px');
      return { scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, wide };
    })()`)) as { scrollWidth: number; innerWidth: number; wide: string[] };
    expect(
      overflow.scrollWidth,
      `${name}: page wider than the phone (${overflow.wide.join('; ')})`,
    ).toBeLessThanOrEqual(overflow.innerWidth);
  }
  await page.addScriptTag({ content: axe.source });
  // A string, run in the page: this file's types are Node's, the page's globals are the browser's.
  const violations = (await page.evaluate(`(async () => {
    const result = await window.axe.run(document);
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => v.id + ' (' + v.impact + '): ' + v.nodes.map((n) => n.target.join(' ')).join(', '));
  })()`)) as string[];
  expect(violations, `${name}: accessibility`).toEqual([]);
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** check() at laptop width, then again at phone width as `<name>-phone`, back to laptop width. */
async function checkBoth(page: Page, name: string) {
  await check(page, name);
  await page.setViewportSize(PHONE);
  await check(page, `${name}-phone`);
  await page.setViewportSize(LAPTOP);
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  stack = await startBuildStack('console');
  h = await startHarness('console', { ...stack.env('linux/amd64,linux/arm64'), TEMPORAL_UI_URL: TEMPORAL_UI });
  call = httpClient(h.apiUrl);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  });
}, 300_000);
afterAll(async () => {
  await browser?.close();
  await h?.stop();
  await stack?.stop();
});

describe('web console', () => {
  it('an admin creates a server from git, watches both builds live, sees it run, and calls a tool', async () => {
    await helloMcpRepo(stack, 'ui-hello');
    const page = await browser.newPage({ viewport: LAPTOP });
    await signIn(page, h.adminToken);
    await checkBoth(page, 'servers');

    await page.getByText('Create a server').click();
    const form = page.getByRole('form', { name: 'Create a server' });
    await form.getByLabel('Name').fill('ui-hello');
    await form.getByLabel('Type').fill('Router');
    await form.getByRole('textbox', { name: 'Repository' }).fill(stack.git.url('ui-hello'));
    await form.getByRole('button', { name: 'Create server' }).click();
    await page.waitForURL(/#\/servers\/\d+$/);
    serverId = Number(page.url().split('/').pop());

    // The build appears on the server page; its log arrives live, one column per platform.
    await page
      .getByRole('link', { name: /^Build \d+$/ })
      .first()
      .click({ timeout: 60_000 });
    await page.waitForURL(/#\/builds\/\d+$/);
    for (const platform of ['linux/amd64', 'linux/arm64']) {
      await expect
        .poll(async () => (await page.locator(`pre[data-platform="${platform}"]`).textContent())?.length ?? 0, {
          timeout: 180_000,
          message: `${platform} build log`,
        })
        .toBeGreaterThan(0);
    }
    await checkBoth(page, 'build');

    await page.goto(`${h.apiUrl}/ui/#/servers/${serverId}`);
    await page.getByRole('heading', { level: 1 }).getByText('running').waitFor({ timeout: 240_000 });
    const decisions = page.getByRole('region', { name: 'Policy decisions' });
    await expect.poll(() => decisions.getByRole('listitem').count(), { timeout: 30_000 }).toBeGreaterThan(0);
    expect(await decisions.textContent()).toMatch(/launchable/);

    // A tool through the gateway, with the JSON-RPC exchange shown.
    const tools = page.getByRole('form', { name: 'Tool console' });
    await tools.waitFor({ timeout: 60_000 });
    await tools.getByRole('button', { name: 'Call through the gateway' }).click();
    const exchange = tools.getByRole('list', { name: 'JSON-RPC exchange' });
    await expect.poll(() => exchange.getByRole('listitem').count(), { timeout: 30_000 }).toBe(5);
    expect(await exchange.textContent()).toContain('"tools/call"');
    await checkBoth(page, 'server');

    await page.goto(`${h.apiUrl}/ui/#/audit`);
    await page
      .getByRole('cell', { name: /tools\/call/ })
      .first()
      .waitFor({ timeout: 30_000 });
    await checkBoth(page, 'gateway-audit');

    for (const section of ['marketplace', 'certifications', 'users']) {
      await page.goto(`${h.apiUrl}/ui/#/${section}`);
      await page.getByRole('heading', { level: 1 }).waitFor();
      await checkBoth(page, section);
    }
    // The token travelled in headers only.
    expect(requestedUrls.filter((u) => u.includes(h.adminToken))).toEqual([]);
    await page.close();
  });

  it('moves a governance step and approves a promotion, and the audit log shows it', async () => {
    const admin = { token: h.adminToken };
    const wf = await call('POST', '/api/governance/workflows', {
      ...admin,
      json: { name: 'ui-review', workflow_type: 'promotion', tier: 'Router', steps: [{ action: 'ui-review' }] },
    });
    expect(wf.status, JSON.stringify(wf.body)).toBe(201);
    const track = await call('POST', '/api/promotions/tracks', {
      ...admin,
      json: { name: 'ui-train', tier: 'Router', stages: ['candidate'], workflow_id: wf.body.id },
    });
    expect(track.status, JSON.stringify(track.body)).toBe(201);
    const [run] = await h.sql<{ manifest_digest: string }[]>`
      select manifest_digest from build_artifact_runs where server_id = ${serverId} and manifest_digest is not null`;
    const scheduled = await call('POST', '/api/promotions/schedule', {
      ...admin,
      json: { track_id: track.body.id, manifest_digest: run!.manifest_digest, stage: 'candidate' },
    });
    expect(scheduled.status, JSON.stringify(scheduled.body)).toBe(201);
    const promo = await eventually(
      async () => {
        const p = (await call('GET', `/api/promotions/${scheduled.body.id}`, admin)).body;
        return p.workflow_run_id ? p : undefined;
      },
      60_000,
      'governance run started',
    );

    const page = await browser.newPage({ viewport: PHONE });
    await signIn(page, h.adminToken);
    await page.goto(`${h.apiUrl}/ui/#/governance/runs/${promo.workflow_run_id}`);
    await page.getByRole('button', { name: 'Start step 1' }).click();
    await page.getByRole('button', { name: 'Complete step 1' }).click();
    const audit = page.getByRole('region', { name: 'Audit log' });
    await expect
      .poll(async () => (await audit.textContent()) ?? '', { timeout: 30_000 })
      .toMatch(/step_completed|completed/);
    expect(await page.getByRole('alert').count()).toBe(0);
    await check(page, 'governance-run-phone');

    // The run list shows the run with its steps' states, refreshed while open, and links it to Temporal.
    await page.goto(`${h.apiUrl}/ui/#/governance`);
    const row = page.locator(`tr[data-run="${promo.workflow_run_id}"]`);
    await expect
      .poll(
        async () =>
          (await row.getByRole('list', { name: `Steps of run ${promo.workflow_run_id}` }).textContent()) ?? '',
        {
          timeout: 30_000,
        },
      )
      .toMatch(/ui-review\s*completed/);
    const detail = (await call('GET', `/api/governance/runs/${promo.workflow_run_id}`, admin)).body;
    const { namespace } = (await call('GET', '/ui/config.json')).body;
    expect(await row.getByRole('link', { name: /in Temporal$/ }).getAttribute('href')).toBe(
      `${TEMPORAL_UI}/namespaces/${namespace}/workflows/${encodeURIComponent(detail.temporal_workflow_id)}`,
    );
    await row.getByRole('link', { name: `Run ${promo.workflow_run_id}` }).click();
    await page.waitForURL(new RegExp(`#/governance/runs/${promo.workflow_run_id}$`));
    await page.goto(`${h.apiUrl}/ui/#/governance`);
    await row.waitFor();
    await check(page, 'governance-phone');
    // Keyset paging and the owner scope: a page before the run leaves it out; an operator sees no admin run.
    const older = await call('GET', `/api/governance/runs?before=${promo.workflow_run_id}&limit=5`, admin);
    expect(older.status).toBe(200);
    expect(older.body.every((r: { id: number }) => r.id < promo.workflow_run_id)).toBe(true);
    const operator = await call('POST', '/api/users', {
      ...admin,
      json: { email: `ui-operator-${Date.now()}@example.test`, role: 'operator' },
    });
    const operatorToken = (
      await call('POST', '/api/tokens', { ...admin, json: { name: 'ui', user_id: operator.body.id } })
    ).body.token as string;
    const theirs = await call('GET', '/api/governance/runs', { token: operatorToken });
    expect(theirs.status).toBe(200);
    expect(theirs.body).toEqual([]);

    await page.goto(`${h.apiUrl}/ui/#/promotions`);
    await page.getByRole('button', { name: `Approve ${scheduled.body.id}` }).click();
    await eventually(
      async () => (await call('GET', `/api/promotions/${scheduled.body.id}`, admin)).body.approved_by !== null,
      60_000,
      'promotion approved',
    );
    expect(await page.getByRole('alert').count()).toBe(0);
    await check(page, 'promotions-phone');
    await page.close();
  });

  it('names the certifications and the promotion a gated launch waits on, marks the met ones, and links each', async () => {
    const admin = { token: h.adminToken };
    // A type of its own: a launch gate on Router would hold the other files' servers of the shared database.
    const wf = await call('POST', '/api/governance/workflows', {
      ...admin,
      json: { name: 'ui-gate-review', workflow_type: 'promotion', tier: 'UiGated', steps: [{ action: 'ui-gate' }] },
    });
    expect(wf.status, JSON.stringify(wf.body)).toBe(201);
    const track = await call('POST', '/api/promotions/tracks', {
      ...admin,
      json: {
        name: 'ui-gate-train',
        tier: 'UiGated',
        stages: ['candidate'],
        workflow_id: wf.body.id,
        launch_stage: 'candidate',
        required_certifications: ['ui-smoke', 'ui-review'],
      },
    });
    expect(track.status, JSON.stringify(track.body)).toBe(201);
    await helloMcpRepo(stack, 'ui-gated');
    const created = await call('POST', '/api/servers', {
      ...admin,
      json: {
        name: 'ui-gated',
        server_type: 'UiGated',
        source: { type: 'git', repository: stack.git.url('ui-gated') },
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const gatedId = created.body.id as number;
    const held = await eventually(
      async () => {
        const s = (await call('GET', `/api/servers/${gatedId}`, admin)).body;
        return ['pending-governance', 'running', 'error'].includes(s.status) ? s : undefined;
      },
      420_000,
      'the gated server decided',
    );
    expect(held.status, held.status_reason).toBe('pending-governance');
    const [run] = await h.sql<{ id: number; manifest_digest: string; tier: string }[]>`
      select id, manifest_digest, tier from build_artifact_runs
      where server_id = ${gatedId} and manifest_digest is not null order by id desc limit 1`;
    const certify = (requirement: string, status: string) =>
      call('POST', `/api/artifacts/${run!.id}/evaluations`, {
        ...admin,
        json: { tier: run!.tier, policy_requirement: requirement, status, evidence: { by: 'console test' } },
      });
    const smoke = await certify('ui-smoke', 'pass');
    expect(smoke.status, JSON.stringify(smoke.body)).toBe(200);
    const review = await certify('ui-review', 'pending');
    expect(review.status, JSON.stringify(review.body)).toBe(200);
    const scheduled = await call('POST', '/api/promotions/schedule', {
      ...admin,
      json: { track_id: track.body.id, manifest_digest: run!.manifest_digest, stage: 'candidate' },
    });
    expect(scheduled.status, JSON.stringify(scheduled.body)).toBe(201);

    const page = await browser.newPage({ viewport: LAPTOP });
    await signIn(page, h.adminToken);
    await page.goto(`${h.apiUrl}/ui/#/servers/${gatedId}`);
    const gates = page.getByRole('region', { name: 'Gates' });
    const gate = (kind: string, text: string) => gates.locator(`li[data-gate="${kind}"]`).filter({ hasText: text });
    await gate('promotion', `promotion ${scheduled.body.id}`).waitFor({ timeout: 30_000 });
    const met = gate('certification', 'ui-smoke');
    const pending = gate('certification', 'ui-review');
    const promotion = gate('promotion', 'ui-gate-train');
    expect(await met.getAttribute('data-met')).toBe('true');
    expect(await met.textContent()).toContain(`Certification ui-smoke at tier ${run!.tier} of artifact`);
    expect(await met.textContent()).toContain(`certification ${smoke.body.id}`);
    expect(await met.textContent()).toContain('required by track ui-gate-train');
    expect(await met.textContent()).toContain('Met: passed and is valid');
    expect(await pending.getAttribute('data-met')).toBe('false');
    expect(await pending.textContent()).toContain(`certification ${review.body.id}`);
    expect(await pending.textContent()).toContain('Not met: pending: not evaluated yet');
    expect(await promotion.getAttribute('data-met')).toBe('false');
    expect(await promotion.textContent()).toContain('Promotion on track ui-gate-train to stage candidate of artifact');
    expect(await promotion.textContent()).toMatch(/Not met: promotion \d+ is (scheduled|in_progress) at candidate/);
    // The artifact by its digest, the promotion's and its governance run's workflows in Temporal.
    for (const g of [met, pending, promotion])
      expect(await g.locator('code.digest').getAttribute('title')).toBe(run!.manifest_digest);
    const { namespace } = (await call('GET', '/ui/config.json')).body;
    const promo = await eventually(
      async () => {
        const p = (await call('GET', `/api/promotions/${scheduled.body.id}`, admin)).body;
        return p.workflow_run_id ? p : undefined;
      },
      60_000,
      'governance run started',
    );
    expect(
      await promotion.getByRole('link', { name: /^Workflow .*promotion\/\d+ in Temporal$/ }).getAttribute('href'),
    ).toBe(`${TEMPORAL_UI}/namespaces/${namespace}/workflows/${encodeURIComponent(promo.temporal_workflow_id)}`);
    await promotion.getByRole('link', { name: `run ${promo.workflow_run_id}` }).waitFor({ timeout: 15_000 });
    expect(await gates.textContent()).toContain('Waits on 2 of 3');
    await checkBoth(page, 'server-gates');

    // Each links to its page in the console, which points at it.
    await pending.getByRole('link', { name: `certification ${review.body.id}` }).click();
    await page.waitForURL(new RegExp(`#/certifications/${review.body.id}$`));
    const listed = page.locator(`#certification-${review.body.id}`);
    await expect.poll(() => listed.getAttribute('aria-current')).toBe('true');
    expect(await page.evaluate('document.activeElement && document.activeElement.id')).toBe(
      `certification-${review.body.id}`,
    );
    await page.goBack();
    await promotion.getByRole('link', { name: `promotion ${scheduled.body.id}` }).click();
    await page.waitForURL(new RegExp(`#/promotions/${scheduled.body.id}$`));
    await expect.poll(() => page.locator(`#promotion-${scheduled.body.id}`).getAttribute('aria-current')).toBe('true');
    await check(page, 'promotions-linked');

    // The pending certification passes: the panel marks it met without a reload.
    await page.goto(`${h.apiUrl}/ui/#/servers/${gatedId}`);
    await pending.waitFor();
    expect((await certify('ui-review', 'pass')).status).toBe(200);
    await expect.poll(() => pending.getAttribute('data-met'), { timeout: 20_000 }).toBe('true');
    expect(await gates.textContent()).toContain('Waits on 1 of 3');
    expect(await page.getByRole('alert').count()).toBe(0);
    await page.close();
  });

  it("creates a server from an npm package through the form, and shows the API's field error at its field", async () => {
    const page = await browser.newPage({ viewport: PHONE });
    await signIn(page, h.adminToken);
    await page.getByText('Create a server').click();
    const form = page.getByRole('form', { name: 'Create a server' });
    // Every source the API takes, each with its own fields.
    const fields: [string, string[]][] = [
      ['Git repository', ['Repository', 'Branch', 'Build directory (optional)']],
      ['Container image', ['Image']],
      [
        'npm package',
        ['Package', 'Version (optional)', 'Arguments, one per line', 'Environment, one KEY=value per line'],
      ],
      ['PyPI package', ['Package', 'Version', 'Arguments, one per line', 'Environment, one KEY=value per line']],
      ['Go module', ['Go package path', 'Version (optional)', 'Arguments, one per line']],
      ['server.json (MCP registry)', ['server.json', 'Package to host (optional)']],
    ];
    expect(await form.getByRole('group', { name: 'Source' }).getByRole('radio').count()).toBe(fields.length);
    for (const [kind, labels] of fields) {
      await form.getByRole('radio', { name: kind, exact: true }).check();
      for (const label of labels)
        expect(await form.getByLabel(label, { exact: true }).count(), `${kind}: ${label}`).toBe(1);
    }
    // The keyboard moves through the kinds: from git, two steps on is npm.
    await form.getByRole('radio', { name: 'Git repository' }).check();
    await form.getByRole('radio', { name: 'Git repository' }).focus();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    expect(await form.getByRole('radio', { name: 'npm package' }).isChecked()).toBe(true);

    const name = `ui-npm-${Date.now()}`;
    await form.getByLabel('Name').fill(name);
    await form.getByLabel('Type').fill('UiNpm');
    const pkg = form.getByLabel('Package', { exact: true });
    await pkg.fill('Not A Package!');
    await form.getByLabel('Arguments, one per line').fill('--verbose');
    await form.getByLabel('Environment, one KEY=value per line').fill('LOG_LEVEL=debug');
    await form.getByLabel('Start it now').uncheck();
    await form.getByRole('button', { name: 'Create server' }).click();
    // The API's 422 names source.package; its message stands at that field, which takes the focus.
    const fieldError = form.locator('#create-source-package-error');
    await fieldError.waitFor();
    expect(await fieldError.textContent()).toContain('must be an npm package name');
    expect(await pkg.getAttribute('aria-invalid')).toBe('true');
    expect(await pkg.getAttribute('aria-describedby')).toContain('create-source-package-error');
    expect(await page.evaluate('document.activeElement && document.activeElement.id')).toBe('create-source-package');
    expect(await form.getByRole('alert').textContent()).toMatch(/^422 validation_failed/);
    await check(page, 'servers-create-npm-error-phone');

    await pkg.fill('@modelcontextprotocol/server-memory');
    await form.getByRole('button', { name: 'Create server' }).click();
    await page.waitForURL(/#\/servers\/\d+$/);
    const id = Number(page.url().split('/').pop());
    await page.getByRole('heading', { level: 1 }).getByText(name).waitFor();
    expect(await page.getByRole('region', { name: 'Runtime and endpoint' }).textContent()).toContain(
      'npm @modelcontextprotocol/server-memory@latest',
    );
    const server = (await call('GET', `/api/servers/${id}`, { token: h.adminToken })).body;
    expect(server).toMatchObject({
      name,
      server_type: 'UiNpm',
      source: {
        type: 'npm',
        package: '@modelcontextprotocol/server-memory',
        version: 'latest',
        args: ['--verbose'],
        env: { LOG_LEVEL: 'debug' },
      },
    });
    await call('DELETE', `/api/servers/${id}`, { token: h.adminToken });
    await page.close();
  });

  it('keeps a secret whose value never comes back, and creates a track and a certification through their forms', async () => {
    const marker = `ui-marker-${randomUUID()}`;
    const name = `ui-secret-${Date.now()}`;
    const page = await browser.newPage({ viewport: LAPTOP });
    // Every API answer's body, streams aside (they never end; none carries a secret value).
    const bodies: Promise<string>[] = [];
    page.on('response', (r) => {
      if (!r.url().includes('/api/') || (r.headers()['content-type'] ?? '').includes('event-stream')) return;
      bodies.push(r.text().catch(() => ''));
    });
    await signIn(page, h.adminToken);
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Secrets' }).click();
    const form = page.getByRole('form', { name: 'Create a secret' });
    await form.getByLabel('Name').fill(name);
    await form.getByLabel('Value').fill(marker);
    expect(await form.getByLabel('Value').getAttribute('type')).toBe('password');
    await form.getByRole('button', { name: 'Create secret' }).click();
    const row = page.locator(`tr[data-secret="${name}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain('no server');
    expect(await form.getByLabel('Value').inputValue()).toBe('');

    // A new version through the row's masked field; the version moves on, the value stays unseen.
    await row.getByLabel(`New value for ${name}`).fill(`${marker}-2`);
    await row.getByRole('button', { name: 'Store version 2' }).click();
    await row.getByRole('button', { name: 'Store version 3' }).waitFor();
    expect(await row.getByLabel(`New value for ${name}`).inputValue()).toBe('');
    await checkBoth(page, 'secrets');
    // Neither the DOM (attributes and input values included) nor any answer holds the value.
    expect(await page.content()).not.toContain(marker);
    const values = (await page.evaluate(
      `[...document.querySelectorAll('input, textarea')].map((e) => e.value).join(' ')`,
    )) as string;
    expect(values).not.toContain(marker);
    expect((await Promise.all(bodies)).filter((b) => b.includes(marker))).toEqual([]);
    expect(bodies.length).toBeGreaterThan(0);
    const listed = await call('GET', '/api/secrets', { token: h.adminToken });
    expect(listed.body.find((s: { name: string }) => s.name === name)).toMatchObject({ version: 2, used_by: [] });

    await row.getByRole('button', { name: `Delete ${name}` }).click();
    await row.waitFor({ state: 'detached' });
    expect((await call('GET', '/api/secrets', { token: h.adminToken })).body.map((s: any) => s.name)).not.toContain(
      name,
    );

    // A track through the form: its stages in order, its gates and a soak for one stage, as the API stored them.
    await page.goto(`${h.apiUrl}/ui/#/promotions`);
    await page.getByText('Create a track').click();
    const trackForm = page.getByRole('form', { name: 'Create a track' });
    await trackForm.getByLabel('Name').fill('ui-form-train');
    await trackForm.getByLabel('Tier').fill('UiFormTier');
    await trackForm.getByLabel('Stages, in order').fill('candidate, production');
    await trackForm.getByLabel('Launch gate: stage a server needs').selectOption('production');
    await trackForm.getByLabel('Approver must differ from the scheduler').check();
    // One soak field per stage as typed; candidate is left empty, so it has none.
    expect(await trackForm.getByLabel(/^Soak at /).count()).toBe(2);
    await trackForm.getByLabel('Soak at production, seconds').fill('600');
    await check(page, 'promotions-track-form');
    await trackForm.getByRole('button', { name: 'Create track' }).click();
    const listedTrack = page.locator('li[data-track="ui-form-train"]');
    await listedTrack.waitFor();
    expect(await listedTrack.textContent()).toContain('candidate → production; launches from production');
    expect(await listedTrack.textContent()).toContain('; soaks production 600 s');
    const tracks = (await call('GET', '/api/promotions/tracks', { token: h.adminToken })).body;
    expect(tracks.find((t: { name: string }) => t.name === 'ui-form-train')).toMatchObject({
      tier: 'UiFormTier',
      stages: ['candidate', 'production'],
      launch_stage: 'production',
      require_distinct_approver: true,
      allow_drift: false,
      soak_seconds: { production: 600 },
    });

    // A manual certification of the server's build, with its evidence.
    const [build] = await h.sql<{ id: number }[]>`
      select id from build_artifact_runs where server_id = ${serverId} and manifest_digest is not null order by id desc limit 1`;
    await page.goto(`${h.apiUrl}/ui/#/certifications`);
    await page.getByText('Certify a build').click();
    const certForm = page.getByRole('form', { name: 'Certify a build' });
    await certForm.getByLabel('Build run id').fill(String(build!.id));
    await certForm.getByLabel('Tier').fill('Router');
    await certForm.getByLabel('Requirement').fill('ui-console');
    await certForm.getByLabel('Status').selectOption('pass');
    await certForm.getByLabel('Evidence (JSON)').fill('{"checked_by": "console"}');
    await check(page, 'certifications-form');
    await certForm.getByRole('button', { name: 'Certify' }).click();
    await page.getByRole('listitem').filter({ hasText: 'ui-console' }).waitFor();
    await checkBoth(page, 'certifications-listed');
    const certs = (await call('GET', `/api/artifacts/${build!.id}/evaluations`, { token: h.adminToken })).body;
    expect(certs.find((c: { policy_requirement: string }) => c.policy_requirement === 'ui-console')).toMatchObject({
      status: 'pass',
      tier: 'Router',
      evidence: { checked_by: 'console' },
    });
    expect(await page.getByRole('alert').count()).toBe(0);
    await page.close();
  });

  it("shows a viewer no mutating action, and a forged one answers 403 in the console's error display", async () => {
    const user = await call('POST', '/api/users', {
      token: h.adminToken,
      json: { email: `ui-viewer-${Date.now()}@example.test`, role: 'viewer' },
    });
    const viewer = (
      await call('POST', '/api/tokens', { token: h.adminToken, json: { name: 'ui', user_id: user.body.id } })
    ).body.token as string;
    const page = await browser.newPage({ viewport: LAPTOP });
    await signIn(page, viewer);
    expect(await page.getByText('Create a server').count()).toBe(0);
    expect(
      await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Secrets' }).count(),
    ).toBe(0);
    await page.goto(`${h.apiUrl}/ui/#/secrets`);
    await page.getByText('Only admins manage secrets here.').waitFor();
    expect(await page.getByRole('form', { name: 'Create a secret' }).count()).toBe(0);
    await page.goto(`${h.apiUrl}/ui/#/governance`);
    await page.getByRole('region', { name: 'Runs' }).waitFor();
    expect(await page.getByRole('button', { name: /^Start a run/ }).count()).toBe(0);
    await page.goto(`${h.apiUrl}/ui/#/servers/${serverId}`);
    await page.getByRole('heading', { level: 1 }).waitFor();
    expect(await page.getByRole('group', { name: 'Server actions' }).count()).toBe(0);
    await page.goto(`${h.apiUrl}/ui/#/promotions`);
    await page.getByRole('heading', { name: 'Promotions' }).waitFor();
    expect(await page.getByRole('button', { name: /^(Approve|Roll back) / }).count()).toBe(0);
    await check(page, 'viewer-promotions');

    // The browser is told the viewer is an operator: the buttons appear, the API still refuses.
    await page.route('**/api/me', async (route) => {
      const res = await route.fetch();
      await route.fulfill({ response: res, json: { ...(await res.json()), role: 'operator' } });
    });
    await page.goto(`${h.apiUrl}/ui/#/servers/${serverId}`);
    await page.reload();
    await page.getByRole('group', { name: 'Server actions' }).getByRole('button', { name: 'Stop' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/^403 forbidden/);
    await check(page, 'viewer-forged-403');
    await page.close();
  });
});
