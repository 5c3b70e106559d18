// The page side of driver.mjs: one noVNC RFB connection per startSession(),
// instrumented from the outside (no noVNC file is changed):
//   - RFB.messages.clientEncodings is wrapped: every SetEncodings list is
//     recorded, and the encodings in `drop` are taken out of it first (this
//     is how a session forbids H.264 (50) or JPEG (21 and the quality levels
//     -32..-23); noVNC has no option for either);
//   - each decoder's decodeRect is wrapped to count finished rects per
//     encoding, Tight's and TightPNG's sub-rect methods (_fillRect,
//     _jpegRect, _pngRect, _basicRect) to count sub-rects per kind, and the
//     display's videoFrame to count decoded H.264 frames;
//   - every lossy rect (H.264, Tight or TightPNG JPEG, JPEG) is marked in a per-pixel
//     "was ever drawn lossy" mask that goes with each snapshot;
//   - snapshots are getImageData() of the canvas noVNC shows. noVNC draws
//     every update into a back buffer and copies it to this canvas in order
//     through its render queue (JPEG and H.264 decodes included), so the
//     canvas only ever shows whole framebuffer updates.

import RFB from '/novnc/core/rfb.js';
import * as Browser from '/novnc/core/util/browser.js';

window.harnessReady = false;

let snaps = [];    // [{data: RGBA Uint8ClampedArray, mask: Uint8Array}]
let current = null;   // the running session's state

const origClientEncodings = RFB.messages.clientEncodings;
RFB.messages.clientEncodings = function (sock, encodings) {
    let list = Array.from(encodings);
    if (current) {
        current.result.encodingsOffered.push(list.slice());
        list = list.filter((e) => !current.drop.has(e));
        current.result.encodingsSent.push(list.slice());
    }
    return origClientEncodings.call(this, sock, list);
};

async function probeWebCodecs() {
    const out = { supportsWebCodecsH264Decode: Browser.supportsWebCodecsH264Decode,
                  videoDecoder: 'VideoDecoder' in window,
                  secureContext: window.isSecureContext, configs: {} };
    if (!out.videoDecoder) return out;
    for (const codec of ['avc1.42E01F', 'avc1.4D401F', 'avc1.64001F']) {
        try {
            const r = await VideoDecoder.isConfigSupported({ codec, codedWidth: 1280,
                                                             codedHeight: 720,
                                                             optimizeForLatency: true });
            out.configs[codec] = !!r.supported;
        } catch (e) {
            out.configs[codec] = 'error: ' + e;
        }
    }
    return out;
}

function wrapCounting(obj, method, onDone) {
    const orig = obj[method];
    obj[method] = function (...args) {
        const r = orig.apply(this, args);
        if (r) onDone(args);
        return r;
    };
}

