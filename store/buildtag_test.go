package store_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlainBuildFailsNamingTheTag proves that building groupsd without the
// sqlite_fts5 tag fails at compile time and says how to fix it, instead of
// producing a binary whose first migration fails. That a tagged build works
// is proven by this suite compiling at all.
func TestPlainBuildFailsNamingTheTag(t *testing.T) {
	if testing.Short() {
		t.Skip("builds groupsd without build tags (slow on a cold build cache)")
	}
	t.Parallel()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command on PATH: %v", err)
	}
	// GOFLAGS replaces the Makefile's -tags=sqlite_fts5 (and any go env -w
	// setting); -buildvcs=false keeps VCS stamping from failing the build for
	// a reason other than the one under test.
	cmd := exec.Command(goCmd, "build", "-o", filepath.Join(t.TempDir(), "groupsd"), "../cmd/groupsd")
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false", "CGO_ENABLED=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("go build without -tags sqlite_fts5 succeeded; want a compile error naming the tag")
	}
	if _, ok := err.(*exec.ExitError); !ok {
		t.Fatalf("go build: %v", err)
	}
	got := string(out)
	if want := "build_with_tags_sqlite_fts5"; !strings.Contains(got, want) {
		t.Fatalf("go build output does not name the fix %q:\n%s", want, got)
	}
}
