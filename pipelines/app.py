"""pachmedia's own DAG, as data the engine and the cluster deploy both read: its input repos
and the settings files committed on a fresh home (the pipelines themselves are specs/)."""

INPUT_REPOS = {"media": "raw uploads (one file per asset, flat names)",
               "settings": "scan.json, policy.json, preview.json, transcode.json, labels.json"}
FLAT_REPOS = {"media"}  # repos whose paths are upload names (checked as such at put)
SETTINGS_FILES = ("scan", "policy", "preview", "transcode", "labels")
# The version of pachmedia's DAG a home holds; a home records the version it was made or last
# upgraded to, and pipelines/upgrade.py brings an older one up to date when it is opened.
# 1: the preview pipeline and settings/preview.json (homes from before it recorded none: 0).
DAG_VERSION = 1
