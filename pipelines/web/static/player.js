// The playback page: everything comes from the S3 gateway (anonymous read, CORS).
const state = { gateway: null, errors: [], players: {}, tracks: {} };
window.__pachmedia = state;

const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
const url = (bucket, key) => `${state.gateway}/${bucket}/${key.split("/").map(encodeURIComponent).join("/")}`;

async function listKeys(bucket) {
  const keys = [];
  let token = "";
  do {
    const q = `list-type=2&max-keys=1000${token ? "&continuation-token=" + encodeURIComponent(token) : ""}`;
    const xml = new DOMParser().parseFromString(await (await fetch(`${state.gateway}/${bucket}?${q}`)).text(), "text/xml");
    xml.querySelectorAll("Contents > Key").forEach((k) => keys.push(k.textContent));
    const next = xml.querySelector("NextContinuationToken");
    token = next ? next.textContent : "";
  } while (token);
  return keys;
}

// The top-level folders of a bucket (one per asset in the output repos).
async function listFolders(bucket) {
  const xml = new DOMParser().parseFromString(
    await (await fetch(`${state.gateway}/${bucket}?list-type=2&delimiter=/&max-keys=1000`)).text(), "text/xml");
  return [...xml.querySelectorAll("CommonPrefixes > Prefix")].map((p) => p.textContent.replace(/\/$/, ""));
}

async function fetchJson(u) {
  const r = await fetch(u);
  return r.ok ? r.json() : null;
}

// An upload whose preview landed before its catalog record (that comes after the ladder and
// the labels) is listed from the preview alone, so it plays within seconds of its upload.
async function previewOnly(known) {
  const recs = [];
  if (!served("master.preview")) return recs;  // a home without the preview pipeline
  for (const name of await listFolders("master.preview")) {
    if (known.has(name)) continue;
    const pkg = await fetchJson(url("master.preview", `${name}/package.json`));
    if (pkg && pkg.hls) {
      recs.push({ name, status: "processing", kind: "video",
                  preview: { repo: "preview", hls: pkg.hls.master, dash: pkg.dash && pkg.dash.manifest,
                             poster: pkg.poster, renditions: pkg.renditions || [] } });
    }
  }
  return recs;
}

// Whether the gateway serves this bucket (its server asked; not known: try it).
const served = (bucket) => !state.buckets || state.buckets.has(bucket);

async function loadCatalog() {
  const config = await (await fetch("/config.json")).json();
  state.gateway = config.gateway;
  state.buckets = config.buckets ? new Set(config.buckets) : null;
  const keys = served("master.catalog") ? await listKeys("master.catalog") : [];
  const recs = await Promise.all(keys.map(async (k) => (await fetch(url("master.catalog", k))).json()));
  recs.push(...await previewOnly(new Set(recs.map((r) => r.name))));
  const nav = document.getElementById("assets");
  nav.innerHTML = "";
  for (const r of recs) {
    const d = document.createElement("div");
    d.dataset.name = r.name;
    d.innerHTML = `${esc(r.name)}<span class="st ${esc(r.status)}">${esc(r.status)}</span><br><small>${esc(r.kind || "")}</small>`;
    d.onclick = () => show(r);
    nav.appendChild(d);
  }
  state.catalog = recs;
  const want = new URLSearchParams(location.search).get("asset");
  const first = recs.find((r) => r.name === want) || recs.find((r) => r.status === "ready");
  if (first) show(first);
}

function destroyPlayers() {
  for (const id of ["hls", "dash"]) {  // a player letting go of its element is no playback error
    const v = document.getElementById(id);
    if (v) v.onerror = null;
  }
  for (const p of Object.values(state.players)) { try { p.destroy ? p.destroy() : p.reset(); } catch (e) {} }
  state.players = {};
  state.tracks = {};
  clearInterval(state.watch);
}