// p: {url, password, qualityLevel, compressionLevel, drop: [encodings],
//     shots: [{notBefore, afterConnectMs, minGapMs, quietMs, deadline}],
//     sessionTimeoutMs, expectFailure}
//   notBefore, deadline: Date.now() values (epoch ms) or null;
//   a shot is taken once now >= notBefore, the connection is afterConnectMs
//   old, the previous shot minGapMs old, no rect arrived for quietMs and
//   noVNC's render queue is empty; at its deadline it is taken anyway and
//   marked timedOut.
// Resolves with what happened once every shot is taken, the connection
// fails or ends, or sessionTimeoutMs passes.
window.startSession = async function (p) {
    snaps = [];
    const result = {
        webcodecs: await probeWebCodecs(),
        events: [], encodingsOffered: [], encodingsSent: [], rects: {},
        tightJpegRects: 0, tightSub: {}, videoFrames: 0, videoFrameTimes: [], lossyRects: {}, snapshots: [], fb: null,
        connectMs: null, firstRectMs: null, timedOut: false, error: null,
    };
    const st = { result, drop: new Set(p.drop || []), lastRectAt: null,
                 connectedAt: null, ended: false };
    current = st;
    const t0 = Date.now();
    const screen = document.getElementById('screen');
    screen.innerHTML = '';

    let rfb;
    try {
        rfb = new RFB(screen, p.url, { shared: true,
                                       credentials: p.password != null ? { password: p.password } : {} });
    } catch (e) {
        result.error = 'new RFB: ' + e;
        current = null;
        return result;
    }
    rfb.viewOnly = true;
    if (p.qualityLevel != null) rfb.qualityLevel = p.qualityLevel;
    if (p.compressionLevel != null) rfb.compressionLevel = p.compressionLevel;

    // Pixels that were ever covered by a lossy rect, in the framebuffer's
    // current size (reset when it changes).
    let mask = null;
    const markLossy = (kind, x, y, w, h) => {
        const W = rfb._fbWidth, H = rfb._fbHeight;
        if (mask === null || mask.length !== W * H) mask = new Uint8Array(W * H);
        const key = kind + ' ' + [x, y, w, h].join(',');
        result.lossyRects[key] = (result.lossyRects[key] || 0) + 1;
        for (let yy = Math.max(0, y); yy < Math.min(H, y + h); yy++) {
            mask.fill(1, yy * W + Math.max(0, x), yy * W + Math.min(W, x + w));
        }
    };
    const noteRect = (enc) => {
        result.rects[enc] = (result.rects[enc] || 0) + 1;
        st.lastRectAt = Date.now();
        if (result.firstRectMs === null) result.firstRectMs = st.lastRectAt - t0;
    };
    // H.264: per rect, the flags and the NAL unit types of the payload
    // (peeked before noVNC consumes them), and whether every new decoder
    // context (keyed by x,y,w,h as in noVNC; reset by flag 1, all by flag
    // 2) starts with an IDR picture: noVNC drops frames until a key frame.
    // Slices: noVNC's H264Parser ends a chunk at every slice NAL, so a
    // picture in several slices reaches WebCodecs as several chunks; a slice
    // whose first_mb_in_slice is not 0 (first bit of its header 0) is such a
    // continuation.
    const h264 = { rects: 0, contexts: 0, resets: 0, withoutIdr: 0,
                   firstWithoutIdr: null, nalTypes: {}, pictures: 0,
                   continuationSlices: 0, sample: [] };
    result.h264 = h264;
    const live = new Map();    // context key -> has seen an IDR
    const h264Dec = rfb._decoders[50];
    if (h264Dec) {
        const orig = h264Dec.decodeRect;
        h264Dec.decodeRect = function (x, y, w, h, sock, ...rest) {
            let info = null;
            if (sock.rQlen() >= 8) {
                const hdr = sock.rQpeekBytes(8, false);
                const len = ((hdr[0] << 24) | (hdr[1] << 16) | (hdr[2] << 8) | hdr[3]) >>> 0;
                const flags = ((hdr[4] << 24) | (hdr[5] << 16) | (hdr[6] << 8) | hdr[7]) >>> 0;
                if (sock.rQlen() >= 8 + len) {
                    const data = sock.rQpeekBytes(8 + len, false).subarray(8);
                    const nals = [];
                    let pictures = 0, cont = 0;
                    for (let i = 0; i + 3 < data.length; i++) {
                        if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1) {
                            const t = data[i + 3] & 0x1f;
                            nals.push(t);
                            if ((t === 1 || t === 5) && i + 4 < data.length) {
                                if (data[i + 4] & 0x80) pictures++; else cont++;
                            }
                            i += 3;
                        }
                    }
                    info = { len, flags, nals, pictures, cont };
                }
            }
            const r = orig.call(this, x, y, w, h, sock, ...rest);
            if (r && info) {
                const key = [x, y, w, h].join(',');
                h264.rects++;
                if (info.flags & 2) { live.clear(); h264.resets++; }
                if (info.flags & 1) { live.delete(key); h264.resets++; }
                if (!live.has(key)) { live.set(key, false); h264.contexts++; }
                for (const t of info.nals) h264.nalTypes[t] = (h264.nalTypes[t] || 0) + 1;
                h264.pictures += info.pictures;
                h264.continuationSlices += info.cont;
                if (info.nals.includes(5)) {
                    live.set(key, true);
                } else if (info.len > 0 && !live.get(key)) {
                    h264.withoutIdr++;
                    if (h264.firstWithoutIdr === null) {
                        h264.firstWithoutIdr = { rect: key, flags: info.flags, len: info.len,
                                                 nals: info.nals.slice(0, 12) };
                    }
                }
                if (h264.sample.length < 12) {
                    h264.sample.push({ rect: key, flags: info.flags, len: info.len,
                                       nals: info.nals.slice(0, 12) });
                }
            }
            return r;
        };
    }
    for (const [enc, dec] of Object.entries(rfb._decoders)) {
        wrapCounting(dec, 'decodeRect', (a) => {
            noteRect(enc);
            if (enc === '50') markLossy('h264', a[0], a[1], a[2], a[3]);
            if (enc === '21') markLossy('jpeg', a[0], a[1], a[2], a[3]);
        });
    }
    // Tight (7) and TightPNG (-260, noVNC's TightPNGDecoder, a subclass):
    // finished sub-rects per compression kind (fill, JPEG, PNG, basic =
    // zlib copy/palette/gradient; TightPNG throws on basic). JPEG sub-rects
    // are lossy; tightJpegRects counts Tight's (7) alone.
    for (const enc of ['7', '-260']) {
        const dec = rfb._decoders[enc];
        if (!dec) continue;
        const c = { fill: 0, jpeg: 0, png: 0, basic: 0 };
        result.tightSub[enc] = c;
        wrapCounting(dec, '_fillRect', () => { c.fill++; });
        wrapCounting(dec, '_pngRect', () => { c.png++; });
        wrapCounting(dec, '_basicRect', () => { c.basic++; });
        wrapCounting(dec, '_jpegRect', (a) => {
            c.jpeg++;
            if (enc === '7') result.tightJpegRects++;
            markLossy(enc === '7' ? 'tight-jpeg' : 'tightpng-jpeg', a[0], a[1], a[2], a[3]);
        });
    }
    const display = rfb._display;
    const origVideoFrame = display.videoFrame;
    display.videoFrame = function (...args) {
        result.videoFrames++;
        // When each decoded H.264 frame reached the display (epoch ms): when video starts.
        if (result.videoFrameTimes.length < 4000) result.videoFrameTimes.push(Date.now());
        return origVideoFrame.apply(this, args);
    };

    let finish;
    const done = new Promise((resolve) => { finish = resolve; });

    rfb.addEventListener('connect', () => {
        st.connectedAt = Date.now();
        result.connectMs = st.connectedAt - t0;
        result.events.push('connect');
    });
    rfb.addEventListener('disconnect', (e) => {
        result.events.push('disconnect:' + (e.detail.clean ? 'clean' : 'unclean'));
        st.ended = true;
    });
    rfb.addEventListener('securityfailure', (e) => {
        result.events.push('securityfailure:' + e.detail.status +
                           (e.detail.reason ? ':' + e.detail.reason : ''));
    });
    rfb.addEventListener('credentialsrequired', (e) => {
        result.events.push('credentialsrequired:' + (e.detail.types || []).join(','));
        if (p.password == null) rfb.disconnect();
    });
    rfb.addEventListener('desktopname', (e) => {
        result.events.push('desktopname:' + e.detail.name);
    });

    const shots = p.shots || [];
    const deadlineAll = t0 + (p.sessionTimeoutMs || 30000);
    const timer = setInterval(() => {
        const now = Date.now();
        if (st.ended || now > deadlineAll) {
            if (!st.ended) result.timedOut = true;
            clearInterval(timer);
            finish();
            return;
        }
        if (st.connectedAt === null || snaps.length >= shots.length) return;
        const s = shots[snaps.length];
        const late = s.deadline != null && now >= s.deadline;
        if (!late) {
            if (s.notBefore != null && now < s.notBefore) return;
            if (now - st.connectedAt < (s.afterConnectMs || 0)) return;
            if (s.minGapMs && snaps.length &&
                now - result.snapshots[snaps.length - 1].t < s.minGapMs) return;
            if (s.quietMs) {
                if (st.lastRectAt === null || now - st.lastRectAt < s.quietMs) return;
                if (display.pending()) return;
            }
        }
        const w = rfb._fbWidth, h = rfb._fbHeight;
        const ctx = rfb._canvas.getContext('2d');
        const img = ctx.getImageData(0, 0, w, h);
        snaps.push({ data: img.data,
                     mask: mask !== null && mask.length === w * h ? mask.slice() : new Uint8Array(w * h) });
        result.snapshots.push({
            t: now, width: w, height: h, timedOut: late,
            sinceRectMs: st.lastRectAt === null ? null : now - st.lastRectAt,
            rects: Object.values(result.rects).reduce((a, b) => a + b, 0),
            videoFrames: result.videoFrames, tightJpegRects: result.tightJpegRects,
        });
        if (snaps.length >= shots.length && !p.stayConnected) {
            clearInterval(timer);
            finish();
        }
    }, 4);

    await done;
    result.fb = [rfb._fbWidth, rfb._fbHeight];
    result.capabilities = rfb.capabilities;
    if (!st.ended) {
        const gone = new Promise((resolve) => {
            rfb.addEventListener('disconnect', resolve);
            setTimeout(resolve, 1000);
        });
        rfb.disconnect();
        await gone;
    }
    current = null;
    return result;
};

// Snapshot i as base64: its RGBA pixels, or with what == 'mask' its lossy mask
// (one byte per pixel, 1 = a lossy rect covered it at some time).
window.snapshotBase64 = function (i, what) {
    const d = what === 'mask' ? snaps[i].mask : snaps[i].data;
    let s = '';
    const step = 0x8000;
    for (let o = 0; o < d.length; o += step) {
        s += String.fromCharCode.apply(null, d.subarray(o, o + step));
    }
    return btoa(s);
};

window.harnessReady = true;
