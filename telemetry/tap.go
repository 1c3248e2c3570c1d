package telemetry

// Tap receives a copy of every client request Metrics records: the admin
// console's live traffic (package traffic) is fed from it. Its alias is the
// bounded label value the metrics use (an alias the routing table does not
// know is Other), so a client cannot grow what the tap keeps. Request is
// called on the request path: it must be cheap, must not block and must be
// safe for concurrent use.
type Tap interface {
	Request(RequestRecord)
}

// SetTap sets the tap RecordRequest feeds; nil feeds none. Call it once,
// before the first request is recorded.
func (m *Metrics) SetTap(t Tap) {
	if m != nil {
		m.tap = t
	}
}
