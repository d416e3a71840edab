"""The playback page: asset list from the catalog, HLS (hls.js) and DASH (dash.js)
players, scenes with keyframes and labels, verdicts and lineage, all read from the
S3 gateway by the browser."""
