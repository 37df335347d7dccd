package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/groupsd/groupsd/server/apitest"
)

// testCert writes a new self-signed certificate for 127.0.0.1 (serial
// number serial) to certFile and keyFile and returns it for a client's
// trust pool.
func testCert(t testing.TB, certFile, keyFile string, serial int64) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: "groupsd test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Written to temporary names and renamed, as a certificate manager
	// would, so the server never reads half a file.
	write := func(path, typ string, b []byte) {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write(certFile, "CERTIFICATE", der)
	write(keyFile, "EC PRIVATE KEY", kder)
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tlsClient trusts the given certificates and speaks HTTP/2.
func tlsClient(certs ...*x509.Certificate) *http.Client {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2: true,
	}}
}

// tlsGet fetches url and returns the response's protocol, the serial number
// of the server's certificate and whether the connection was reused.
func tlsGet(t testing.TB, c *http.Client, url string) (proto int, serial int64, reused bool) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
	}))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	return resp.ProtoMajor, resp.TLS.PeerCertificates[0].SerialNumber.Int64(), reused
}

// TestTLSServesHTTP2AndReloadsOnSIGHUP runs the binary with a certificate
// the test made, checks HTTPS with HTTP/2, then replaces the certificate and
// sends SIGHUP: new connections get the new certificate, and a connection
// opened before the reload still serves requests.
func TestTLSServesHTTP2AndReloadsOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := testCert(t, certFile, keyFile, 1)

	addr := freeAddr(t)
	logs := &apitest.SyncBuffer{}
	cmd := exec.Command(groupsdBinary(t), "serve", "--addr", addr, "--database", "sqlite:"+filepath.Join(dir, "g.db"))
	cmd.Env = append(os.Environ(), "GROUPS_TLS_CERT_FILE="+certFile, "GROUPS_TLS_KEY_FILE="+keyFile, "GROUPS_LOG_LEVEL=debug")
	cmd.Stderr = logs
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })

	base := "https://" + addr
	old := tlsClient(first)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := old.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no HTTPS on %s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if proto, serial, _ := tlsGet(t, old, base+"/healthz"); proto != 2 || serial != 1 {
		t.Fatalf("HTTP/%d with certificate %d, want HTTP/2 with certificate 1", proto, serial)
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP answered 200 on the TLS port")
		}
	}

	second := testCert(t, certFile, keyFile, 2)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(logs.String(), "reloaded the TLS certificate") {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("no reload logged after SIGHUP:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if proto, serial, _ := tlsGet(t, tlsClient(second), base+"/healthz"); proto != 2 || serial != 2 {
		t.Errorf("after SIGHUP a new connection got HTTP/%d with certificate %d, want HTTP/2 with certificate 2", proto, serial)
	}
	if _, serial, reused := tlsGet(t, old, base+"/healthz"); !reused || serial != 1 {
		t.Errorf("the connection from before SIGHUP: reused %v, certificate %d; want it kept open with certificate 1", reused, serial)
	}

	// A reload that fails keeps serving the certificate it had.
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(logs.String(), "reload failed") {
		if time.Now().After(deadline.Add(20 * time.Second)) {
			t.Fatalf("no failed reload logged:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, serial, _ := tlsGet(t, tlsClient(second), base+"/healthz"); serial != 2 {
		t.Errorf("after a failed reload: certificate %d, want 2", serial)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
}

// TestTLSConfigErrors: half a TLS configuration or a bad proxy list is a
// usage error naming the flag and variable; an unreadable certificate
// stops the start with the file names.
func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "g.db")
	for _, c := range []struct {
		env  []string
		args []string
		code int
		want []string
	}{
		{nil, []string{"--tls-cert-file", "c.pem"}, 2, []string{"--tls-key-file", "GROUPS_TLS_KEY_FILE", "for example"}},
		{[]string{"GROUPS_TLS_KEY_FILE=k.pem"}, nil, 2, []string{"--tls-cert-file", "GROUPS_TLS_CERT_FILE"}},
		{nil, []string{"--trusted-proxies", "10.0.0.0/33"}, 2, []string{"--trusted-proxies", "GROUPS_TRUSTED_PROXIES", "10.0.0.0/8"}},
		{[]string{"GROUPS_TRUSTED_PROXIES=proxy"}, nil, 2, []string{"GROUPS_TRUSTED_PROXIES", "--trusted-proxies"}},
		{nil, []string{"--tls-cert-file", filepath.Join(dir, "none.pem"), "--tls-key-file", filepath.Join(dir, "none.key")}, 1, []string{"none.pem", "--tls-cert-file"}},
	} {
		args := append([]string{"serve", "--addr", "127.0.0.1:0", "--database", db}, c.args...)
		_, errOut, code := cli(t, c.env, args...)
		if code != c.code {
			t.Errorf("%v %v: exit %d, want %d\n%s", c.env, c.args, code, c.code, errOut)
		}
		last := strings.TrimSpace(errOut)
		if i := strings.LastIndex(last, "\n"); i >= 0 {
			last = last[i+1:]
		}
		for _, w := range c.want {
			if !strings.Contains(last, w) {
				t.Errorf("%v %v: last stderr line %q lacks %q", c.env, c.args, last, w)
			}
		}
	}
}

// TestAdminListener: --admin-addr serves metrics, probes and pprof, and
// /metrics leaves the public port; pprof is never on the public port.
func TestAdminListener(t *testing.T) {
	get := func(url string) int {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	t.Run("Off", func(t *testing.T) {
		p := startServer(t, testConfig(t))
		if p.AdminAddr() != "" {
			t.Errorf("admin listener on %s without --admin-addr", p.AdminAddr())
		}
		if got := get(p.URL + "/metrics"); got != 200 {
			t.Errorf("public /metrics without --admin-addr = %d, want 200", got)
		}
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap"} {
			if got := get(p.URL + path); got != 404 {
				t.Errorf("public %s = %d, want 404", path, got)
			}
		}
	})
	t.Run("On", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.AdminAddr = "127.0.0.1:0"
		p := startServer(t, cfg)
		admin := "http://" + p.AdminAddr()
		for _, path := range []string{"/metrics", "/healthz", "/readyz", "/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap", "/debug/pprof/goroutine?debug=1"} {
			if got := get(admin + path); got != 200 {
				t.Errorf("admin %s = %d, want 200", path, got)
			}
		}
		if got := get(admin + "/api/v2/groups"); got != 404 {
			t.Errorf("admin /api/v2/groups = %d, want 404 (the API is not on the admin port)", got)
		}
		for path, want := range map[string]int{"/metrics": 404, "/debug/pprof/": 404, "/debug/pprof/heap": 404, "/healthz": 200, "/readyz": 200} {
			if got := get(p.URL + path); got != want {
				t.Errorf("public %s = %d, want %d", path, got, want)
			}
		}
		resp, err := http.Get(admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), "groupsd_build_info") {
			t.Errorf("admin /metrics lacks groupsd_build_info:\n%s", tail(string(b), 2000))
		}
		p.Stop(t)
		if _, err := http.Get(admin + "/healthz"); err == nil {
			t.Errorf("admin listener still answers after Close")
		}
	})
}

