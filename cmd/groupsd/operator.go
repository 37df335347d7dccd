package main

// The operator's side of serve: TLS with a certificate reloaded on SIGHUP,
// the admin listener (metrics, probes, pprof), and the proxies whose
// X-Forwarded-For the access log believes. docs/operating.md describes them.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof" //nolint:gosec // G108: pprof registers on http.DefaultServeMux, which groupsd never serves; its handlers are mounted on the admin listener only
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/groupsd/groupsd/server/metrics"
)

// registerOperator defines the TLS, admin and proxy flags of serve.
func (c *Config) registerOperator(f *flags) {
	f.String(&c.TLSCertFile, "tls-cert-file", "PEM certificate chain: with --tls-key-file, serve HTTPS (HTTP/2 included) instead of HTTP; SIGHUP rereads both files", "GROUPS_TLS_CERT_FILE")
	f.String(&c.TLSKeyFile, "tls-key-file", "PEM private key of --tls-cert-file", "GROUPS_TLS_KEY_FILE")
	f.String(&c.AdminAddr, "admin-addr", "admin listen address, HOST:PORT, for /metrics, /healthz, /readyz and /debug/pprof/ (off when empty; when set, /metrics leaves --addr)", "GROUPS_ADMIN_ADDR")
	f.define((*prefixesValue)(&c.TrustedProxies), "trusted-proxies", "comma-separated CIDRs of proxies whose X-Forwarded-For names the client in access logs, such as 10.0.0.0/8,fd00::/8 (none when empty)", "GROUPS_TRUSTED_PROXIES")
}

// validateOperator checks the operator settings of a Config built in code.
func (c Config) validateOperator() error {
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return usageError{"--tls-cert-file and --tls-key-file (env GROUPS_TLS_CERT_FILE, GROUPS_TLS_KEY_FILE) go together: set both, for example --tls-cert-file cert.pem --tls-key-file key.pem, or neither"}
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			return usageError{"--trusted-proxies (env GROUPS_TRUSTED_PROXIES): an invalid prefix; want CIDRs such as 10.0.0.0/8,fd00::/8"}
		}
	}
	return nil
}

// prefixesValue is a comma-separated list of CIDRs; a bare address is a
// prefix of one address.
type prefixesValue []netip.Prefix

func (p *prefixesValue) Set(v string) error {
	var out []netip.Prefix
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return fmt.Errorf("%q is not a CIDR: want CIDRs such as 10.0.0.0/8,fd00::/8", s)
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, pfx.Masked())
	}
	*p = out
	return nil
}

func (p *prefixesValue) String() string {
	if p == nil {
		return ""
	}
	s := make([]string, len(*p))
	for i, x := range *p {
		s[i] = x.String()
	}
	return strings.Join(s, ",")
}

func (p *prefixesValue) kind() string { return "cidrs" }

// certificate holds the serving certificate and swaps it on Reload. A
// handshake picks up whatever is current, so a reload reaches new
// connections while established ones keep theirs and are never dropped.
type certificate struct {
	certFile, keyFile string
	current           atomic.Pointer[tls.Certificate]
}

func loadCertificate(certFile, keyFile string) (*certificate, error) {
	c := &certificate{certFile: certFile, keyFile: keyFile}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the files again. On an error the old certificate stays.
func (c *certificate) Reload() error {
	kp, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate (--tls-cert-file %s, --tls-key-file %s): %w", c.certFile, c.keyFile, err)
	}
	c.current.Store(&kp)
	return nil
}

func (c *certificate) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.current.Load(), nil
}

// tlsConfig serves the certificate; http.Server.ServeTLS adds HTTP/2 (h2)
// to its protocols.
func (c *certificate) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.get}
}

// Reload rereads the TLS certificate, which main does on SIGHUP. Without
// TLS there is nothing to reload and it returns nil.
func (m *Main) Reload() error {
	if m.ops.cert == nil {
		if m.log != nil {
			m.log.Info("reload: nothing to reload (no --tls-cert-file)")
		}
		return nil
	}
	if err := m.ops.cert.Reload(); err != nil {
		m.log.Error("reload failed; serving the previous certificate", slog.String("error", err.Error()))
		return err
	}
	m.log.Info("reloaded the TLS certificate", slog.String("cert_file", m.ops.cert.certFile))
	return nil
}

// operator is the part of Main this file runs.
type operator struct {
	cert    *certificate // nil without TLS
	admin   *http.Server // nil without --admin-addr
	adminLn net.Listener
	adminCh chan error // the admin server's Serve result
}

// AdminAddr is the address the admin listener is bound to; empty when
// there is none.
func (m *Main) AdminAddr() string {
	if m.ops.adminLn == nil {
		return ""
	}
	return m.ops.adminLn.Addr().String()
}

// adminHandler serves the admin listener: the metrics, the probes (answered
// by the API server's own handlers, so both ports agree) and pprof.
func adminHandler(met *metrics.Metrics, api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+metrics.Path, met.Handler())
	mux.Handle("GET /healthz", api)
	mux.Handle("GET /readyz", api)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// startAdmin listens on cfg.AdminAddr and serves h there. Its server has
// no write timeout: a CPU profile or trace streams for as long as asked.
func (m *Main) startAdmin(addr string, h http.Handler, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on --admin-addr %s: %w", addr, err)
	}
	m.ops.adminLn = ln
	m.ops.admin = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	m.ops.adminCh = make(chan error, 1)
	go func() { m.ops.adminCh <- m.ops.admin.Serve(ln) }()
	log.Info("admin listener", slog.String("url", "http://"+ln.Addr().String()),
		slog.String("paths", metrics.Path+" /healthz /readyz /debug/pprof/"))
	return nil
}

// closeAdmin stops the admin listener, after the API server drained (so a
// probe on it sees /readyz fail while the API drains). Profiles in progress
// are cut off.
func (m *Main) closeAdmin() {
	if m.ops.admin == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := m.ops.admin.Shutdown(ctx); err != nil {
		_ = m.ops.admin.Close()
	}
	if err := <-m.ops.adminCh; err != nil && !errors.Is(err, http.ErrServerClosed) {
		m.log.Warn("admin listener", slog.String("error", err.Error()))
	}
}