// What plays: transcode's ladder once it is there, else the preview published ahead of it.
function sourceOf(r) {
  const from = (bucket, p) => ({ bucket, hls: p.hls, dash: p.dash, poster: p.poster, renditions: p.renditions || [] });
  if (r.package && r.package.hls) return { kind: "full", ...from("master.transcode", r.package) };
  if (r.preview && r.preview.hls) return { kind: "preview", ...from("master.preview", r.preview) };
  return null;
}

function renditionsText(src) {
  const list = src.renditions.map((x) => `${esc(x.name)} ${esc(x.width)}x${esc(x.height)} @ ${Math.round(x.bandwidth / 1000)} kb/s`).join(", ");
  return (src.kind === "preview" ? "Preview (the full ladder replaces it when it lands): " : "Renditions: ") + (list || "audio only");
}

// While the preview plays, look for the ladder; when it lands, switch both players to it
// where they were (playing on if they were playing).
function watchLadder(name) {
  state.watch = setInterval(async () => {
    const key = `${name}/package.json`;  // listed, not fetched: no 404 in the console while it is not there
    const listed = await fetch(`${state.gateway}/master.transcode?list-type=2&max-keys=1&prefix=${encodeURIComponent(key)}`)
      .then((r) => r.text()).catch(() => "");
    const keys = [...new DOMParser().parseFromString(listed, "text/xml").querySelectorAll("Contents > Key")];
    if (!keys.some((k) => k.textContent === key) || state.source !== "preview") return;
    const pkg = await fetchJson(url("master.transcode", key)).catch(() => null);
    if (!pkg || !pkg.hls) return;
    clearInterval(state.watch);
    const full = { kind: "full", bucket: "master.transcode", hls: pkg.hls.master, dash: pkg.dash.manifest,
                   poster: pkg.poster, renditions: pkg.renditions || [] };
    const at = {};
    for (const id of ["hls", "dash"]) {
      const v = document.getElementById(id);
      at[id] = { time: v.currentTime, playing: !v.paused };
    }
    state.switchedAt = { hls: at.hls.time, dash: at.dash.time };
    destroyPlayers();
    attachPlayers(full, at);
    document.getElementById("renditions").innerHTML = renditionsText(full);
  }, 2000);
}

async function show(r) {
  destroyPlayers();
  document.querySelectorAll("nav div").forEach((d) => d.classList.toggle("sel", d.dataset.name === r.name));
  const m = document.getElementById("detail");
  const scan = r.scan || {}, probe = r.probe || {}, src = sourceOf(r);
  let html = `<h2>${esc(r.name)} <span class="st ${esc(r.status)}">${esc(r.status)}</span></h2>
    <p id="verdict">Verdict: <b>${esc(scan.verdict || "-")}</b> ${esc(scan.signature || scan.reason || "")}
    ${probe.status === "rejected" ? `<br>Rejected: <b>${esc(probe.reason)}</b> — ${esc(probe.message)}` : ""}</p>`;
  if (r.package && r.package.images) {
    const im = r.package.images;
    html += `<h3>Image ${esc(im.width)}x${esc(im.height)}</h3>
      <img id="still" style="max-width:640px" src="${url("master.transcode", im.large.file)}" alt="${esc(r.name)}">
      <p>${Object.entries(im).filter(([, v]) => v && v.file).map(([k, v]) =>
        `<a href="${url("master.transcode", v.file)}">${esc(k)} ${esc(v.width)}x${esc(v.height)}</a>`).join(" · ")}
      ${r.package.exif && r.package.exif.gps_present ? " · GPS removed from every derivative" : ""}</p>`;
  } else if (src) {
    if (r.package && r.package.waveform) {
      html += `<h3>Waveform</h3><img id="waveform" style="width:640px" src="${url("master.transcode", r.package.waveform)}" alt="waveform">`;
    }
    const picker = (id) => `<div class="tracks"><label>Audio <select id="${id}-audio"></select></label>
      <label>Captions <select id="${id}-text"><option value="-1">off</option></select></label></div>`;
    html += `<div class="players">
      <div><h3>HLS (hls.js)</h3><video id="hls" controls muted playsinline></video>${picker("hls")}</div>
      <div><h3>DASH (dash.js)</h3><video id="dash" controls muted playsinline></video>${picker("dash")}</div></div>
      <p id="renditions">${renditionsText(src)}</p>`;
  }
  html += `<div id="scenes"></div><h3>Lineage</h3><pre id="lineage">${esc(lineageText(r.provenance))}</pre>`;
  m.innerHTML = html;
  if (src) attachPlayers(src);
  if (src && src.kind === "preview") watchLadder(r.name);
  if (r.labels) showScenes(r);
}