// TestAccessLogClientAndProbes: access lines carry the client address (the
// X-Forwarded-For client only behind a trusted proxy) and the user agent;
// probes and scrapes are logged at DEBUG, so not at the default INFO.
func TestAccessLogClientAndProbes(t *testing.T) {
	lines := func(level string, trusted ...string) map[string]map[string]any {
		t.Helper()
		cfg := testConfig(t)
		cfg.LogLevel = level
		for _, p := range trusted {
			cfg.TrustedProxies = append(cfg.TrustedProxies, netip.MustParsePrefix(p))
		}
		p := startServer(t, cfg)
		for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json"} {
			opsDo(t, "GET", p.URL+path, "", "X-Request-Id", "id-"+strings.Trim(path, "/"),
				"User-Agent", "probe-test/1.0", "X-Forwarded-For", "198.51.100.7, 203.0.113.9")
		}
		p.Stop(t)
		return opsAccessLines(t, p.Logs)
	}

	info := lines("info")
	for _, id := range []string{"id-healthz", "id-readyz", "id-metrics"} {
		if info[id] != nil {
			t.Errorf("%s logged at the default level INFO: %v", id, info[id])
		}
	}
	m := info["id-openapi.json"]
	if m == nil {
		t.Fatalf("no access line for /openapi.json at INFO")
	}
	if m["client"] != "127.0.0.1" || m["user_agent"] != "probe-test/1.0" {
		t.Errorf("untrusted peer: client %v, user_agent %v; want 127.0.0.1 and probe-test/1.0", m["client"], m["user_agent"])
	}

	debug := lines("debug", "127.0.0.1/32")
	for _, id := range []string{"id-healthz", "id-readyz", "id-metrics"} {
		if m := debug[id]; m == nil || m["level"] != "DEBUG" {
			t.Errorf("%s at --log-level debug: %v, want a DEBUG access line", id, m)
		}
	}
	if m := debug["id-openapi.json"]; m == nil || m["client"] != "203.0.113.9" || m["level"] != "INFO" {
		t.Errorf("behind trusted 127.0.0.1: %v; want client 203.0.113.9 (the right-most untrusted hop) at INFO", m)
	}
}
