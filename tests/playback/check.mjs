// Drives Debian's Chromium (headless) through playwright-core: open the playback page
// for one asset, play HLS and DASH, and report what the players did (JSON on stdout).
import { chromium } from "playwright-core";

const [pageUrl, asset, shot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--autoplay-policy=no-user-gesture-required"],
});
const result = { console: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("console", (m) => { if (m.type() === "error") result.console.push(m.text()); });
  page.on("pageerror", (e) => result.console.push(String(e)));
  await page.goto(`${pageUrl}/?asset=${encodeURIComponent(asset)}&play=both`);
  await page.waitForSelector("video#hls", { timeout: 20000 });
  await page.waitForFunction(() => {
    const v = (id) => document.getElementById(id);
    return (v("hls").currentTime > 2 && v("dash").currentTime > 2) || window.__pachmedia.errors.length > 0;
  }, null, { timeout: 45000 }).catch(() => {});
  Object.assign(result, await page.evaluate(() => {
    const info = (id) => { const v = document.getElementById(id);
      return { currentTime: v.currentTime, videoWidth: v.videoWidth, videoHeight: v.videoHeight,
               error: v.error ? v.error.message || String(v.error.code) : null }; };
    return { hls: info("hls"), dash: info("dash"), errors: window.__pachmedia.errors,
             assets: document.querySelectorAll("nav div").length,
             scenes: document.querySelectorAll(".scene img").length };
  }));
  if (shot) await page.screenshot({ path: shot, fullPage: true });
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
