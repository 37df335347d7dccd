package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestVersion: `groupsd version` and the groupsd_build_info metric report
// the module version and VCS revision the Go toolchain stamped into the
// binary (read back here with debug/buildinfo), and that revision is the
// checkout's HEAD.
func TestVersion(t *testing.T) {
	want := opsBuildStamp(t)
	if !strings.HasPrefix(want.Version, "v") {
		t.Errorf("module version %q: the toolchain did not derive one from VCS", want.Version)
	}
	if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
		if head := strings.TrimSpace(string(out)); head != want.Revision {
			t.Errorf("binary revision %s, checkout HEAD %s", want.Revision, head)
		}
	}

	t.Run("Command", func(t *testing.T) {
		out, stderr, err := groupsdCmd(t, "version")
		if err != nil {
			t.Fatalf("groupsd version: %v %s", err, stderr)
		}
		rev := want.Revision
		if want.Modified {
			rev += "+dirty"
		}
		if got, w := strings.TrimSpace(out), "groupsd "+want.Version+" (revision "+rev+")"; got != w {
			t.Errorf("groupsd version = %q, want %q", got, w)
		}
	})

	t.Run("BuildInfoMetric", func(t *testing.T) {
		p := startGroupsd(t, nil, "--database", "sqlite:"+filepath.Join(t.TempDir(), "groups.db"), "--auth", "none")
		fams := opsScrape(t, p.URL)
		f := fams["groupsd_build_info"]
		if f == nil || len(f.Metric) != 1 {
			t.Fatalf("groupsd_build_info: %v", f)
		}
		got := opsLabels(f.Metric[0])
		w := map[string]string{"version": want.Version, "revision": want.Revision, "goversion": want.GoVersion}
		for k, v := range w {
			if got[k] != v {
				t.Errorf("groupsd_build_info{%s=%q}, want %q", k, got[k], v)
			}
		}
		if v := f.Metric[0].GetGauge().GetValue(); v != 1 {
			t.Errorf("groupsd_build_info = %v, want 1", v)
		}
	})
}
