// Package telemetry emits wfpsandbox's opt-in OpenTelemetry metrics.
//
// Metrics are off unless the caller enables them (the CLI's --analytics flag, the
// WFPSANDBOX_ANALYTICS environment variable or "analytics = true" in config.toml). When
// off, nothing is created and no connection is ever attempted. When on, metrics are
// sent once, at Close, with the OTLP/HTTP exporter configured by the standard
// OTEL_EXPORTER_OTLP_* environment variables (endpoint, headers, TLS, timeout).
//
// Instruments (names are stable; dashboards depend on them):
//
//	wfpsandbox.setup.wfp.success  counter    account, filter.count, profile, setup.version
//	wfpsandbox.setup.wfp.failure  counter    account, error.message (sanitized), setup.version
//	wfpsandbox.setup.duration     histogram  seconds; profile, setup.version, outcome
//	wfpsandbox.policy.repaired    counter    account, change (the service's repairs)
//	wfpsandbox.drops              counter    account, rule, layer, direction (the service's
//	                                         drop metrics, [service] drop_metrics; see Drop)
//
// Emission is bounded: Close gives flush and shutdown a short total budget (2 s by
// default), so a dead or slow collector never delays setup by more than that, and a
// failure to export is returned for the caller to log, never to act on.
package telemetry
