package app

import (
	"net/http"
	"time"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/api/admin"
	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/traffic"
	"github.com/bulwark-ai/bulwark/ui"
	"github.com/bulwark-ai/bulwark/usage"
)

// The admin console (package ui) at /ui/ and the traffic it charts
// (package traffic): the recorder is fed by the metrics' tap (every client
// request) and by the usage records the gateway writes (their cost), and
// served at GET /admin/v1/traffic. It is this replica's traffic only.

// trafficTee records a usage record's cost in the traffic recorder, then
// passes the record on.
type trafficTee struct {
	next gateway.UsageSink
	rec  *traffic.Recorder
}

func (t trafficTee) Add(r usage.Record) {
	t.rec.Usage(r)
	t.next.Add(r)
}

// watchTraffic starts recording traffic and returns the usage sink that
// feeds it the cost of every request, around next.
func (a *App) watchTraffic(next gateway.UsageSink) gateway.UsageSink {
	a.traffic = traffic.New(nil)
	a.obs.metrics.SetTap(a.traffic)
	return trafficTee{next: next, rec: a.traffic}
}

// uiRoutes adds the traffic API to the admin routes and returns the
// console's handler, a public route: its assets carry no data (every
// figure it shows is fetched from the admin API with the admin key), so
// they need no key.
func (a *App) uiRoutes(adm map[string]api.AuthedHandler) http.HandlerFunc {
	for p, h := range admin.NewTraffic(func(d time.Duration) any { return a.traffic.Query(d) }).Routes() {
		adm[p] = h
	}
	return ui.Handler().ServeHTTP
}