// The catalog record's provenance as lines a person reads: upload, job, input commits, records.
function lineageText(p) {
  if (!p) return "-";
  const lines = [];
  if (p.upload) lines.push(`upload ${p.upload.repo}:${p.upload.path}` + (p.upload.sha256 ? `  sha256:${p.upload.sha256}` : ""));
  if (p.job) lines.push(`catalog job ${typeof p.job === "string" ? p.job : JSON.stringify(p.job)}`);
  for (const [name, id] of Object.entries(p.commits || {})) lines.push(`input ${name}@${id || "-"}`);
  for (const s of p.records || []) lines.push(`record ${s.repo}:${s.path}` + (s.sha256 ? `  sha256:${s.sha256}` : ""));
  return lines.join("\n");
}

// The alternate audio and caption tracks a player found in its manifest, offered in its
// two <select>s. Track names and languages come from uploads: set as text, never as HTML.
function offerTracks(player, audio, text, onAudio, onText) {
  state.tracks[player] = { audio: audio.map(({ name, lang, selected }) => ({ name, lang, selected })),
                           text: text.map(({ name, lang }) => ({ name, lang })) };
  const fill = (select, items, keepFirst) => {
    while (select.options.length > keepFirst) select.remove(keepFirst);
    items.forEach((t, i) => select.add(new Option(t.lang ? `${t.name} (${t.lang})` : t.name, String(i), false, !!t.selected)));
  };
  const a = document.getElementById(`${player}-audio`), c = document.getElementById(`${player}-text`);
  fill(a, audio, 0);
  fill(c, text, 1);
  a.onchange = () => onAudio(Number(a.value));
  c.onchange = () => onText(Number(c.value));
}

function hlsTracks(hls) {
  offerTracks("hls",
    hls.audioTracks.map((t, i) => ({ name: t.name, lang: t.lang || "", selected: i === hls.audioTrack })),
    hls.subtitleTracks.map((t) => ({ name: t.name, lang: t.lang || "" })),
    (i) => { hls.audioTrack = i; },
    (i) => { hls.subtitleDisplay = i >= 0; hls.subtitleTrack = i; });
}

function dashTracks(dash) {
  // AAC and Opus of one track are two adaptation sets: offer each language/name once
  const seen = new Set(), audio = [];
  const current = dash.getCurrentTrackFor("audio");
  for (const t of dash.getTracksFor("audio")) {
    const name = (t.labels && t.labels[0] && t.labels[0].text) || t.lang || `audio ${audio.length + 1}`;
    if (seen.has(`${name}|${t.lang}`)) continue;
    seen.add(`${name}|${t.lang}`);
    audio.push({ name, lang: t.lang || "", info: t, selected: current?.lang === t.lang && current?.labels?.[0]?.text === name });
  }
  const text = dash.getTracksFor("text").map((t) => ({ name: (t.labels && t.labels[0] && t.labels[0].text) || t.lang || "captions", lang: t.lang || "" }));
  offerTracks("dash", audio, text, (i) => dash.setCurrentTrack(audio[i].info), (i) => dash.setTextTrack(i));
}

