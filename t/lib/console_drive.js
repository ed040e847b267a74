// console_drive.js - drives the delivery console in a real browser (Debian's
// chromium, headless, through puppeteer-core) for t2136-console.sh.
//
//   node console_drive.js STEP BASE SHOTS [ARG...]
//
// BASE is the admin server (http://127.0.0.1:PORT), SHOTS the directory
// for screenshots. BINHOOK_TOKEN, when set, is the admin token: the step
// enters it in the page's token form as a person would. Each step checks
// what it is about and exits 0, or prints what differs and exits 1.
'use strict';
const path = require('path');
const http = require('http');

const [step, base, shots, ...rest] = process.argv.slice(2);
const top = path.resolve(__dirname, '..', '..');
const puppeteer = require(path.join(top, 'build', 'npm', 'node_modules', 'puppeteer-core'));
const token = process.env.BINHOOK_TOKEN || '';

const seen = []; // the page's console and failed requests, shown on a failure

function fail(msg) {
  for (const m of seen) console.error('page: ' + m);
  console.error('not as expected: ' + msg);
  process.exit(1);
}

function check(cond, msg) {
  if (!cond) fail(msg);
}

// GET base+p straight from the API (with the token), as JSON or text.
function get(p, raw) {
  return new Promise((resolve, reject) => {
    const headers = token ? { Authorization: 'Bearer ' + token } : {};
    http.get(base + p, { headers }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (data += c));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(p + ': HTTP ' + res.statusCode + ' ' + data));
        resolve(raw ? data : JSON.parse(data));
      });
    }).on('error', reject);
  });
}

async function until(what, fn, seconds = 20) {
  const end = Date.now() + seconds * 1000;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  fail('waited ' + seconds + ' s for ' + what + (last instanceof Error ? ': ' + last.message : ''));
}

async function open(page) {
  page.on('console', (m) => seen.push(m.type() + ': ' + m.text()));
  page.on('requestfailed', (r) => seen.push('request failed: ' + r.url() + ' ' + r.failure().errorText));
  page.on('pageerror', (e) => fail('the page threw: ' + e.message));
  page.on('dialog', (d) => fail('an alert/confirm/prompt was opened: ' + d.message()));
  const res = await page.goto(base + '/', { waitUntil: 'load' });
  check(res.status() === 200, 'the page answered ' + res.status());
  const csp = res.headers()['content-security-policy'] || '';
  check(/script-src 'self'/.test(csp) && !/unsafe-inline/.test(csp), 'the page has no strict CSP: ' + csp);
  if (token) {
    await page.waitForSelector('#login:not([hidden])');
    await page.type('#token', token);
    await page.click('#login-form button');
  }
  await ready(page);
}

// Waits for the page's next refresh to end.
async function ready(page) {
  const before = await page.evaluate(() => Number(document.body.dataset.ready || 0));
  await page.waitForFunction((b) => Number(document.body.dataset.ready || 0) > b, { timeout: 15000 }, before);
}

async function view(page, name) {
  await page.click('#nav button[data-view=' + name + ']');
  await ready(page);
}

const text = (page, sel) => page.$eval(sel, (e) => e.textContent);
const texts = (page, sel) => page.$$eval(sel, (es) => es.map((e) => e.textContent));

async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, name + '.png'), fullPage: true });
}

// No script of the page's data ran and no element came from it.
async function noInjection(page) {
  const r = await page.evaluate(() => ({
    xss: window.__xss,
    imgs: document.querySelectorAll('main img').length,
    scripts: Array.from(document.querySelectorAll('script')).map((s) => s.getAttribute('src')),
    bolds: document.querySelectorAll('main b').length,
  }));
  check(r.xss === undefined, 'a script from the data ran: window.__xss = ' + r.xss);
  check(r.imgs === 0 && r.bolds === 0, 'markup from the data became elements: ' + JSON.stringify(r));
  check(r.scripts.length === 1 && r.scripts[0] === '/console.js', 'scripts in the page: ' + JSON.stringify(r.scripts));
}

