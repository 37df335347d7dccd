package main

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTrashFlags: --trash-retention and --purge-interval, and their
// GROUPS_* variables; a flag on the command line wins.
func TestTrashFlags(t *testing.T) {
	cfg := DefaultConfig()
	if cfg.TrashRetention != 720*time.Hour || cfg.PurgeInterval != time.Minute {
		t.Fatalf("defaults: %v, %v", cfg.TrashRetention, cfg.PurgeInterval)
	}
	env := map[string]string{"GROUPS_TRASH_RETENTION": "2h", "GROUPS_PURGE_INTERVAL": "10s"}
	cfg, err := ParseConfig([]string{"--purge-interval", "5s"}, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TrashRetention != 2*time.Hour || cfg.PurgeInterval != 5*time.Second {
		t.Fatalf("parsed: %v, %v", cfg.TrashRetention, cfg.PurgeInterval)
	}
}

// TestTrashRetentionZeroDeletesForGood: with --trash-retention=0 a delete is
// final (the trash stays empty); by default it goes to the trash.
func TestTrashRetentionZeroDeletesForGood(t *testing.T) {
	for _, tc := range []struct {
		retention string
		trashed   int
	}{{"0", 0}, {"720h", 1}} {
		p := startGroupsd(t, nil, "--database", "sqlite:"+filepath.Join(t.TempDir(), "groups.db"), "--auth", "none",
			"--trash-retention", tc.retention)
		resp, err := http.Post(p.URL+"/v2/groups", "application/json", strings.NewReader(`{"name":"Doomed"}`))
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("create: %v %v", err, resp)
		}
		var g struct{ UUID string }
		json.NewDecoder(resp.Body).Decode(&g)
		resp.Body.Close()
		req, _ := http.NewRequest("DELETE", p.URL+"/v2/groups/"+g.UUID, nil)
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 {
			t.Fatalf("delete: %v %v", err, resp)
		}
		resp, err = http.Get(p.URL + "/v2/deleted-groups")
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Page struct{ TotalElements int }
		}
		json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if page.Page.TotalElements != tc.trashed {
			t.Fatalf("--trash-retention=%s: %d groups in the trash, want %d", tc.retention, page.Page.TotalElements, tc.trashed)
		}
	}
}
