package telemetry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
)

// Instrument names.
const (
	MetricWFPSuccess    = "wfpsandbox.setup.wfp.success"
	MetricWFPFailure    = "wfpsandbox.setup.wfp.failure"
	MetricSetupDuration = "wfpsandbox.setup.duration"
	// MetricPolicyRepaired counts repairs made by the wfpsandbox service.
	MetricPolicyRepaired = "wfpsandbox.policy.repaired"
	// MetricDrops counts connection attempts of sandbox accounts that WFP dropped, as
	// the wfpsandbox service saw them in the net event log (see Drop).
	MetricDrops = "wfpsandbox.drops"
)

// Attribute keys.
const (
	AttrAccount      = "account"
	AttrFilterCount  = "filter.count"
	AttrProfile      = "profile"
	AttrSetupVersion = "setup.version"
	AttrErrorMessage = "error.message"
	AttrOutcome      = "outcome"
	// AttrChange is what a repair changed: the sorted, distinct "op:kind:reason"
	// of its changes, e.g. "add:filter:missing".
	AttrChange = "change"
	// AttrRule is the wfpsandbox rule whose filter dropped a connection attempt
	// ("dns-v4", "strict-block-connect-v6", "file-ssh-v4"), or RuleOther.
	AttrRule = "rule"
	// AttrLayer is the WFP layer of a drop (ALE_AUTH_CONNECT_V4), or Unknown.
	AttrLayer = "layer"
	// AttrDirection is the direction of a drop: out, in, forward, or Unknown.
	AttrDirection = "direction"
)

// Values of the drop attributes that are not taken from the event.
const (
	// RuleOther is the rule of a sandbox account's drop that no wfpsandbox rule made:
	// another provider's filter, or a filter that no longer existed when it was
	// looked up (WFP does not say whose it was).
	RuleOther = "other"
	// Unknown stands for a layer or direction the event did not carry or that could
	// not be decoded, and for an attribute value that failed sanitization.
	Unknown = "unknown"
)

// DefaultTimeout is the total time Close gives flush and shutdown.
const DefaultTimeout = 2 * time.Second

// instrumentationScope names the meter.
const instrumentationScope = "github.com/wfpsandbox/wfpsandbox/telemetry"

// Config configures Start.
type Config struct {
	// Enabled turns metrics on. When false, Start returns a Metrics whose methods do
	// nothing and no exporter, goroutine or connection is created.
	Enabled bool
	// ServiceVersion is the tool version, recorded as the service.version resource
	// attribute.
	ServiceVersion string
	// Timeout bounds Close (flush and shutdown together); DefaultTimeout when zero.
	Timeout time.Duration
	// ExportInterval is how often recorded metrics are sent (besides at Close); 24 h
	// when zero, so a short setup run sends at Close only. A long-running service sets it.
	ExportInterval time.Duration
	// ExporterOptions are appended to the defaults (tests point the exporter at a
	// local receiver with them; production relies on OTEL_EXPORTER_OTLP_*).
	ExporterOptions []otlpmetrichttp.Option
}

// Metrics records setup metrics. The zero value and a nil *Metrics are valid and
// record nothing.
type Metrics struct {
	provider *sdkmetric.MeterProvider
	timeout  time.Duration
	success  metric.Int64Counter
	failure  metric.Int64Counter
	duration metric.Float64Histogram
	repaired metric.Int64Counter
	drops    metric.Int64Counter
}

// Start returns a Metrics recorder. When cfg.Enabled is false it returns a no-op
// recorder. Start itself never connects anywhere: data is sent at Close.
func Start(ctx context.Context, cfg Config) (*Metrics, error) {
	if !cfg.Enabled {
		return &Metrics{}, nil
	}
	opts := append([]otlpmetrichttp.Option{
		// One attempt: a retry would be cut by Close's budget anyway.
		otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false}),
	}, cfg.ExporterOptions...)
	exp, err := otlpmetrichttp.New(ctx, opts...)
	if err != nil {
		return &Metrics{}, fmt.Errorf("telemetry: OTLP/HTTP metric exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithFromEnv(),
		resource.WithAttributes(
			attribute.String("service.name", "wfpsandbox"),
			attribute.String("service.version", cfg.ServiceVersion),
		))
	if err != nil && res == nil {
		// resource.New returns a usable resource alongside partial errors.
		res = resource.Empty()
	}
	interval := cfg.ExportInterval
	if interval <= 0 {
		// Export only at shutdown: a setup run is short, and Close flushes.
		interval = 24 * time.Hour
	}
	provider := sdkmetric.NewMeterProvider(
		sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(interval))),
	)
	m := &Metrics{provider: provider, timeout: cfg.Timeout}
	if m.timeout <= 0 {
		m.timeout = DefaultTimeout
	}
	meter := provider.Meter(instrumentationScope)
	var errs []error
	m.success, err = meter.Int64Counter(MetricWFPSuccess,
		metric.WithDescription("WFP policy installs that succeeded during setup"), metric.WithUnit("{install}"))
	errs = append(errs, err)
	m.failure, err = meter.Int64Counter(MetricWFPFailure,
		metric.WithDescription("WFP policy installs that failed during setup"), metric.WithUnit("{install}"))
	errs = append(errs, err)
	m.duration, err = meter.Float64Histogram(MetricSetupDuration,
		metric.WithDescription("Duration of a full setup run"), metric.WithUnit("s"))
	errs = append(errs, err)
	m.repaired, err = meter.Int64Counter(MetricPolicyRepaired,
		metric.WithDescription("Policy repairs made by the wfpsandbox service"), metric.WithUnit("{repair}"))
	errs = append(errs, err)
	m.drops, err = meter.Int64Counter(MetricDrops,
		metric.WithDescription("Connection attempts of sandbox accounts dropped by WFP, per wfpsandbox rule"), metric.WithUnit("{drop}"))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		_ = provider.Shutdown(ctx)
		return &Metrics{}, fmt.Errorf("telemetry: instruments: %w", err)
	}
	return m, nil
}

