package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/bpftrail/bpftrail/internal/web"
)

func newView() *cobra.Command {
	var listen string
	var public bool
	c := &cobra.Command{
		Use:   "view DIR",
		Short: "See a trace in the browser: timeline, events, histograms, flame graph",
		Long: `view serves a viewer of the trace in DIR on a local web server and prints its
URL; open it in a browser. It shows a zoomable timeline with one row per CPU
(which thread ran, from sched_switch) and per thread (when it ran, its
syscalls from entry/exit pairs, its other events as markers), a searchable
event table, histograms of syscall latencies (and of DIR/bpftrail/
aggregates.jsonl from "record --aggregate"), and a flame graph of the stacks
of "bpftrail profile" samples.

The trace is read once for the view data and the analyses of "bpftrail
analyze", kept in DIR/bpftrail/view-data.json and analysis.json (CTF readers
ignore the sub-directory); they are made again when the trace changes. A
trace directory that cannot be written is viewed from a temporary file.
The server binds to loopback; it refuses an address other machines can reach
unless --public is given. It serves only this trace and stops on Ctrl-C.`,
		Example: `  bpftrail view trace
  bpftrail view --listen 127.0.0.1:8080 trace`,
		Args: exactArgs(1, "a trace directory"),
		RunE: func(c *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runView(ctx, args[0], listen, public, func(url string) {
				fmt.Fprintf(os.Stderr, "bpftrail: viewing %s at %s (Ctrl-C to stop)\n", args[0], url)
			})
		},
	}
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "address to serve on (port 0: any free port)")
	c.Flags().BoolVar(&public, "public", false, "allow --listen on an address other machines can reach (the trace is served without authentication)")
	return c
}

// runView serves the viewer of dir on listen until ctx ends; ready gets the
// URL once the server listens.
func runView(ctx context.Context, dir, listen string, public bool, ready func(url string)) error {
	if err := checkListen(listen, public); err != nil {
		return err
	}
	if _, err := openTrace(dir); err != nil {
		return err
	}
	start := time.Now()
	h, remove, err := web.NewHandler(dir, web.Options{})
	if err != nil {
		return err
	}
	if remove != "" {
		defer os.Remove(remove)
	}
	if d := time.Since(start); d > time.Second {
		fmt.Fprintf(os.Stderr, "bpftrail: view data ready in %s (%s)\n", d.Round(time.Millisecond), h.DataPath())
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	addr := ln.Addr().(*net.TCPAddr)
	var handler http.Handler = h
	host := addr.IP.String()
	if addr.IP.IsLoopback() {
		handler = web.LoopbackHosts(h)
	} else {
		fmt.Fprintf(os.Stderr, "bpftrail: warning: %s is reachable from other machines; the trace is served without authentication\n", addr)
		if addr.IP.IsUnspecified() {
			host = "127.0.0.1"
		}
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	url := "http://" + net.JoinHostPort(host, fmt.Sprint(addr.Port)) + "/"
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	ready(url)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// checkListen refuses a listen address that is not loopback unless public
// is set.
func checkListen(listen string, public bool) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", listen, err)
	}
	if public {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--listen %s is not a loopback address: the trace would be served without authentication to other machines; add --public to do so anyway", listen)
}
