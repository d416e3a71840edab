// Drives Debian's Chromium (headless) through playwright-core: open the playback page
// for one asset, play HLS and DASH, and report what the players did (JSON on stdout).
import { chromium } from "playwright-core";

const [pageUrl, asset, shot, mode = "video"] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--autoplay-policy=no-user-gesture-required"],
});
const result = { console: [] };

// Mode "tracks": what each player lists, then as a viewer would: captions on (the first
// text track) and the second audio track chosen; the cues the <video> then holds, and
// whether time still advances after the audio switch.
async function exerciseTracks(page) {
  const out = { tracks: await page.evaluate(() => window.__pachmedia.tracks), cues: {}, afterSwitch: {} };
  for (const p of ["hls", "dash"]) {
    if (out.tracks[p] && out.tracks[p].text.length) {
      await page.selectOption(`#${p}-text`, "0");
      await page.waitForFunction((id) => [...document.getElementById(id).textTracks]
        .some((t) => t.mode === "showing" && t.cues && t.cues.length > 0), p, { timeout: 15000 }).catch(() => {});
      out.cues[p] = await page.evaluate((id) => [...document.getElementById(id).textTracks]
        .filter((t) => t.mode === "showing")
        .map((t) => ({ label: t.label, language: t.language,
                       cues: t.cues ? [...t.cues].map((c) => [c.startTime, c.endTime, c.text]) : null })), p);
    }
    if (out.tracks[p] && out.tracks[p].audio.length > 1) {
      const before = await page.evaluate((id) => document.getElementById(id).currentTime, p);
      await page.selectOption(`#${p}-audio`, "1");
      await page.evaluate((id) => { const v = document.getElementById(id); v.currentTime = 0; return v.play(); }, p);
      await page.waitForFunction((id) => document.getElementById(id).currentTime > 1, p, { timeout: 15000 }).catch(() => {});
      out.afterSwitch[p] = await page.evaluate(([id, t0]) => ({ before: t0, now: document.getElementById(id).currentTime,
        errors: window.__pachmedia.errors.slice() }), [p, before]);
    }
  }
  return out;
}
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("console", (m) => { if (m.type() === "error") result.console.push(m.text()); });
  page.on("pageerror", (e) => result.console.push(String(e)));
  await page.goto(`${pageUrl}/?asset=${encodeURIComponent(asset)}&play=both&goal=${mode === "video" ? 2 : 1}`);
  if (mode === "image") {
    await page.waitForFunction(() => { const i = document.getElementById("still");
      return (i && i.complete && document.querySelector(".scene img")) || window.__pachmedia.errors.length > 0; },
                               null, { timeout: 20000 }).catch(() => {});
    Object.assign(result, await page.evaluate(() => ({
      still: document.getElementById("still").naturalWidth, errors: window.__pachmedia.errors,
      scenes: document.querySelectorAll(".scene img").length })));
    if (shot) await page.screenshot({ path: shot, fullPage: true });
    console.log(JSON.stringify(result));
    process.exit(0);
  }
  await page.waitForSelector("video#hls", { timeout: 20000 });
  if (mode === "switch") {
    // The preview plays: say so on stdout (the test then lets the ladder land), and wait
    // until both players are on the ladder and have played on past the switch.
    const seen = () => ({ source: window.__pachmedia.source, hlsUrl: window.__pachmedia.hlsUrl,
      switches: window.__pachmedia.switches || 0, switchedAt: window.__pachmedia.switchedAt || null,
      errors: window.__pachmedia.errors.slice(), renditions: document.getElementById("renditions").textContent,
      hls: document.getElementById("hls").currentTime, dash: document.getElementById("dash").currentTime });
    await page.waitForFunction(() => { const s = window.__pachmedia, v = (id) => document.getElementById(id);
      return (s.source === "preview" && v("hls").currentTime > 1 && v("dash").currentTime > 1) || s.errors.length > 0;
    }, null, { timeout: 45000 }).catch(() => {});
    result.preview = await page.evaluate(seen);
    console.log("PREVIEW " + JSON.stringify(result.preview));
    await page.waitForFunction(() => { const s = window.__pachmedia, v = (id) => document.getElementById(id);
      return (s.source === "full" && s.switchedAt && v("hls").currentTime > s.switchedAt.hls + 1
              && v("dash").currentTime > s.switchedAt.dash + 1) || s.errors.length > 0;
    }, null, { timeout: 150000 }).catch(() => {});
    result.full = await page.evaluate(seen);
    result.errors = result.full.errors;
    if (shot) await page.screenshot({ path: shot, fullPage: true });
    console.log(JSON.stringify(result));
    process.exit(0);
  }
  await page.waitForFunction(() => {
    const v = (id) => document.getElementById(id);
    const goal = Number(new URLSearchParams(location.search).get("goal") || 2);
    return (v("hls").currentTime > goal && v("dash").currentTime > goal) || window.__pachmedia.errors.length > 0;
  }, null, { timeout: 45000 }).catch(() => {});
  Object.assign(result, await page.evaluate(() => {
    const info = (id) => { const v = document.getElementById(id);
      return { currentTime: v.currentTime, videoWidth: v.videoWidth, videoHeight: v.videoHeight,
               error: v.error ? v.error.message || String(v.error.code) : null }; };
    const wave = document.getElementById("waveform");
    const text = (id) => { const el = document.getElementById(id); return el ? el.textContent : null; };
    const hlsSrc = document.getElementById("hls").currentSrc || "";
    return { hls: info("hls"), dash: info("dash"), errors: window.__pachmedia.errors,
             verdict: text("verdict"), lineage: text("lineage"),
             // hls.js feeds the element through Media Source Extensions (a blob: URL);
             // native HLS would have the .m3u8 itself as the source
             hlsEngine: window.__pachmedia.hlsEngine || null, hlsSrcScheme: hlsSrc.split(":")[0],
             hlsJs: !!(window.Hls && window.__pachmedia.players.hls instanceof window.Hls),
             waveform: wave ? wave.naturalWidth : null,
             assets: document.querySelectorAll("nav div").length,
             scenes: document.querySelectorAll(".scene img").length };
  }));
  if (mode === "tracks") Object.assign(result, await exerciseTracks(page));
  if (shot) await page.screenshot({ path: shot, fullPage: true });
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
