// Package metrics exposes what a veche relay does in the Prometheus text
// format: Prometheus implements server.Metrics (the engine's hooks) and
// api.Metrics (requests and refused credentials), watches the store's
// counters, and adds the Go runtime's and the process's own metrics. Its
// Handler serves them; veche serve mounts it on --metrics-addr, or on the
// main listener behind the operator token.
//
// Every label value comes from a small fixed set — principal kinds,
// protocol message types (anything else counts as "other"), refusal
// reasons, route patterns — so no peer can grow the metrics without bound,
// and no token, id or document content is ever a label.
//
// Names follow Prometheus conventions: a veche_ prefix, base units
// (seconds, bytes), _total on counters. All state lives in the
// client_golang collectors, which are safe for concurrent use; the hooks
// take no lock of their own.
package metrics
