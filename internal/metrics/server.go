package metrics

import (
	"context"
	"errors"
	"html/template"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry with c and the standard process and Go
// runtime collectors (process_*, go_*).
func NewRegistry(c prometheus.Collector) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	for _, col := range []prometheus.Collector{
		c,
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
	} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

var indexPage = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>bpftrail metrics</title></head>
<body>
<h1>bpftrail metrics</h1>
<p><a href="/metrics">/metrics</a></p>
<ul>
{{range .}}<li><code>{{.FullName}}</code> ({{.Type}}){{if .Help}}: {{.Help}}{{end}}</li>
{{end}}</ul>
</body></html>
`))

// Handler serves the metrics of g at /metrics and an index page listing
// cfg's metrics at /. Errors of a scrape are logged to errLog (if not nil)
// and the metrics that could be read are served anyway.
func Handler(g prometheus.Gatherer, cfg *Config, errLog *log.Logger) http.Handler {
	mux := http.NewServeMux()
	opts := promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}
	if errLog != nil {
		opts.ErrorLog = errLog
	}
	mux.Handle("/metrics", promhttp.HandlerFor(g, opts))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = indexPage.Execute(w, cfg.Metrics)
	})
	return mux
}

// Serve serves h on ln until ctx is done, then shuts the server down,
// letting running scrapes finish for up to five seconds.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-done; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
