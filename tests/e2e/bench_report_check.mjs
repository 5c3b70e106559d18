// Opens the bench's HTML report (bench/report_html.cpp) in headless Chromium
// with playwright-core and checks that it is a working, self-contained page;
// for tests/e2e/bench_report_test.py.
//
// Usage: node bench_report_check.mjs REPORT.html OUT.png [NODE_MODULES_DIR] [CHROMIUM]
//
// NODE_MODULES_DIR holds playwright-core (the noVNC test's npm packages,
// tests/e2e/novnc/package.json); default $TESSERA_NOVNC_NODE_MODULES, else
// tests/e2e/novnc/node_modules. CHROMIUM defaults to /usr/bin/chromium.
//
// Fails on: a console error, an uncaught page error, a failed request, any
// request that is not file:// or data: (the page must need nothing else), no
// <meta name="tessera-report" content="1">, no #summary or #comparisons table,
// fewer than 3 svg.plot elements, a plot without an id or with an empty
// bounding box (measured with every <details> opened), duplicate ids, "NaN"
// or "Infinity" in the page's text. Takes a full-page screenshot (as the page
// opens, collapsed sections collapsed) to OUT.png, prints one JSON object and
// exits 1 if anything failed (2 for bad usage).

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const [htmlArg, pngArg, nmArg, chromiumArg] = process.argv.slice(2);
if (!htmlArg || !pngArg) {
    process.stderr.write('usage: node bench_report_check.mjs REPORT.html OUT.png [NODE_MODULES_DIR] [CHROMIUM]\n');
    process.exit(2);
}
const htmlPath = path.resolve(htmlArg);
const pngPath = path.resolve(pngArg);
const nodeModules = path.resolve(nmArg || process.env.TESSERA_NOVNC_NODE_MODULES ||
                                 path.join(here, 'novnc', 'node_modules'));
const chromiumPath = chromiumArg || '/usr/bin/chromium';

const result = { ok: false, html: htmlPath, screenshot: null, browser: null, errors: [] };
const fail = (msg) => result.errors.push(msg);

function finish(code) {
    result.ok = result.errors.length === 0;
    process.stdout.write(JSON.stringify(result, null, 1) + '\n');
    process.exit(code ?? (result.ok ? 0 : 1));
}

async function main() {
    if (!fs.existsSync(htmlPath)) {
        fail('no such file: ' + htmlPath);
        return;
    }
    let chromium;
    try {
        ({ chromium } = await import(pathToFileURL(path.join(nodeModules, 'playwright-core', 'index.mjs')).href));
    } catch (e) {
        fail('cannot load playwright-core from ' + nodeModules + ': ' + e);
        return;
    }
    let browser;
    try {
        browser = await chromium.launch({ executablePath: chromiumPath, headless: true,
                                          args: ['--no-sandbox'], timeout: 30000 });
    } catch (e) {
        fail('cannot launch ' + chromiumPath + ': ' + e);
        return;
    }
    result.browser = browser.version();
    try {
        const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, deviceScaleFactor: 1 });
        const page = await context.newPage();
        const localUrl = (u) => u.startsWith('file:') || u.startsWith('data:');
        // Nothing may leave the file: a request elsewhere is a failure, and is stopped.
        await context.route('**/*', (route) =>
            localUrl(route.request().url()) ? route.continue() : route.abort('blockedbyclient'));
        page.on('request', (req) => {
            if (!localUrl(req.url())) fail('request outside the file: ' + req.url());
        });
        page.on('requestfailed', (req) => {
            if (localUrl(req.url())) fail('request failed: ' + req.url() + ' ' + (req.failure()?.errorText ?? ''));
        });
        page.on('console', (msg) => {
            if (msg.type() === 'error') fail('console error: ' + msg.text());
        });
        page.on('pageerror', (err) => fail('page error: ' + err));

        const t0 = Date.now();
        const response = await page.goto(pathToFileURL(htmlPath).href, { waitUntil: 'load', timeout: 30000 });
        if (response && !response.ok()) fail('loading the page: status ' + response.status());
        result.loadMs = Date.now() - t0;

        const meta = await page.$eval('meta[name="tessera-report"]', (m) => m.content).catch(() => null);
        if (meta !== '1') fail('no <meta name="tessera-report" content="1"> (got ' + JSON.stringify(meta) + ')');
        for (const id of ['summary', 'comparisons']) {
            if (!(await page.$('table#' + id))) fail('no table#' + id);
        }
        result.title = await page.title();
        result.summaryRows = await page.$$eval('table#summary tbody tr', (rows) => rows.length);

        // As the page opens: plots in open sections must be visible.
        const measure = () => page.$$eval('svg.plot', (svgs) => svgs.map((s) => {
            const r = s.getBoundingClientRect();
            return { id: s.id, w: r.width, h: r.height, shown: !s.closest('details:not([open])'),
                     shapes: s.querySelectorAll('rect, polyline, polygon, circle, line, path').length };
        }));
        const initial = await measure();
        for (const p of initial) {
            if (p.shown && !(p.w > 0 && p.h > 0)) fail('plot ' + (p.id || '(no id)') + ' shown with an empty box');
        }
        result.plotsShownAtLoad = initial.filter((p) => p.shown).length;

        await page.screenshot({ path: pngPath, fullPage: true });
        result.screenshot = pngPath;
        result.pageHeight = await page.evaluate(() => document.documentElement.scrollHeight);

        // Every section opened: every plot must have a box and something drawn in it.
        await page.$$eval('details', (ds) => ds.forEach((d) => { d.open = true; }));
        const plots = await measure();
        result.plots = plots.length;
        result.plotKinds = {};
        for (const p of plots) {
            const kind = (p.id || '(no id)').replace(/-[0-9-]*$/, '');
            result.plotKinds[kind] = (result.plotKinds[kind] || 0) + 1;
            if (!p.id) fail('an svg.plot without an id');
            if (!(p.w > 0 && p.h > 0)) fail('plot ' + p.id + ' has an empty box (' + p.w + 'x' + p.h + ')');
            if (p.shapes === 0) fail('plot ' + p.id + ' draws nothing');
        }
        if (plots.length < 3) fail('only ' + plots.length + ' svg.plot elements (want >= 3)');
        const dupes = await page.evaluate(() => {
            const seen = new Map();
            for (const el of document.querySelectorAll('[id]')) seen.set(el.id, (seen.get(el.id) || 0) + 1);
            return [...seen].filter(([, n]) => n > 1).map(([id]) => id);
        });
        if (dupes.length) fail('duplicate ids: ' + dupes.slice(0, 10).join(', '));
        const text = await page.evaluate(() => document.body.innerText);
        for (const bad of ['NaN', 'Infinity', 'undefined']) {
            if (new RegExp('\\b' + bad + '\\b').test(text)) fail('"' + bad + '" in the page text');
        }
        await context.close();
    } catch (e) {
        fail('checking the page: ' + (e && e.stack ? e.stack : e));
    } finally {
        await browser.close().catch(() => {});
    }
}

main().then(() => finish(), (e) => {
    fail('unexpected: ' + e);
    finish(1);
});
