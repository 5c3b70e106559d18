// noVNC 1.7 in headless Chromium, driven by playwright-core, for
// tests/e2e/vnc_viewers_test.py.
//
// Usage: node driver.mjs NODE_MODULES_DIR [CHROMIUM]
//
// Speaks JSON lines on stdin/stdout so that one browser serves every session
// of a test run:
//   -> (on start)  {"ready": true, "browser": VERSION}  or  {"fatal": MESSAGE}
//   <- {"cmd": "session", ...}   runs one noVNC connection (see harness.js
//                                 startSession for the parameters; "out" is a
//                                 path prefix for the snapshots)
//   -> {"result": {...}}          what happened; snapshots are written to
//                                 OUT-N.rgba (width*height*4 bytes, RGBA) and
//                                 OUT-N.mask (width*height bytes, 1 where a
//                                 lossy rect was ever drawn)
//   <- {"cmd": "quit"}
// Anything else the driver prints goes to stderr.
//
// The page and noVNC's ES modules (NODE_MODULES_DIR/@novnc/novnc/core) are
// served by a small HTTP server of this driver on 127.0.0.1: a loopback
// origin is a secure context (WebCodecs, hence H.264, needs one), and
// Chromium's Local Network Access checks let a loopback page open a WebSocket
// to a loopback port (a page served by request interception has no address
// and gets ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS). The WebSocket goes to
// whatever "url" says (websockify in front of the VNC port).

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const nodeModules = path.resolve(process.argv[2] || path.join(here, 'node_modules'));
const chromiumPath = process.argv[3] || '/usr/bin/chromium';
const novncDir = path.join(nodeModules, '@novnc', 'novnc');

function say(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

const TYPES = { '.js': 'text/javascript', '.html': 'text/html', '.css': 'text/css' };

function serve(req, res) {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname === '/favicon.ico') {
        res.writeHead(204);
        res.end();
        return;
    }
    let file = null;
    if (url.pathname === '/' || url.pathname === '/harness.html') {
        file = path.join(here, 'harness.html');
    } else if (url.pathname === '/harness.js') {
        file = path.join(here, 'harness.js');
    } else if (url.pathname.startsWith('/novnc/')) {
        const rel = path.normalize(decodeURIComponent(url.pathname.slice('/novnc/'.length)));
        if (!rel.startsWith('..')) file = path.join(novncDir, rel);
    }
    if (file === null || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found');
        return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream',
                         'cache-control': 'no-store' });
    res.end(fs.readFileSync(file));
}

let ORIGIN = null;

// One page serves all sessions (a new context and page cost a second or two
// each); it is made again after a session that broke it.
let page = null;
let pageErrors = [];
let consoleLines = new Map();   // "type: text" -> count (the first 300 kinds)

async function openPage(browser) {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 },
                                               deviceScaleFactor: 1 });
    const p = await context.newPage();
    p.on('pageerror', (e) => pageErrors.push(String(e && e.stack || e)));
    p.on('console', (m) => {
        const line = m.type() + ': ' + m.text();
        if (consoleLines.has(line)) {
            consoleLines.set(line, consoleLines.get(line) + 1);
        } else if (consoleLines.size < 300) {
            consoleLines.set(line, 1);
        }
    });
    const t0 = Date.now();
    await p.goto(ORIGIN + '/harness.html', { waitUntil: 'load', timeout: 20000 });
    await p.waitForFunction(() => window.harnessReady === true, null, { timeout: 20000 });
    p.loadMs = Date.now() - t0;
    return p;
}

async function runSession(browser, prm) {
    pageErrors = [];
    consoleLines = new Map();
    let result = null;
    let loadMs = 0;
    try {
        if (page === null) {
            page = await openPage(browser);
            loadMs = page.loadMs;
        }
        result = await page.evaluate((p) => window.startSession(p), prm);
        result.loadMs = loadMs;
        // Fetch the snapshots one at a time (base64 RGBA) and write them out.
        for (let i = 0; i < result.snapshots.length; i++) {
            for (const what of ['rgba', 'mask']) {
                const b64 = await page.evaluate(([n, w]) => window.snapshotBase64(n, w), [i, what]);
                const file = `${prm.out}-${i}.${what}`;
                fs.writeFileSync(file, Buffer.from(b64, 'base64'));
                result.snapshots[i][what] = file;
            }
        }
    } catch (e) {
        result = result || {};
        result.driverError = String(e && e.stack || e);
        if (page !== null) {
            await page.context().close().catch(() => {});
            page = null;
        }
    }
    result.pageErrors = pageErrors;
    // Console output, each kind of line once with its count: "N x type: text".
    result.console = Array.from(consoleLines, ([line, n]) => n + ' x ' + line);
    return result;
}

async function main() {
    let chromium;
    try {
        ({ chromium } = await import(path.join(nodeModules, 'playwright-core', 'index.mjs')));
    } catch (e) {
        say({ fatal: 'cannot load playwright-core from ' + nodeModules + ': ' + e });
        process.exit(1);
    }
    if (!fs.existsSync(path.join(novncDir, 'core', 'rfb.js'))) {
        say({ fatal: 'no @novnc/novnc under ' + nodeModules });
        process.exit(1);
    }
    const server = http.createServer(serve);
    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
    });
    ORIGIN = 'http://127.0.0.1:' + server.address().port;
    let browser;
    try {
        browser = await chromium.launch({
            executablePath: chromiumPath,
            headless: true,
            // Software GL: no GPU in CI; WebCodecs decodes in software (FFmpeg).
            args: ['--no-sandbox', '--use-gl=angle', '--use-angle=swiftshader',
                   '--autoplay-policy=no-user-gesture-required'],
            timeout: 30000,
        });
    } catch (e) {
        say({ fatal: 'cannot launch ' + chromiumPath + ': ' + e });
        process.exit(1);
    }
    // Load the page now: its first load (noVNC's WebCodecs probe included)
    // takes seconds, which must not fall into a session's schedule.
    try {
        page = await openPage(browser);
    } catch (e) {
        say({ fatal: 'cannot load the noVNC page: ' + e + '\n' + pageErrors.join('\n') });
        process.exit(1);
    }
    say({ ready: true, browser: browser.version(), loadMs: page.loadMs });

    const rl = readline.createInterface({ input: process.stdin });
    for await (const line of rl) {
        if (!line.trim()) continue;
        let msg;
        try {
            msg = JSON.parse(line);
        } catch (e) {
            say({ result: { driverError: 'bad JSON: ' + e } });
            continue;
        }
        if (msg.cmd === 'quit') break;
        if (msg.cmd === 'session') {
            say({ result: await runSession(browser, msg) });
        } else {
            say({ result: { driverError: 'unknown cmd ' + msg.cmd } });
        }
    }
    await browser.close().catch(() => {});
    server.close();
    process.exit(0);
}

main().catch((e) => {
    say({ fatal: String(e && e.stack || e) });
    process.exit(1);
});