// Enabled reports whether the recorder sends anything.
func (m *Metrics) Enabled() bool { return m != nil && m.provider != nil }

// Success describes a successful WFP install.
type Success struct {
	Account      string // the target account, DOMAIN\name
	Filters      int    // filters installed (the plan's filter count)
	Profile      string // the policy profile
	SetupVersion int
}

// WFPSuccess counts a successful WFP install.
func (m *Metrics) WFPSuccess(ctx context.Context, s Success) {
	if !m.Enabled() {
		return
	}
	m.success.Add(ctx, 1, metric.WithAttributes(
		attribute.String(AttrAccount, s.Account),
		attribute.Int(AttrFilterCount, s.Filters),
		attribute.String(AttrProfile, s.Profile),
		attribute.Int(AttrSetupVersion, s.SetupVersion),
	))
}

// WFPFailure counts a failed WFP install. The error message is sanitized with
// SanitizeError before it leaves the process.
func (m *Metrics) WFPFailure(ctx context.Context, account string, setupVersion int, err error) {
	if !m.Enabled() {
		return
	}
	msg := "unknown error"
	if err != nil {
		msg = err.Error()
	}
	m.failure.Add(ctx, 1, metric.WithAttributes(
		attribute.String(AttrAccount, account),
		attribute.String(AttrErrorMessage, SanitizeError(msg)),
		attribute.Int(AttrSetupVersion, setupVersion),
	))
}

// SetupDuration records how long a setup run took; outcome is "ok", "wfp-failed"
// or "error".
func (m *Metrics) SetupDuration(ctx context.Context, d time.Duration, profile string, setupVersion int, outcome string) {
	if !m.Enabled() {
		return
	}
	m.duration.Record(ctx, d.Seconds(), metric.WithAttributes(
		attribute.String(AttrProfile, profile),
		attribute.Int(AttrSetupVersion, setupVersion),
		attribute.String(AttrOutcome, outcome),
	))
}

// PolicyRepaired counts one repair of account's policy by the service; change is
// what it changed (AttrChange).
func (m *Metrics) PolicyRepaired(ctx context.Context, account, change string) {
	if !m.Enabled() {
		return
	}
	m.repaired.Add(ctx, 1, metric.WithAttributes(
		attribute.String(AttrAccount, account),
		attribute.String(AttrChange, change),
	))
}

// Drop describes one drop of a sandbox account's connection attempt. Every value is
// sanitized by Drops before it is recorded, so the counter's cardinality stays bounded
// by the recorded accounts and their plans' rules: a rule that is not a wfpsandbox
// rule ID, a layer that is not an SDK layer name and a direction other than out, in
// and forward become Unknown.
type Drop struct {
	Account   string // the sandbox account, DOMAIN\name (or its SID)
	Rule      string // the wfpsandbox rule ID, or RuleOther
	Layer     string // the layer name without the FWPS_LAYER_ prefix (ALE_AUTH_CONNECT_V4), "" if unknown
	Direction string // out, in, forward, "" if unknown
}

// Drops counts n drops described by d.
func (m *Metrics) Drops(ctx context.Context, d Drop, n int64) {
	if !m.Enabled() || n <= 0 {
		return
	}
	m.drops.Add(ctx, n, metric.WithAttributes(
		attribute.String(AttrAccount, SanitizeAccount(d.Account)),
		attribute.String(AttrRule, sanitizeRule(d.Rule)),
		attribute.String(AttrLayer, sanitizeLayer(d.Layer)),
		attribute.String(AttrDirection, sanitizeDirection(d.Direction)),
	))
}

// Close sends what was recorded and shuts the exporter down, within the configured
// timeout whatever ctx allows. The error, if any, is for logging only.
func (m *Metrics) Close(ctx context.Context) error {
	if !m.Enabled() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- m.provider.Shutdown(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("telemetry: export to the OTLP collector: %w", err)
		}
		return nil
	case <-ctx.Done():
		// Shutdown should have returned by now; do not wait for a stuck exporter.
		return fmt.Errorf("telemetry: export to the OTLP collector: gave up after %s: %w", m.timeout, ctx.Err())
	}
}