// `at`: where each player was when switching from the preview ({hls: {time, playing}, dash: ...}).
function attachPlayers(src, at = null) {
  state.source = src.kind;
  state.hlsUrl = url(src.bucket, src.hls);
  const hlsVideo = document.getElementById("hls"), dashVideo = document.getElementById("dash");
  const poster = src.poster ? url(src.bucket, src.poster) : "";
  hlsVideo.poster = dashVideo.poster = poster;
  const fail = (kind) => (e) => state.errors.push(`${kind}: ${e}`);
  if (window.Hls && Hls.isSupported()) {
    const hls = new Hls();
    hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) fail("hls")(d.details); });
    for (const ev of [Hls.Events.MANIFEST_PARSED, Hls.Events.AUDIO_TRACKS_UPDATED, Hls.Events.AUDIO_TRACK_SWITCHED,
                      Hls.Events.SUBTITLE_TRACKS_UPDATED]) {
      hls.on(ev, () => hlsTracks(hls));
    }
    hls.loadSource(url(src.bucket, src.hls));
    hls.attachMedia(hlsVideo);
    state.players.hls = hls;
    state.hlsEngine = "hls.js";
  } else if (hlsVideo.canPlayType("application/vnd.apple.mpegurl")) {
    hlsVideo.src = url(src.bucket, src.hls);
    state.hlsEngine = "native";
  } else fail("hls")("no HLS support");
  const dash = dashjs.MediaPlayer().create();
  dash.on(dashjs.MediaPlayer.events.ERROR, (e) => fail("dash")(JSON.stringify(e.error || e)));
  dash.on(dashjs.MediaPlayer.events.STREAM_INITIALIZED, () => dashTracks(dash));
  dash.initialize(dashVideo, url(src.bucket, src.dash), false);
  state.players.dash = dash;
  hlsVideo.onerror = () => fail("hls-video")(hlsVideo.error && hlsVideo.error.message);
  dashVideo.onerror = () => fail("dash-video")(dashVideo.error && dashVideo.error.message);
  if (at) {
    for (const [id, v] of [["hls", hlsVideo], ["dash", dashVideo]]) {
      v.addEventListener("loadedmetadata", () => {
        v.currentTime = at[id].time;
        if (at[id].playing) v.play().catch(fail(`${id}-play`));
      }, { once: true });
    }
    state.switches = (state.switches || 0) + 1;
    return;
  }
  const play = new URLSearchParams(location.search).get("play");
  if (play === "hls" || play === "both") hlsVideo.play().catch(fail("hls-play"));
  if (play === "dash" || play === "both") dashVideo.play().catch(fail("dash-play"));
}

async function showScenes(r) {
  const box = document.getElementById("scenes");
  try {
    const labels = await (await fetch(url("master.labels", r.labels.path))).json();
    const s = labels.summary || {};
    box.innerHTML = `<h3>Scenes (${labels.scenes.length}) — ${esc((s.labels || []).join(", "))}</h3>
      <div class="scenes">${labels.scenes.map((sc) => `<div class="scene">
        <img src="${url("master.labels", sc.keyframe)}" alt="scene ${sc.index}">
        ${sc.start.toFixed(1)}–${sc.end.toFixed(1)} s · ${sc.faces.count} face(s) · ${esc(sc.light)}
        <span style="display:inline-block;width:10px;height:10px;background:${esc(sc.colors[0] && sc.colors[0].hex)}"></span>
        </div>`).join("")}</div>
      ${labels.audio && labels.audio.loudness ? `<p>Loudness ${labels.audio.loudness.integrated_lufs} LUFS, ${labels.audio.silences.length} silence(s)</p>` : ""}`;
  } catch (e) { state.errors.push("labels: " + e); }
}

loadCatalog().catch((e) => { state.errors.push("catalog: " + e); document.getElementById("assets").innerHTML = `<div class="err">${esc(e)}</div>`; });
