package apiwire

// Results are a metric's operations (count) and bytes (size). N is how a
// side holds the values: the server writes counts as int64 and rates as
// strings with two decimals, as upstream does; the client reads either
// into one type that takes both.
type Results[N any] struct {
	Count N `json:"count"`
	Size  N `json:"size"`
}

// Metric is one metric with its description.
type Metric[N any] struct {
	Description string     `json:"description"`
	Results     Results[N] `json:"results"`
	// WindowSeconds is the window the metric counts over, in seconds, so
	// that clients need not read it from the description (this service's
	// addition to upstream's shape). Absent for the metrics that count
	// what is pending now (backlog, pending).
	WindowSeconds int64 `json:"windowSeconds,omitempty"`
}

// SiteMetrics are the metrics of a site (or of all sites), in upstream's
// order; a metric not asked for is nil. C is the value type of the counts,
// R that of the throughput.
type SiteMetrics[C, R any] struct {
	Backlog     *Metric[C] `json:"backlog,omitempty"`
	Completions *Metric[C] `json:"completions,omitempty"`
	Failures    *Metric[C] `json:"failures,omitempty"`
	Throughput  *Metric[R] `json:"throughput,omitempty"`
	Pending     *Metric[C] `json:"pending,omitempty"`
}

// ObjectProgress is the replication progress of one version to one site
// (GET /_/metrics/crr/<site>/progress/<bucket>/<key>).
type ObjectProgress struct {
	Description string `json:"description"`
	Pending     int64  `json:"pending"`
	Completed   int64  `json:"completed"`
	Progress    string `json:"progress"`
}

// ObjectThroughput is the replication throughput of one version to one
// site, in bytes per second
// (GET /_/metrics/crr/<site>/throughput/<bucket>/<key>).
type ObjectThroughput struct {
	Description string `json:"description"`
	Throughput  string `json:"throughput"`
}