const steps = {
  // The overview's figures are /status's.
  async overview(page) {
    await open(page);
    await until('a point of the chart', async () => (await get('/series')).points.length >= 2, 15);
    await ready(page);
    const s = await get('/status');
    const k = (n) => text(page, '#view-overview [data-k=' + n + ']');
    check((await k('streaming')) === (s.source.streaming ? 'streaming' : 'not streaming'), 'streaming');
    check((await k('waiting')) === String(s.queue.waiting), 'waiting: ' + (await k('waiting')) + ' vs ' + s.queue.waiting);
    check((await k('dead')) === String(s.queue.dead), 'dead: ' + (await k('dead')) + ' vs ' + s.queue.dead);
    check((await k('delivered')) === String(s.totals.delivered), 'delivered: ' + (await k('delivered')) + ' vs ' + s.totals.delivered);
    check((await k('failed')) === s.totals.failed_attempts + ' failed attempts', 'failed: ' + (await k('failed')));
    check((await k('lag')) === String(s.source.lag_seconds), 'lag');
    check((await k('position')) === 'GTID ' + s.checkpoint.gtid, 'position: ' + (await k('position')) + ' vs ' + s.checkpoint.gtid);
    check((await k('server')).startsWith(s.source.server + ' (server_id ' + s.source.server_id + ')'), 'server: ' + (await k('server')));
    check((await page.$$('#chart svg path')).length === 3, 'the chart has its three lines');
    check((await text(page, '#role')) === 'single', 'role: ' + (await text(page, '#role')));
    await shot(page, 'overview');
  },

  // The failing endpoint shows its errors; the other is up.
  async endpoints(page) {
    await open(page);
    await view(page, 'endpoints');
    const row = (n) => page.$eval('#endpoints tr[data-endpoint="' + n + '"]',
      (tr) => Array.from(tr.children).map((td) => td.textContent));
    const bad = await row('bad'), ok = await row('ok');
    // ten failures in a row open its circuit breaker (breaker_failures)
    check(bad[1] === 'circuit open', 'bad is shown ' + bad[1]);
    check(/^503 HTTP status 503 at /.test(bad[11]), 'bad\'s last error: ' + bad[11]);
    check(bad[4] === '0.0 %', 'bad\'s success rate: ' + bad[4]);
    check(/^http:\/\/127\.0\.0\.1:\d+$/.test(bad[2]), 'where bad goes, without the path: ' + bad[2]);
    check(ok[1] === 'up' && ok[4] === '100.0 %' && /ms$/.test(ok[5]) && /ms$/.test(ok[6]), 'ok: ' + ok);
    const s = await get('/status');
    const e = s.endpoints.find((x) => x.name === 'bad');
    check(bad[10] === String(e.dead_letters), 'dead letters of bad: ' + bad[10] + ' vs ' + e.dead_letters);
    await shot(page, 'endpoints');
  },

  // The attempts show the receiver's status and response as text; one
  // opens its request.
  async attempts(page) {
    await open(page);
    await view(page, 'attempts');
    await page.select('#attempt-filters [name=endpoint]', 'bad');
    await page.click('#attempt-filters button');
    await ready(page);
    const rows = await page.$$eval('#attempts tbody tr', (trs) => trs.map((tr) => Array.from(tr.children).map((td) => td.textContent)));
    const want = rest[0];
    check(rows.length >= 2, 'attempts of bad: ' + rows.length);
    check(rows.every((r) => r[2] === 'bad' && r[7] === '503'), 'every attempt of bad is a 503: ' + JSON.stringify(rows[0]));
    check(rows.every((r) => r[10] === want), 'the response as text: ' + JSON.stringify(rows[0][10]) + ' vs ' + JSON.stringify(want));
    check(rows.some((r) => r[9] === 'dead') && rows.some((r) => /^retrying at /.test(r[9])), 'outcomes: ' + rows.map((r) => r[9]));
    const dead = await page.$$('#attempts tbody tr');
    let opened = false;
    for (const tr of dead) {
      if ((await tr.$eval('td:nth-child(10)', (td) => td.textContent)) !== 'dead') continue;
      await tr.click();
      opened = true;
      break;
    }
    check(opened, 'a dead attempt to open');
    await page.waitForFunction(() => document.querySelector('#attempt-detail .request-head'), { timeout: 10000 });
    const head = await text(page, '#attempt-detail .request-head');
    check(/^POST http:\/\/127\.0\.0\.1:\d+\/hook\?key=\[hidden\]\n/.test(head), 'the request line, query hidden: ' + head.split('\n')[0]);
    check(/\nauthorization: \[hidden\]/i.test(head), 'the credential header is hidden: ' + head);
    check(!head.includes(rest[1]), 'a secret reached the page');
    check((await text(page, '#attempt-detail .response-body')) === want, 'the response body in the detail');
    const body = await text(page, '#attempt-detail .request-body');
    check(body.includes('"table":"orders"') || body.includes('"table": "orders"'), 'the request body: ' + body.slice(0, 200));
    await noInjection(page);
    await shot(page, 'attempts');
  },

  // Dead letters: a row holding markup shows it as text; confirmation
  // guards drop and replay; a drop, a replay of one, then of the rest.
  async dead(page) {
    await open(page);
    await view(page, 'dead');
    const n = Number(rest[0]);
    const ids = await page.$$eval('#dead tbody tr', (trs) => trs.map((tr) => tr.dataset.id));
    check(ids.length === n, 'dead letters listed: ' + ids.length + ' of ' + n);
    const html = rest[1];
    let found = false;
    for (const id of ids) {
      await page.click('#dead tbody tr[data-id="' + id + '"] td:nth-child(2)');
      await page.waitForFunction((i) => {
        const h = document.querySelector('#dead-detail h3');
        return h && h.textContent === 'Dead letter ' + i && document.querySelector('#dead-detail .request-body');
      }, { timeout: 10000 }, id);
      const body = await text(page, '#dead-detail .request-body');
      if (body.includes(JSON.stringify(html).slice(1, -1))) found = true;
      await noInjection(page);
      if (found) break;
    }
    check(found, 'the row with markup shows as text in a dead letter\'s request');
    await shot(page, 'dead-letters');

    const tick = (id) => page.click('#dead tbody tr[data-id="' + id + '"] input[type=checkbox]');
    const dialog = async (yes) => {
      await page.waitForSelector('#confirm[open]');
      await page.click(yes ? '#confirm-yes' : '#confirm button[value=no]');
      await page.waitForSelector('#confirm:not([open])');
    };
    const listed = async (m) => until(m + ' dead letters listed', async () => {
      await ready(page);
      return (await page.$$('#dead tbody tr')).length === m;
    });
    // drop one: cancelled first, then confirmed
    await tick(ids[0]);
    await page.click('#dead-drop-selected');
    await dialog(false);
    await ready(page);
    check((await page.$$('#dead tbody tr')).length === n, 'a cancelled drop dropped something');
    await page.click('#dead-drop-selected');
    await dialog(true);
    await listed(n - 1);
    check((await text(page, '#dead-result')) === 'dropped 1: see the attempts', 'drop result: ' + (await text(page, '#dead-result')));
    // replay one
    await tick(ids[1]);
    await page.click('#dead-replay-selected');
    await dialog(true);
    await listed(n - 2);
    // replay the rest of the endpoint
    await page.select('#dead-filters [name=endpoint]', 'bad');
    await page.click('#dead-replay-endpoint');
    await dialog(true);
    await listed(0);
    console.log(JSON.stringify({ dropped: ids[0] }));
  },

  // The replays' attempts show as delivered.
  async replayed(page) {
    await open(page);
    await view(page, 'attempts');
    await page.select('#attempt-filters [name=endpoint]', 'bad');
    await page.select('#attempt-filters [name=outcome]', 'delivered');
    await page.click('#attempt-filters button');
    await ready(page);
    const rows = await page.$$eval('#attempts tbody tr', (trs) => trs.map((tr) => Array.from(tr.children).map((td) => td.textContent)));
    check(rows.length === Number(rest[0]) && rows.every((r) => r[7] === '200'), 'delivered attempts of bad: ' + rows.length);
    await shot(page, 'attempts-replayed');
  },

  // A disabled endpoint is enabled from the page, after a confirmation.
  async enable(page) {
    await open(page);
    await view(page, 'endpoints');
    const sel = '#endpoints tr[data-endpoint="' + rest[0] + '"]';
    check((await page.$eval(sel + ' td:nth-child(2)', (td) => td.textContent)) === 'disabled (410 Gone)', 'shown disabled');
    await page.click(sel + ' button.enable');
    await page.waitForSelector('#confirm[open]');
    await shot(page, 'enable');
    await page.click('#confirm-yes');
    await until('the endpoint enabled', async () => {
      await ready(page);
      return (await page.$$(sel + ' button.enable')).length === 0 &&
        (await page.$eval(sel + ' td:nth-child(2)', (td) => td.textContent)) !== 'disabled (410 Gone)';
    });
  },

  // With the state in a database: the role, and a standby says where the
  // work is.
  async role(page) {
    await open(page);
    const want = rest[0];
    check((await text(page, '#role')) === want, 'role: ' + (await text(page, '#role')));
    const s = await get('/status');
    if (want === 'standby') {
      check((await text(page, '#view-overview [data-k=streaming]')) === 'standby', 'the overview says standby');
      check((await text(page, '#view-overview [data-k=server]')) === 'the active one is ' + s.lease.host + ' pid ' +
        s.lease.pid, 'the active one named: ' + (await text(page, '#view-overview [data-k=server]')));
      await view(page, 'attempts');
      check(/^This binhook is a standby/.test(await text(page, '#problem')), 'a standby\'s attempts view says so');
    } else {
      const kv = await texts(page, '#overview-kv th');
      check(kv.includes('lease'), 'the lease in the details: ' + kv);
    }
    await shot(page, 'role-' + want);
  },

  // Rules: what each matches, its endpoints and matches, config text as text.
  async rules(page) {
    await open(page);
    await view(page, 'rules');
    const r = await get('/rules');
    const rows = await page.$$eval('#rules tbody tr', (trs) => trs.map((tr) => Array.from(tr.children).map((td) => td.textContent)));
    check(rows.length === r.rules.length, 'rules listed: ' + rows.length);
    for (const want of r.rules) {
      const row = rows.find((x) => x[0].startsWith(want.name));
      check(row, 'rule ' + want.name);
      check(row[6] === String(want.matches), want.name + ' matches: ' + row[6] + ' vs ' + want.matches);
      check(row[5] === want.endpoints.join(', '), want.name + ' endpoints: ' + row[5]);
      check(row[1] === (want.tables ? want.tables.join(', ') : 'every table'), want.name + ' tables: ' + row[1]);
      check(row[3] === (want.when || ''), want.name + ' when: ' + row[3]);
      if (want.description) check(row[0] === want.name + want.description, 'the description as text: ' + row[0]);
    }
    await noInjection(page);
    await shot(page, 'rules');
  },

  // With a token: the page asks for it, refuses a wrong one, works with
  // the right one and keeps it for the tab only.
  async token(page) {
    const res = await page.goto(base + '/', { waitUntil: 'load' });
    check(res.status() === 200, 'the page itself needs no token: ' + res.status());
    await page.waitForSelector('#login:not([hidden])');
    check(await page.$eval('#main', (m) => m.hidden), 'data shown before the token');
    check((await text(page, '#view-overview [data-k=waiting]')) === '', 'a figure shown before the token');
    await shot(page, 'token');
    await page.type('#token', 'wrong' + token);
    await page.click('#login-form button');
    await page.waitForFunction(() => /refused/.test(document.querySelector('#login-error').textContent));
    check(await page.$eval('#main', (m) => m.hidden), 'data shown with a wrong token');
    await page.type('#token', token);
    await page.click('#login-form button');
    await ready(page);
    check(!(await page.$eval('#main', (m) => m.hidden)), 'the right token opens the page');
    const s = await get('/status');
    check((await text(page, '#view-overview [data-k=delivered]')) === String(s.totals.delivered), 'figures with the token');
    const kept = await page.evaluate(() => ({ session: sessionStorage.getItem('binhook.token'), local: localStorage.length }));
    check(kept.session === token && kept.local === 0, 'the token is kept for the tab only: ' + JSON.stringify(kept));
    const other = await page.browser().newPage(); // a new tab asks again
    await other.goto(base + '/', { waitUntil: 'load' });
    await other.waitForSelector('#login:not([hidden])');
    await other.close();
    await view(page, 'endpoints');
    await shot(page, 'endpoints-token');
  },
};

(async () => {
  check(steps[step], 'no step ' + step);
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run'],
  });
  const timer = setTimeout(() => fail('the step took more than 90 s'), 90000);
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    await steps[step](page);
  } catch (e) {
    fail(e.stack || String(e));
  } finally {
    clearTimeout(timer);
    await browser.close();
  }
})();
