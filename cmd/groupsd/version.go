package main

import (
	"fmt"
	"runtime/debug"
)

// buildVersion returns the module version and VCS revision stamped by the
// Go toolchain.
func buildVersion() (version, revision string, modified bool) {
	version, revision = "(devel)", "unknown"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	if bi.Main.Version != "" {
		version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	return
}

func versionString() string {
	v, r, m := buildVersion()
	if m {
		r += "+dirty"
	}
	return fmt.Sprintf("groupsd %s (revision %s)", v, r)
}
