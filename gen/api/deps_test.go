package api_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestClientImportsNoServer guards the promise that client teams can depend
// on the generated client alone: a program importing only this package must
// not pull in the server's stack.
func TestClientImportsNoServer(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/groupsd/groupsd/gen/api").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/labstack/echo",
		"github.com/getkin/kin-openapi",
		"gorm.io/",
		"github.com/mattn/go-sqlite3",
		"github.com/jackc/pgx",
		"github.com/pressly/goose",
		"github.com/groupsd/groupsd/server",
		"github.com/groupsd/groupsd/store",
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps printed %d packages; expected the client's real dependency list", len(deps))
	}
	for _, dep := range deps {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("gen/api depends on %s", dep)
			}
		}
	}
}

// TestGeneratedCodeImportsNothingHandWrittenUnderServer keeps the generated
// packages below the server in the dependency graph.
func TestGeneratedCodeImportsNothingHandWrittenUnderServer(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/groupsd/groupsd/gen", "github.com/groupsd/groupsd/gen/api").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/groupsd/groupsd/server") || strings.HasPrefix(dep, "github.com/groupsd/groupsd/store") {
			t.Errorf("generated code depends on %s", dep)
		}
	}
}
