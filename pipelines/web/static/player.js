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

async function loadCatalog() {
  state.gateway = (await (await fetch("/config.json")).json()).gateway;
  const keys = await listKeys("master.catalog");
  const recs = await Promise.all(keys.map(async (k) => (await fetch(url("master.catalog", k))).json()));
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
  for (const p of Object.values(state.players)) { try { p.destroy ? p.destroy() : p.reset(); } catch (e) {} }
  state.players = {};
  state.tracks = {};
}

async function show(r) {
  destroyPlayers();
  document.querySelectorAll("nav div").forEach((d) => d.classList.toggle("sel", d.dataset.name === r.name));
  const m = document.getElementById("detail");
  const scan = r.scan || {}, probe = r.probe || {};
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
  } else if (r.package) {
    if (r.package.waveform) {
      html += `<h3>Waveform</h3><img id="waveform" style="width:640px" src="${url("master.transcode", r.package.waveform)}" alt="waveform">`;
    }
    const picker = (id) => `<div class="tracks"><label>Audio <select id="${id}-audio"></select></label>
      <label>Captions <select id="${id}-text"><option value="-1">off</option></select></label></div>`;
    html += `<div class="players">
      <div><h3>HLS (hls.js)</h3><video id="hls" controls muted playsinline></video>${picker("hls")}</div>
      <div><h3>DASH (dash.js)</h3><video id="dash" controls muted playsinline></video>${picker("dash")}</div></div>
      <p>Renditions: ${r.package.renditions.map((x) => `${esc(x.name)} ${esc(x.width)}x${esc(x.height)} @ ${Math.round(x.bandwidth / 1000)} kb/s`).join(", ") || "audio only"}</p>`;
  }
  html += `<div id="scenes"></div><h3>Lineage</h3><pre id="lineage">${esc(lineageText(r.provenance))}</pre>`;
  m.innerHTML = html;
  if (r.package && r.package.hls) attachPlayers(r);
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

function attachPlayers(r) {
  const hlsVideo = document.getElementById("hls"), dashVideo = document.getElementById("dash");
  const poster = r.package.poster ? url("master.transcode", r.package.poster) : "";
  hlsVideo.poster = dashVideo.poster = poster;
  const fail = (kind) => (e) => state.errors.push(`${kind}: ${e}`);
  if (window.Hls && Hls.isSupported()) {
    const hls = new Hls();
    hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) fail("hls")(d.details); });
    for (const ev of [Hls.Events.MANIFEST_PARSED, Hls.Events.AUDIO_TRACKS_UPDATED, Hls.Events.AUDIO_TRACK_SWITCHED,
                      Hls.Events.SUBTITLE_TRACKS_UPDATED]) {
      hls.on(ev, () => hlsTracks(hls));
    }
    hls.loadSource(url("master.transcode", r.package.hls));
    hls.attachMedia(hlsVideo);
    state.players.hls = hls;
    state.hlsEngine = "hls.js";
  } else if (hlsVideo.canPlayType("application/vnd.apple.mpegurl")) {
    hlsVideo.src = url("master.transcode", r.package.hls);
    state.hlsEngine = "native";
  } else fail("hls")("no HLS support");
  const dash = dashjs.MediaPlayer().create();
  dash.on(dashjs.MediaPlayer.events.ERROR, (e) => fail("dash")(JSON.stringify(e.error || e)));
  dash.on(dashjs.MediaPlayer.events.STREAM_INITIALIZED, () => dashTracks(dash));
  dash.initialize(dashVideo, url("master.transcode", r.package.dash), false);
  state.players.dash = dash;
  hlsVideo.onerror = () => fail("hls-video")(hlsVideo.error && hlsVideo.error.message);
  dashVideo.onerror = () => fail("dash-video")(dashVideo.error && dashVideo.error.message);
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
