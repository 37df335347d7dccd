package client_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestSDKImportsNoServerSide guards the promise that a program importing
// only the SDK builds without the server's stack.
func TestSDKImportsNoServerSide(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/groupsd/groupsd/client").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/groupsd/groupsd/gen/api") {
		t.Fatalf("go list -deps does not name gen/api; got %v", deps)
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
	for _, dep := range deps {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("the SDK depends on %s", dep)
			}
		}
	}
}
