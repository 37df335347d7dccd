package groupsd

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The licence the spec declares (info.license) is the one in the repository.
func TestLicenseIsTheOneTheSpecNames(t *testing.T) {
	spec, err := Spec()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := spec.Info.License.Name, "Apache 2.0"; got != want {
		t.Fatalf("info.license.name = %q, want %q (LICENSE holds the Apache-2.0 text)", got, want)
	}
	b, err := os.ReadFile("LICENSE")
	if err != nil {
		t.Fatalf("no LICENSE file: %v", err)
	}
	for _, want := range []string{"Apache License", "Version 2.0, January 2004", "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION", "END OF TERMS AND CONDITIONS"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("LICENSE lacks %q: not the full Apache-2.0 text", want)
		}
	}
}

// What plain builds and the Makefile leave in the working tree is ignored,
// so a build never makes the tree (and the next version string) dirty.
func TestGitignoreCoversBuildOutput(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	if err := exec.Command("git", "rev-parse", "--git-dir").Run(); err != nil {
		t.Skip("not a git checkout")
	}
	paths := []string{
		"groupsd",                                // go build ./cmd/groupsd
		"groupsbench",                            // go build ./cmd/groupsbench
		"bin/groupsd",                            // make build
		"groups.db", "groups.db-wal", ".dev-key", // make run
		"server.test", "cpu.prof", "cover.out", // go test -c, -cpuprofile, -coverprofile
		"contract/node_modules/x", "contract/.sdk-build/x", "contract/sdk/schema.gen.ts",
	}
	out, _ := exec.Command("git", append([]string{"check-ignore", "--no-index"}, paths...)...).Output()
	ignored := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		ignored[p] = true
	}
	for _, p := range paths {
		if !ignored[p] {
			t.Errorf("%s is not ignored by .gitignore", p)
		}
	}
}
