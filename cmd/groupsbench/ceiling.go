package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
)

// ceilingFlag re-executes groupsbench as the ceiling server.
const ceilingFlag = "-ceiling-server"

// ceilingGroup is the static body of the ceiling: a Group as groupsd
// renders one.
const ceilingGroup = `{"createdAt":"2026-11-26T09:15:02.120Z","description":null,"name":"Team Payments Berlin 4711","updatedAt":"2026-11-26T09:15:02.120Z","uuid":"019ac1f2-3c4d-7e5f-8a6b-7c8d9e0f1a2b"}` + "\n"

// serveCeiling serves the ceiling on addr until killed: a bare Echo handler
// with a static Group, the least any HTTP server on this machine can do
// for a get.
func serveCeiling(addr string) error {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	body := []byte(ceilingGroup)
	e.GET("/api/v2/groups/:uuid", func(c echo.Context) error {
		c.Response().Header().Set("ETag", `"1"`)
		return c.JSONBlob(http.StatusOK, body)
	})
	return e.Start(addr)
}

// runCeiling measures the get workload's client against the ceiling
// server, in a process of its own like groupsd.
func runCeiling(ctx context.Context, cfg Config, c *http.Client, p *progress) (result, error) {
	self, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	addr, err := freeAddr()
	if err != nil {
		return result{}, err
	}
	cmd := exec.Command(self, ceilingFlag, addr)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited: //nolint:errcheck // stopping it is all that matters here
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited //nolint:errcheck // killed: the exit status says nothing more
		}
	}()
	e := &env{base: "http://" + addr, key: "ceiling", groups: 1000, pid: cmd.Process.Pid}
	for i := range e.groups {
		e.ids = append(e.ids, [16]byte{byte(i >> 8), byte(i)})
	}
	if err := waitReady(ctx, c, e.base+"/api/v2/groups/"+e.ids[0].String(), exited); err != nil {
		return result{}, fmt.Errorf("ceiling server: %w", err)
	}
	return load(ctx, cfg, c, p, "-", "ceiling", e, opGet)
}
