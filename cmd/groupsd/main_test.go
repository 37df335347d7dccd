package main

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
)

// TestMainRunClose: Run returns once the server answers on the bound
// address, Close drains it and closes the database, a second Close
// repeats the result, and Close of a Main that never ran is a no-op.
func TestMainRunClose(t *testing.T) {
	if err := NewMain(testConfig(t)).Close(); err != nil {
		t.Errorf("Close before Run: %v", err)
	}
	p := startServer(t, testConfig(t))
	if resp, b := opsDo(t, "GET", p.URL+"/readyz", ""); resp.StatusCode != 200 {
		t.Fatalf("readyz right after Run: %d %s", resp.StatusCode, b)
	}
	p.Stop(t)
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := net.Dial("tcp", p.Addr); !opsRefused(err) {
		t.Errorf("dial after Close: %v, want refused", err)
	}
	var stopped bool
	for _, m := range opsLogLines(t, p.Logs) {
		stopped = stopped || m["msg"] == "stopped"
	}
	if !stopped {
		t.Errorf("no stopped line:\n%s", p.Logs.String())
	}
}

// TestMainRunFails: a Config that the flags would refuse is a usage error,
// and a failure after the database opened (the address is taken) leaves
// nothing running.
func TestMainRunFails(t *testing.T) {
	for _, mutate := range []func(*Config){
		func(c *Config) { c.Auth = "maybe" },
		func(c *Config) { c.LogFormat = "xml" },
		func(c *Config) { c.LogLevel = "loud" },
		func(c *Config) { c.Database = "mysql://db" },
	} {
		c := testConfig(t)
		mutate(&c)
		var ue usageError
		if err := NewMain(c).Run(context.Background()); !errors.As(err, &ue) {
			t.Errorf("Run(%+v): %v, want a usage error", c, err)
		}
	}

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	c := testConfig(t)
	c.Addr = taken.Addr().String()
	m := NewMain(c)
	m.LogOutput = &syncBuffer{}
	if err := m.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("Run on a taken address: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close after a failed Run: %v", err)
	}
	// Nothing holds the database: the next server starts on the same file.
	c.Addr = "127.0.0.1:0"
	startServer(t, c).Stop(t)
}
