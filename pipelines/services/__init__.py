"""Services the embedded engine runs for the stages (on a cluster they are Kubernetes Services)."""
